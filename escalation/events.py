"""Domain events, published when the transaction that caused them commits.

One small bus interface, two implementations: :class:`LocalBus` delivers in this process (one
node, SQLite); the PostgreSQL backend sends each event with ``NOTIFY`` inside the writing
transaction and a listener thread hands what arrives (from every replica, this one included) to
its own :class:`LocalBus`. Subscribers are wake-ups, not the source of truth: an SSE stream that
hears ``message.added`` reads the messages it has not sent from the database, so a missed or
repeated event never loses or duplicates anything.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Protocol

log = logging.getLogger("helpdesk.events")


class EventKind(StrEnum):
    MESSAGE_ADDED = "message.added"
    HANDOFF_OPENED = "handoff.opened"
    HANDOFF_CLAIMED = "handoff.claimed"
    HANDOFF_REPLIED = "handoff.replied"
    HANDOFF_RESOLVED = "handoff.resolved"
    KNOWLEDGE_CHANGED = "knowledge.changed"
    SLA_BREACHED = "sla.breached"
    HANDOFF_NOTED = "handoff.noted"  # an internal note (never carries the conversation: no customer stream wakes)
    HANDOFF_RELEASED = "handoff.released"  # unclaimed: back in the queue
    INCIDENT_SUSPECTED = "incident.suspected"  # the spike detector opened an incident
    INCIDENT_CHANGED = "incident.changed"  # confirmed, dismissed, resolved, a conversation linked


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    conversation_id: str | None = None
    handoff_id: int | None = None
    message_id: int | None = None
    ticket_id: str | None = None
    incident_id: int | None = None

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None})

    @classmethod
    def from_json(cls, payload: str) -> Event:
        data = json.loads(payload)
        return cls(
            EventKind(data["kind"]),
            data.get("conversation_id"),
            data.get("handoff_id"),
            data.get("message_id"),
            data.get("ticket_id"),
            data.get("incident_id"),
        )


Subscriber = Callable[[Event], None]


class Bus(Protocol):
    def publish(self, event: Event) -> None: ...
    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]: ...


class LocalBus:
    """Delivers each event to every subscriber of this process, in the publishing thread.

    Subscribers must return quickly (set a flag, wake a loop); one that raises is logged and
    never stops delivery to the others.
    """

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()
        self.published = 0

    def publish(self, event: Event) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
            self.published += 1
        for subscriber in subscribers:
            try:
                subscriber(event)
            except Exception:
                log.exception("event subscriber failed on %s", event.kind)

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Add ``subscriber``; returns the function that removes it."""
        with self._lock:
            self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with self._lock:
                if subscriber in self._subscribers:
                    self._subscribers.remove(subscriber)

        return unsubscribe

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)
