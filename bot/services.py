"""Everything a running desk holds, built once at start-up and kept on ``app.state.services``."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.calibration.auto import CalibrationSettings, Calibrator
from bot.calibration.crossfit import CALIBRATION_FILE
from bot.calibration.model import Calibration
from bot.flow.answering import Answerer
from bot.flow.chat import ChatService
from bot.runtime import KnowledgeRuntime
from bot.settings import Settings
from escalation.accounts import Accounts
from escalation.events import Event, EventKind
from escalation.queue import EscalationQueue
from escalation.storage import Storage, open_storage
from indexer.embedders import Embedder, load_embedders
from knowledge.tickets import read_ticket_file

log = logging.getLogger("helpdesk")


class CalibrationMismatch(RuntimeError):
    pass


def fixed_calibration(settings: Settings) -> Calibration | None:
    """The calibration file named in settings, when the desk should not calibrate itself."""
    if settings.calibration_file is None:
        return None
    cal = Calibration.load(settings.calibration_file)
    if cal.models != list(settings.models):
        raise CalibrationMismatch(
            f"{settings.calibration_file} was fitted for models {cal.models}, settings use "
            f"{list(settings.models)}; run `helpdesk calibrate --out {settings.calibration_file}` again"
        )
    return cal


def tuned_model(settings: Settings) -> Path | None:
    """The folder of the model ``helpdesk tune`` made current, if any and if wanted."""
    pointer = settings.models_dir / "current"
    if not settings.use_tuned_model or not pointer.exists():
        return None
    folder = pointer.resolve()
    return folder if (folder / "modules.json").exists() and (folder / CALIBRATION_FILE).exists() else None


def calibrator(settings: Settings, storage: Storage | None) -> Calibrator:
    return Calibrator(
        settings.calibration_dir,
        CalibrationSettings(
            target_precision=settings.target_precision,
            confidence=settings.guarantee_confidence,
            assumed_oos_share=settings.assumed_oos_share,
            labelled=settings.calibration_questions,
        ),
        outcomes=storage.handoffs.outcomes if storage is not None else (lambda: ()),
        embedding_cache=settings.index_dir / "cache",
    )


def _private_file(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def first_token(settings: Settings, accounts: Accounts) -> str | None:
    """On a desk with no API token at all, one for the first account, shown once and kept (readable
    only by the operator) in <data-dir>/agent_token. None when tokens exist or one is configured."""
    if settings.agent_token or accounts.repo.tokens():
        return None
    owner = accounts.repo.names()[0]
    _, token = accounts.create_token(owner, "created at first start")
    _private_file(settings.data_dir / "agent_token", token + "\n")
    return token


def import_legacy_tickets(settings: Settings, storage: Storage) -> int:
    """Tickets an earlier version wrote to <data-dir>/tickets/*.jsonl move into the database."""
    added = 0
    for path in sorted(settings.resolved_tickets_dir.glob("*.jsonl")):
        tickets, problems = read_ticket_file(path)
        for p in problems:
            log.warning("not imported: %s", p)
        added += storage.tickets.add_many(tickets)
        path.rename(path.with_suffix(".jsonl.imported"))
    return added


def bootstrap_accounts(settings: Settings, accounts: Accounts) -> str | None:
    """Create configured console accounts; with none at all, a first `agent` account.

    Returns the generated password of that first account (also kept, readable only by the
    operator, in <data-dir>/console_password), or None when nothing was generated.
    """
    for user, password in settings.console_accounts.items():
        accounts.add(user, password)
    if accounts.repo.names():
        return None
    password = secrets.token_urlsafe(12)
    accounts.add("agent", password, "Support agent")
    _private_file(settings.data_dir / "console_password", f"agent:{password}\n")
    return password


@dataclass
class Services:
    settings: Settings
    storage: Storage
    queue: EscalationQueue
    runtime: KnowledgeRuntime
    answerer: Answerer
    chat: ChatService
    accounts: Accounts
    first_password: str | None = None
    first_token: str | None = None

    def close(self) -> None:
        self.runtime.stop()
        self.storage.close()


def build_services(
    settings: Settings,
    embedders: list[Embedder] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Services:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    fixed = fixed_calibration(settings)
    tuned = tuned_model(settings) if embedders is None else None
    if tuned is not None and fixed is None:  # the tuned model comes with its cross-fitted calibration
        fixed = Calibration.load(tuned / CALIBRATION_FILE)
    if embedders is None:
        embedders = load_embedders(settings.models, settings.model_cache_dir, tuned)
    storage = open_storage(settings.database_url, settings.data_dir)
    try:
        import_legacy_tickets(settings, storage)
        runtime = KnowledgeRuntime(
            settings.faq_dir,
            [settings.tickets_dir],
            settings.index_dir,
            embedders,
            calibrator(settings, storage),
            fixed,
            progress,
            settings.max_batch,
            settings.batch_wait_ms / 1000,
            db_tickets=storage.tickets,
        )
    except BaseException:
        storage.close()
        raise

    def on_event(event: Event) -> None:
        if event.kind == EventKind.KNOWLEDGE_CHANGED:
            runtime.knowledge_changed()

    storage.bus.subscribe(on_event)
    if tuned is not None:
        runtime.fixed_is_for_content = True
        if not runtime.calibration_current:
            log.warning(
                "the tuned model %s was tuned on another version of the knowledge; its calibration no longer "
                "holds: run `helpdesk tune` again, or set HELPDESK_USE_TUNED_MODEL=false",
                tuned,
            )
    queue = EscalationQueue(storage)
    answerer = Answerer(runtime, settings.expected_response_minutes)
    accounts = Accounts(storage.accounts)
    first_password = bootstrap_accounts(settings, accounts)
    return Services(
        settings,
        storage,
        queue,
        runtime,
        answerer,
        ChatService(storage, queue, answerer),
        accounts,
        first_password,
        first_token(settings, accounts),
    )
