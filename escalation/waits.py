"""The wait a customer is told, from the queue and the calendar, never a fixed promise.

While the team works: the customer's place in the queue and the recent median time to a first human
reply, counted in business hours (none is claimed before enough replies exist). After hours: when the
team is back, in the team's time zone.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from escalation.calendar import Calendars
from escalation.models import iso, parse_iso
from escalation.storage import Storage

MIN_SAMPLES = 5  # fewer first replies than this: no typical wait is claimed
WINDOW_DAYS = 14


@dataclass(frozen=True)
class Wait:
    open_now: bool
    position: int  # 1 = next in line
    typical_minutes: int | None  # median business minutes to a first human reply, recently
    back_at: datetime | None  # when the team is back (after hours); None when open or never
    timezone: str

    def public(self) -> dict[str, Any]:
        return {
            "open": self.open_now,
            "position": self.position,
            "typical_minutes": self.typical_minutes,
            "back_at": self.back_at.isoformat(timespec="minutes") if self.back_at else None,
            "timezone": self.timezone,
        }



class Waits:
    def __init__(
        self,
        storage: Storage,
        calendars: Calendars,
        cache_seconds: float = 60.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.storage = storage
        self.clock = clock
        self.calendars = calendars
        self.cache_seconds = cache_seconds
        self._median: dict[str, tuple[float, int | None]] = {}
        self._lock = threading.Lock()

    def typical_minutes(self, lang: str) -> int | None:
        """Median business minutes from handoff to first human reply over the last two weeks."""
        with self._lock:
            cached = self._median.get(lang)
            if cached and time.monotonic() - cached[0] < self.cache_seconds:
                return cached[1]
        calendar = self.calendars.for_lang(lang)
        since = iso(self.clock() - timedelta(days=WINDOW_DAYS))
        samples = [
            calendar.business_seconds(parse_iso(created), parse_iso(replied)) / 60
            for h_lang, created, replied in self.storage.handoffs.first_reply_times(since)
            if self.calendars.for_lang(h_lang) is calendar
        ]
        value = max(1, round(statistics.median(samples))) if len(samples) >= MIN_SAMPLES else None
        with self._lock:
            self._median[lang] = (time.monotonic(), value)
        return value

    def for_conversation(self, lang: str, conversation_id: str | None = None, now: datetime | None = None) -> Wait:
        """The wait of a conversation's handoff (or of a new one, without ``conversation_id``)."""
        now = now or self.clock()
        calendar = self.calendars.for_lang(lang)
        open_now = calendar.is_open(now)
        position = self.storage.handoffs.waiting_before(conversation_id) + 1
        return Wait(
            open_now,
            position,
            self.typical_minutes(lang) if open_now else None,
            None if open_now else calendar.next_open(now),
            calendar.timezone,
        )
