"""When the team works: a time zone, weekly hours and holidays, and business time counted on them.

A :class:`TeamCalendar` answers three questions the desk asks: is anybody there now, when is the
team back, and how much business time lies between two instants (SLA clocks stop outside hours).
Holidays come from the ``holidays`` package for most countries; for China (``CN``) from
``chinese-calendar``, which also knows the make-up working days (调休) on weekends, for the years it
covers, and from ``holidays`` after that (without make-up days: a warning says so once).
All arithmetic is on aware datetimes converted to UTC, so a DST change shortens or lengthens the day
it happens on instead of shifting the hours.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger("helpdesk.calendar")

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_SEARCH_DAYS = 400  # how far ahead "when are you back" looks before it gives up


class CalendarError(ValueError):
    """A team calendar in settings that cannot be used; the message says which part."""


def _parse_ranges(spec: str) -> list[tuple[time, time | None]]:
    """``"09:00-12:00, 13:00-18:00"`` -> ranges; an end of ``24:00`` is midnight after (None)."""
    out: list[tuple[time, time | None]] = []
    for part in spec.split(","):
        if not part.strip():
            continue
        m = _RANGE.match(part)
        if m is None:
            raise CalendarError(f"hours {part.strip()!r} are not HH:MM-HH:MM")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if not (0 <= h1 < 24 and 0 <= m1 < 60 and 0 <= m2 < 60 and (h2 < 24 or (h2 == 24 and m2 == 0))):
            raise CalendarError(f"hours {part.strip()!r} are not valid times")
        start, end = time(h1, m1), None if h2 == 24 else time(h2, m2)
        if end is not None and end <= start:
            raise CalendarError(f"hours {part.strip()!r} end before they start")
        out.append((start, end))
    return sorted(out, key=lambda r: r[0])


def _parse_days(spec: str) -> list[int]:
    """``"mon-fri"``, ``"sat"``, ``"mon,wed"`` -> weekday numbers."""
    days: list[int] = []
    for part in spec.lower().replace(" ", "").split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            if a not in DAYS or b not in DAYS:
                raise CalendarError(f"days {part!r}: use mon..sun")
            i, j = DAYS.index(a), DAYS.index(b)
            days.extend(range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)])
        elif part in DAYS:
            days.append(DAYS.index(part))
        else:
            raise CalendarError(f"day {part!r}: use mon..sun")
    return days


@lru_cache(maxsize=64)
def _country_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    import holidays

    try:
        return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year).keys())
    except NotImplementedError as exc:
        raise CalendarError(f"the holidays package does not know country {country!r}") from exc


_warned_years: set[int] = set()


def _china_workday(day: date) -> bool | None:
    """China's official answer (with 调休 make-up days), or None for a year chinese-calendar lacks."""
    import chinese_calendar

    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        if day.year not in _warned_years:
            _warned_years.add(day.year)
            log.warning(
                "chinese-calendar has no data for %d yet: using the holidays package, without make-up "
                "working days (upgrade chinese-calendar when the State Council publishes the year)",
                day.year,
            )
        return None


