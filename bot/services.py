"""Everything a running desk holds, built once at start-up and kept on ``app.state.services``."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.answering import Answerer
from bot.calibration import Calibration, Logistic, default_weights, feature_names
from bot.chat import ChatService
from bot.decision import Thresholds
from bot.runtime import KnowledgeRuntime
from bot.settings import Settings
from escalation.accounts import Accounts
from escalation.queue import EscalationQueue
from escalation.store import HelpdeskStore, SqliteStore
from indexer.embedders import Embedder, load_embedders
from indexer.search import signal_names

log = logging.getLogger("helpdesk")


class CalibrationMismatch(RuntimeError):
    pass


def load_calibration(settings: Settings) -> Calibration:
    path = settings.calibration_path()
    if path is None:
        log.warning("no calibration found; using conservative defaults. Run `helpdesk calibrate`.")
        names = feature_names(signal_names(settings.models))
        zero = Logistic(names, [0.0] * len(names), -5.0)
        return Calibration(
            list(settings.models),
            default_weights(settings.models),
            zero,
            zero,
            Thresholds(answer=1.01, clarify=1.01, clarify_margin=0.0),
            {"source": "none"},
        )
    cal = Calibration.load(path)
    if cal.models != list(settings.models):
        raise CalibrationMismatch(
            f"{path} was fitted for models {cal.models}, settings use {list(settings.models)}; "
            "run `helpdesk calibrate` to fit it again"
        )
    return cal


def agent_token(settings: Settings) -> tuple[str, bool]:
    """The agent API token: from settings, else stored in the data directory, else generated now."""
    if settings.agent_token:
        return settings.agent_token, False
    path = settings.data_dir / "agent_token"
    if path.exists():
        return path.read_text().strip(), False
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token, True


def bootstrap_accounts(settings: Settings, accounts: Accounts) -> str | None:
    """Create configured console accounts; with none at all, a first `agent` account.

    Returns the generated password of that first account (also kept, readable only by the
    operator, in <data-dir>/console_password), or None when nothing was generated.
    """
    for user, password in settings.console_accounts.items():
        accounts.add(user, password)
    if accounts.store.agent_names():
        return None
    password = secrets.token_urlsafe(12)
    accounts.add("agent", password, "Support agent")
    path = settings.data_dir / "console_password"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"agent:{password}\n")
    return password


@dataclass
class Services:
    settings: Settings
    store: HelpdeskStore
    queue: EscalationQueue
    runtime: KnowledgeRuntime
    answerer: Answerer
    chat: ChatService
    calibration: Calibration
    calibration_path: Path | None
    agent_token: str
    accounts: Accounts
    first_password: str | None = None

    def close(self) -> None:
        self.runtime.stop()
        self.store.close()


def build_services(
    settings: Settings,
    embedders: list[Embedder] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Services:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    calibration = load_calibration(settings)
    embedders = embedders if embedders is not None else load_embedders(settings.models)
    runtime = KnowledgeRuntime(
        settings.faq_dir,
        settings.ticket_dirs,
        settings.index_dir,
        embedders,
        calibration.ranking,
        progress,
        settings.max_batch,
        settings.batch_wait_ms / 1000,
    )
    store = SqliteStore(settings.db_path)
    queue = EscalationQueue(store, settings.resolved_tickets_file)
    answerer = Answerer(runtime, calibration, settings.expected_response_minutes)
    token, _ = agent_token(settings)
    accounts = Accounts(store)
    first_password = bootstrap_accounts(settings, accounts)
    return Services(
        settings,
        store,
        queue,
        runtime,
        answerer,
        ChatService(store, queue, answerer),
        calibration,
        settings.calibration_path(),
        token,
        accounts,
        first_password,
    )
