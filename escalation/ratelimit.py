"""Abuse limits that hold across replicas: sliding-window counters kept in the database.

Each limit is ``count`` hits per ``seconds``, counted per key (an IP, a conversation, an account).
The counter of the current and the previous window live in the database (one upsert per hit), so
every replica sees the same counts; the estimate weights the previous window by how much of it
still lies inside the sliding window, as Cloudflare and the ``limits`` library do.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(s|sec|second|m|min|minute|h|hour|d|day)s?\s*$")
_UNIT = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


@dataclass(frozen=True)
class Limit:
    name: str
    count: int
    seconds: int

    @classmethod
    def parse(cls, name: str, spec: str) -> Limit:
        """``"30/minute"``, ``"5/15min"``, ``"1000/day"``; ``count`` 0 switches the limit off."""
        m = _SPEC.match(spec)
        if not m:
            raise ValueError(f"rate limit {name}: {spec!r} is not like '30/minute' or '5/15min'")
        count, n, unit = int(m.group(1)), int(m.group(2) or 1), m.group(3)
        return cls(name, count, n * _UNIT[unit])

    def __str__(self) -> str:
        return f"{self.count} per {self.seconds} s"


class RateLimited(Exception):
    code = "rate_limited"

    def __init__(self, limit: Limit, retry_after: int) -> None:
        super().__init__(f"too many requests ({limit.name}: {limit}); try again in {retry_after} s")
        self.limit = limit
        self.retry_after = retry_after
        self.stored_message_id: int | None = None  # set when the request's message was stored before the refusal


class CounterStore(Protocol):
    def hit(self, bucket: str, window: int, cost: int, expires: int) -> tuple[int, int]:
        """Add ``cost`` to (bucket, window); return (this window's count, the previous window's).
        ``expires``: when the counter may be deleted (epoch seconds)."""
        ...

    def purge(self, now: int) -> int: ...


class RateLimiter:
    def __init__(self, store: CounterStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def hit(self, limit: Limit, key: str, cost: int = 1) -> None:
        """Count one request; :class:`RateLimited` (with the seconds to wait) when over the limit."""
        if limit.count <= 0:
            return
        now = self.clock()
        window = int(now // limit.seconds)
        expires = (window + 2) * limit.seconds
        current, previous = self.store.hit(f"{limit.name}:{key}", window, cost, expires)
        elapsed = now - window * limit.seconds
        weight = 1.0 - elapsed / limit.seconds
        estimate = previous * weight + current
        # a hit is refused once it takes the count past the limit; a check (cost 0), once it is full
        if estimate > limit.count or (cost == 0 and estimate >= limit.count):
            # when enough of the previous window has slid out (or this window ends), it fits again
            if current > limit.count or previous == 0:
                wait = limit.seconds - elapsed
            else:
                needed = (estimate - limit.count) / previous  # share of a window to slide further
                wait = min(limit.seconds - elapsed, needed * limit.seconds)
            raise RateLimited(limit, max(1, math.ceil(wait)))