@dataclass(frozen=True)
class TeamCalendar:
    """Weekly hours in a time zone, less holidays; ``always_open`` when no hours are configured."""

    timezone: str = "UTC"
    weekly: dict[int, list[tuple[time, time | None]]] = field(default_factory=dict)
    country: str | None = None
    subdivision: str | None = None
    closed: frozenset[date] = frozenset()  # extra days off (company holidays)
    opened: frozenset[date] = frozenset()  # extra working days
    always_open: bool = False

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def parse(cls, spec: dict[str, Any] | None) -> TeamCalendar:
        """From settings: ``{"timezone": "Europe/Berlin", "hours": {"mon-fri": "09:00-18:00"},
        "holidays": "DE", "subdivision": "BE", "closed": ["2026-12-24"], "open": ["2026-12-27"]}``.
        None or ``{}``: the team is always there (24/7)."""
        if not spec:
            return cls(always_open=True)
        unknown = set(spec) - {"timezone", "hours", "holidays", "subdivision", "closed", "open"}
        if unknown:
            raise CalendarError(f"unknown calendar keys: {', '.join(sorted(unknown))}")
        tzname = str(spec.get("timezone", "UTC"))
        try:
            ZoneInfo(tzname)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise CalendarError(f"unknown time zone {tzname!r}") from exc
        hours = spec.get("hours")
        if not isinstance(hours, dict) or not hours:
            raise CalendarError('"hours" must map days to hours, e.g. {"mon-fri": "09:00-18:00"}')
        weekly: dict[int, list[tuple[time, time | None]]] = {}
        for days, ranges in hours.items():
            for d in _parse_days(str(days)):
                weekly[d] = _parse_ranges(str(ranges))
        country = spec.get("holidays")
        try:
            closed = frozenset(date.fromisoformat(str(d)) for d in spec.get("closed", []))
            opened = frozenset(date.fromisoformat(str(d)) for d in spec.get("open", []))
        except ValueError as exc:
            raise CalendarError(f"closed/open days must be YYYY-MM-DD: {exc}") from exc
        cal = cls(tzname, weekly, str(country).upper() if country else None, spec.get("subdivision"), closed, opened)
        if cal.country and cal.country != "CN":
            _country_holidays(cal.country, cal.subdivision, date.today().year)  # fails now, not at a handoff
        return cal

    # -- days -----------------------------------------------------------------------------------

    def is_workday(self, day: date) -> bool:
        if day in self.closed:
            return False
        if day in self.opened:
            return True
        if self.country == "CN":
            official = _china_workday(day)
            if official is not None:
                if day.weekday() >= 5:  # a weekend: open when the team works it, or a make-up day (调休)
                    return official or day.weekday() in self.weekly
                if not official:  # a statutory holiday on a weekday
                    return False
                return day.weekday() in self.weekly
        if self.country and day in _country_holidays(self.country, self.subdivision, day.year):
            return False
        return day.weekday() in self.weekly

    def _ranges(self, day: date) -> list[tuple[time, time | None]]:
        if not self.is_workday(day):
            return []
        if day.weekday() in self.weekly:
            return self.weekly[day.weekday()]
        # a make-up working day on a weekend (调休) or an extra open day: the hours of the first workday
        return self.weekly[min(self.weekly)] if self.weekly else []

    def intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The working intervals of one local day, as UTC datetimes."""
        tz = self.tz
        out = []
        for start, end in self._ranges(day):
            a = datetime.combine(day, start, tzinfo=tz).astimezone(UTC)
            b = (
                datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
                if end is None
                else datetime.combine(day, end, tzinfo=tz)
            ).astimezone(UTC)
            if b > a:
                out.append((a, b))
        return out

    def _local_day(self, at: datetime) -> date:
        return at.astimezone(self.tz).date()

    # -- instants ---------------------------------------------------------------------------------

    def is_open(self, at: datetime) -> bool:
        if self.always_open:
            return True
        return any(a <= at < b for a, b in self.intervals(self._local_day(at)))

    def next_open(self, at: datetime) -> datetime | None:
        """The next instant at or after ``at`` when the team works (``at`` itself when open now)."""
        if self.always_open:
            return at
        day = self._local_day(at) - timedelta(days=1)  # an interval of yesterday may run past midnight
        for _ in range(_SEARCH_DAYS):
            for a, b in self.intervals(day):
                if b > at:
                    return max(a, at)
            day += timedelta(days=1)
        return None

    def business_seconds(self, start: datetime, end: datetime) -> float:
        """Working time between two instants (0 when ``end`` is not after ``start``)."""
        if end <= start:
            return 0.0
        if self.always_open:
            return (end - start).total_seconds()
        total = 0.0
        day = self._local_day(start) - timedelta(days=1)
        last = self._local_day(end)
        while day <= last:
            for a, b in self.intervals(day):
                lo, hi = max(a, start), min(b, end)
                if hi > lo:
                    total += (hi - lo).total_seconds()
            day += timedelta(days=1)
        return total

    def add_business(self, start: datetime, seconds: float) -> datetime | None:
        """The instant when ``seconds`` of working time have passed since ``start``."""
        if self.always_open:
            return start + timedelta(seconds=seconds)
        left = seconds
        day = self._local_day(start) - timedelta(days=1)
        for _ in range(_SEARCH_DAYS):
            for a, b in self.intervals(day):
                lo = max(a, start)
                if b <= lo:
                    continue
                span = (b - lo).total_seconds()
                if span >= left:
                    return lo + timedelta(seconds=left)
                left -= span
            day += timedelta(days=1)
        return None


@dataclass(frozen=True)
class Calendars:
    """The team calendar, and per-language teams' own calendars where configured."""

    default: TeamCalendar
    by_lang: dict[str, TeamCalendar] = field(default_factory=dict)

    @classmethod
    def parse(cls, default: dict[str, Any] | None, by_lang: dict[str, dict[str, Any]] | None = None) -> Calendars:
        return cls(TeamCalendar.parse(default), {k: TeamCalendar.parse(v) for k, v in (by_lang or {}).items()})

    def for_lang(self, lang: str | None) -> TeamCalendar:
        return self.by_lang.get(lang or "", self.default)
