"""Everything a running desk holds, built once at start-up and kept on ``app.state.services``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from bot.calibration.auto import CalibrationSettings, Calibrator
from bot.calibration.crossfit import CALIBRATION_FILE
from bot.calibration.model import Calibration
from bot.channels.dispatch import Dispatcher
from bot.channels.email import EmailChannel, ImapPoller, MailConfig, SmtpListener
from bot.content.editorial import Editorial
from bot.content.gaps import ContentGaps
from bot.flow.answering import Answerer
from bot.flow.chat import ChatService
from bot.runtime import KnowledgeRuntime
from bot.settings import DEFAULT_RATE_LIMITS, Settings
from escalation.accounts import Accounts, Role
from escalation.calendar import Calendars
from escalation.events import Event, EventKind
from escalation.identity import ConversationKeys, IdentityVerifier
from escalation.incidents import IncidentWatch, SpikeDetector, regime_of_calendar
from escalation.models import iso
from escalation.queue import EscalationQueue
from escalation.ratelimit import Limit, RateLimited, RateLimiter
from escalation.retention import RetentionAction, apply_retention
from escalation.sla import SlaMonitor, parse_policies
from escalation.storage import Storage, open_storage
from escalation.waits import Waits
from escalation.webhooks import WebhookSender
from indexer.embedders import Embedder, load_embedders
from knowledge.tickets import read_ticket_file

T = TypeVar("T")
log = logging.getLogger("helpdesk")
HOUSEKEEPING_SECONDS = 3600.0



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


def first_token(settings: Settings, storage: Storage, accounts: Accounts) -> str | None:
    """On a desk with no API token at all, one for the first account, shown once and kept (readable
    only by the operator) in <data-dir>/agent_token. None when tokens exist or one is configured.
    Of several replicas starting together, exactly one issues it."""
    if settings.agent_token or accounts.repo.tokens() or not storage.secrets.claim_once("first_token"):
        return None
    owner = accounts.repo.names()[0]
    _, token = accounts.create_token(owner, "created at first start")
    _private_file(settings.data_dir / "agent_token", token + "\n")
    return token


def configured_token(settings: Settings, accounts: Accounts) -> None:
    """``HELPDESK_AGENT_TOKEN`` becomes a (hashed) token of its account, which acts as that account only."""
    token = settings.agent_token
    if not token:
        return
    user = settings.agent_token_user
    if accounts.person(user) is None:
        accounts.add(user, secrets.token_urlsafe(24), "API integration", Role.AGENT)
    if accounts.token_user(token) is None:
        accounts.register_token(token, user, "HELPDESK_AGENT_TOKEN")


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
        accounts.add(user, password, role=Role(settings.console_roles.get(user, Role.AGENT)))
    if accounts.repo.names():
        return None
    password = secrets.token_urlsafe(12)
    if not accounts.add_first("agent", password, "Support agent", Role.ADMIN):
        return None  # another replica created the first account at the same moment
    _private_file(settings.data_dir / "console_password", f"agent:{password}\n")
    return password


def incident_watch(settings: Settings, storage: Storage, calendars: Calendars) -> IncidentWatch:
    """The spike detector (base rates per business and off hours of the team's calendar) and its incidents,
    paged with a link to the console when the desk knows its public address."""
    detector = SpikeDetector(alpha=settings.incident_alpha, regime=regime_of_calendar(calendars.for_lang(None).is_open))
    base = settings.public_url.rstrip("/") if settings.public_url else None

    def console_url(incident_id: int) -> str | None:
        return f"{base}/console?incident={incident_id}" if base else None

    return IncidentWatch(storage.incidents, detector, console_url)


class HashingBusy(Exception):
    """More sign-ins are waiting for the password hash than it is sensible to queue."""


class Hashing:
    """One thread for password hashing (argon2 is CPU-bound by design), with a bounded queue."""

    def __init__(self, max_waiting: int = 16) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="password-hash")
        self._slots = threading.BoundedSemaphore(max_waiting)

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        if not self._slots.acquire(blocking=False):
            raise HashingBusy()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, lambda: fn(*args))
        finally:
            self._slots.release()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


@dataclass
class Services:
    settings: Settings
    storage: Storage
    queue: EscalationQueue
    runtime: KnowledgeRuntime
    answerer: Answerer
    chat: ChatService
    accounts: Accounts
    limiter: RateLimiter
    limits: dict[str, Limit]
    conversation_keys: ConversationKeys
    calendars: Calendars
    waits: Waits
    sla: SlaMonitor
    email: EmailChannel
    dispatcher: Dispatcher
    identity: IdentityVerifier | None = None
    first_password: str | None = None
    first_token: str | None = None

    hashing: Hashing = field(default_factory=Hashing)
    _housekeeping: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    smtp: SmtpListener | None = None
    incidents: IncidentWatch | None = None  # the spike detector and the incidents it opens (None: off)
    gaps: ContentGaps = field(init=False)  # the content-gap loop: clusters of questions the desk missed
    editorial: Editorial = field(init=False)  # preview and publish of FAQ entries

    def __post_init__(self) -> None:
        self.gaps = ContentGaps(self.runtime, self.storage)
        self.editorial = Editorial(self.runtime, self.storage, self.gaps)

    def start_channels(self) -> None:
        """The deliveries and clocks thread, and the SMTP listener when one is configured."""
        self.dispatcher.start()
        if self.settings.smtp_listen and self.smtp is None:
            self.smtp = SmtpListener(self.email, self.settings.smtp_listen, self.settings.max_mail_bytes)
            self.smtp.start()

    def start_housekeeping(self, every_seconds: float = HOUSEKEEPING_SECONDS) -> None:
        """Hourly: expired sessions and rate-limit counters deleted, retention applied (if set)."""
        if self._housekeeping is not None:
            return

        def loop() -> None:
            while not self._stop.wait(every_seconds):
                self.housekeeping()

        self._housekeeping = threading.Thread(target=loop, name="housekeeping", daemon=True)
        self._housekeeping.start()

    def housekeeping(self) -> None:
        try:
            self.accounts.purge_sessions()
            self.storage.rate_limits.purge(int(time.time()))
            month_ago = iso(datetime.now(UTC) - timedelta(days=30))
            self.storage.mail.purge_done(month_ago)  # sent mail and delivered webhooks: the log keeps a month
            self.storage.webhooks.purge_done(month_ago)
            if self.settings.retention_days > 0:
                done = apply_retention(
                    self.storage, self.settings.retention_days, RetentionAction(self.settings.retention_action)
                )
                if done.conversations:
                    log.info("retention: %s %d conversations", done.action, done.conversations)
        except Exception:  # never take the desk down for housekeeping
            log.exception("housekeeping failed; next try in an hour")

    def limit(self, name: str, key: str, cost: int = 1) -> None:
        """Count one request against limit ``name`` for ``key``; :class:`RateLimited` when over it
        (``cost`` 0: only check)."""
        self.limiter.hit(self.limits[name], key, cost)

    def record_failure(self, *limits: tuple[str, str]) -> None:
        """Count a failure against each (limit, key); the refusal comes with the next attempt."""
        for name, key in limits:
            with contextlib.suppress(RateLimited):
                self.limiter.hit(self.limits[name], key, 1)

    def stop_background(self) -> None:
        """Stop the watcher, the calibration and the housekeeping threads (the storage stays open)."""
        self._stop.set()
        if self.smtp is not None:
            self.smtp.stop()
            self.smtp = None
        self.dispatcher.stop()
        if self._housekeeping is not None:
            self._housekeeping.join(timeout=5)
            self._housekeeping = None
        self.runtime.stop()

    def close(self) -> None:
        self.stop_background()
        self.hashing.close()
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
        embedders = load_embedders(settings.models, settings.model_cache_dir, tuned, settings.e5_backend)
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
            # SQLite has no NOTIFY: tickets another process writes (helpdesk import-tickets) are
            # noticed by watching the database file
            db_files=[settings.db_path] if storage.backend == "sqlite" else [],
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
    answerer = Answerer(runtime)
    calendars = Calendars.parse(settings.calendar, settings.calendars)
    waits = Waits(storage, calendars)
    incidents = incident_watch(settings, storage, calendars) if settings.incident_detection else None
    chat = ChatService(storage, queue, answerer, waits, incidents)
    accounts = Accounts(storage.accounts)
    first_password = bootstrap_accounts(settings, accounts)
    configured_token(settings, accounts)
    limits = {name: Limit.parse(name, spec) for name, spec in {**DEFAULT_RATE_LIMITS, **settings.rate_limits}.items()}
    secret = storage.secrets.get_or_create("conversation_key", lambda: secrets.token_urlsafe(32))
    identity = (
        IdentityVerifier(settings.identity_secret, settings.identity_max_age_seconds)
        if settings.identity_secret
        else None
    )
    limiter = RateLimiter(storage.rate_limits)
    keys = ConversationKeys(secret)
    email = EmailChannel(
        storage,
        chat,
        keys,
        MailConfig(
            settings.mail_from, settings.mail_from_name, settings.smtp_relay, settings.public_url,
            settings.max_attachment_bytes,
        ),
        limit_sender=lambda address: limiter.hit(limits["mail_sender"], address.lower(), 1),
    )
    sla = SlaMonitor(storage, parse_policies(settings.sla_policies), calendars)
    dispatcher = Dispatcher(
        storage,
        email,
        WebhookSender(storage, settings.webhook_url, settings.webhook_secret),
        sla,
        missed_after=timedelta(minutes=settings.missed_reply_minutes),
        sla_every=settings.sla_check_seconds,
        imap=ImapPoller(email, settings.imap_url) if settings.imap_url else None,
        imap_every=settings.imap_poll_seconds,
    )
    return Services(
        settings,
        storage,
        queue,
        runtime,
        answerer,
        chat,
        accounts,
        limiter,
        limits,
        keys,
        calendars,
        waits,
        sla,
        email,
        dispatcher,
        identity,
        first_password,
        first_token(settings, storage, accounts),
        incidents=incidents,
    )
