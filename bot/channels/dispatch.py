"""One background thread for everything that leaves the desk later or runs on a clock.

Every second (at once when an event says there is something to do): due mail is sent, due
webhooks delivered; every few seconds agent replies a widget customer has not seen are queued as
mail; every ``sla_check_seconds`` SLA clocks are checked. Each step reads the database (the source of
truth), so several replicas can run it together: leases and unique keys make each mail, delivery and
breach happen once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.channels.email import EmailChannel, ImapPoller
from escalation.events import Event, EventKind
from escalation.sla import SlaMonitor
from escalation.storage import Storage
from escalation.webhooks import WebhookSender

log = logging.getLogger("helpdesk.dispatch")
MISSED_WINDOW = timedelta(days=1)  # older unseen replies are not mailed any more


@dataclass
class Dispatcher:
    storage: Storage
    email: EmailChannel
    webhooks: WebhookSender
    sla: SlaMonitor
    missed_after: timedelta = timedelta(minutes=5)
    sla_every: float = 15.0
    imap: ImapPoller | None = None
    imap_every: float = 30.0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _wake: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _unsubscribe: Callable[[], None] | None = None
    breaches: int = 0

    def _on_event(self, event: Event) -> None:
        if event.kind in (EventKind.MESSAGE_ADDED, EventKind.HANDOFF_OPENED, EventKind.HANDOFF_RESOLVED,
                          EventKind.SLA_BREACHED, EventKind.HANDOFF_REPLIED):
            self._wake.set()

    def tick(self, now: datetime | None = None, sla: bool = True, missed: bool = True) -> None:
        """One pass of every step (what the thread runs; tests call it with a chosen ``now``)."""
        now = now or self.clock()
        steps: list[tuple[str, Callable[[], object]]] = []
        if missed:
            steps.append(("missed replies", lambda: self.storage.mail.queue_missed(now - self.missed_after, now - MISSED_WINDOW)))
        if sla:
            steps.append(("SLA", lambda: self._sla(now)))
        steps += [("mail", lambda: self.email.send_due(now)), ("webhooks", lambda: self.webhooks.send_due(now))]
        for name, step in steps:
            try:
                step()
            except Exception:  # one failing step never stops the others, nor the next pass
                log.exception("%s step failed; next pass in a second", name)

    def _sla(self, now: datetime) -> None:
        for handoff, clock in self.sla.check(now):
            self.breaches += 1
            log.warning("SLA %s breached: handoff %d (%s, due %s)", clock.metric, handoff.id, clock.policy, clock.due_at)

    def _poll_imap(self) -> None:
        if self.imap is None:
            return
        try:
            self.imap.poll()
        except Exception as exc:
            log.warning("IMAP poll failed (%s: %s); next try in %.0f s", type(exc).__name__, exc, self.imap_every)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._unsubscribe = self.storage.bus.subscribe(self._on_event)

        def loop() -> None:
            last_sla = last_missed = last_imap = 0.0
            while not self._stop.is_set():
                t = time.monotonic()
                sla, missed = t - last_sla >= self.sla_every, t - last_missed >= 5.0
                self.tick(sla=sla, missed=missed)
                if sla:
                    last_sla = t
                if missed:
                    last_missed = t
                if self.imap is not None and t - last_imap >= self.imap_every:
                    self._poll_imap()
                    last_imap = t
                self._wake.wait(1.0)
                self._wake.clear()
                self._stop.wait(0.2)  # a burst of events makes one pass, not one per event

        self._thread = threading.Thread(target=loop, name="dispatch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
