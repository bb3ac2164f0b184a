"""Outcome metrics as Intercom and Zendesk count them, per day and for the whole window.

- **Automation rate** (24 h and 7 d): of the conversations the bot answered, the share not handed off
  within that time after its first answer and with no negative feedback on its answers. A conversation
  younger than the horizon is not counted yet (neither way): the rate never flatters by counting
  conversations that may still be handed off.
- **Handoff rate** by reason: conversations handed off / conversations.
- **Time to first human reply** and **to resolution**: medians in business minutes of the team calendar.
- **SLA attainment**: handoffs without a breach / handoffs.
- **CSAT**: thumbs up / (up + down) on the bot's answers.
Every rate is None where its denominator is 0 (an empty database shows no numbers, not zeros).
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from escalation.calendar import Calendars, TeamCalendar
from escalation.models import iso, parse_iso
from escalation.storage import Storage

HORIZONS = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}
GROUPS = ("day", "week")


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


@dataclass(frozen=True)
class Window:
    since: date
    until: date  # exclusive
    lang: str | None = None
    channel: str | None = None

    def bounds(self) -> tuple[str, str]:
        return (
            iso(datetime.combine(self.since, datetime.min.time(), UTC)),
            iso(datetime.combine(self.until, datetime.min.time(), UTC)),
        )


@dataclass
class _Period:
    """What one day (or week, or the window) adds up to: counts that sum, and the minute values whose
    medians are taken."""

    conversations: int = 0
    answered: int = 0
    eligible: Counter[str] = field(default_factory=Counter)
    automated: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    up: int = 0
    down: int = 0
    handoffs: int = 0
    breached: int = 0
    first_reply: list[float] = field(default_factory=list)
    resolution: list[float] = field(default_factory=list)

    def add(self, other: _Period) -> None:
        for name in ("conversations", "answered", "up", "down", "handoffs", "breached"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.eligible.update(other.eligible)
        self.automated.update(other.automated)
        self.reasons.update(other.reasons)
        self.first_reply += other.first_reply
        self.resolution += other.resolution

    def summary(self) -> dict[str, Any]:
        handed = sum(self.reasons.values())
        return {
            "conversations": self.conversations,
            "automation": {
                name: {
                    "rate": _rate(self.automated[name], self.eligible[name]),
                    "automated": self.automated[name],
                    "eligible": self.eligible[name],
                }
                for name in HORIZONS
            },
            "handoff_rate": _rate(handed, self.conversations),
            "handoffs_by_reason": {
                r: {"count": n, "rate": _rate(n, self.conversations)} for r, n in sorted(self.reasons.items())
            },
            "first_reply_minutes_median": _median(self.first_reply),
            "resolution_minutes_median": _median(self.resolution),
            "sla_attainment": _rate(self.handoffs - self.breached, self.handoffs),
            "csat": _rate(self.up, self.up + self.down),
            "feedback": {"up": self.up, "down": self.down},
        }


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


class _BusinessMinutes:
    """``business_seconds(start, end) / 60`` of each language's team calendar, as B(end) - B(start) with
    B the working seconds since a first day: each local day's working time is summed once, not again for
    every handoff (300,000 handoffs a year are counted in about a second, not a minute)."""

    def __init__(self, calendars: Calendars) -> None:
        self.calendars = calendars
        self._cum: dict[int, tuple[date, list[float]]] = {}  # per calendar: first day, cumulative seconds
        self._intervals: dict[tuple[int, date], list[tuple[datetime, datetime]]] = {}

    def between(self, lang: str | None, start: str, end: str) -> float:
        cal = self.calendars.for_lang(lang)
        a, b = parse_iso(start), parse_iso(end)
        if b <= a:
            return 0.0
        if cal.always_open:
            return (b - a).total_seconds() / 60
        before = self._until(cal, a)  # first: the earlier instant is the one that may extend the table back
        return (self._until(cal, b) - before) / 60

    def _day(self, cal: TeamCalendar, day: date) -> list[tuple[datetime, datetime]]:
        key = (id(cal), day)
        if key not in self._intervals:
            self._intervals[key] = cal.intervals(day)
        return self._intervals[key]

    def _working(self, cal: TeamCalendar, day: date) -> float:
        return sum((hi - lo).total_seconds() for lo, hi in self._day(cal, day))

    def _until(self, cal: TeamCalendar, at: datetime) -> float:
        """Working seconds from the first day of this calendar's table up to ``at`` (intervals may run past
        midnight, so those of the day before ``at``'s local day are cut at ``at`` too)."""
        day = at.astimezone(cal.tz).date()
        first, cum = self._cum.setdefault(id(cal), (day - timedelta(days=2), [0.0]))
        if day - timedelta(days=1) < first:  # before the table: extend it back (a month at a time)
            start = min(day - timedelta(days=2), first - timedelta(days=31))
            head = [0.0]
            for i in range((first - start).days):
                head.append(head[-1] + self._working(cal, start + timedelta(days=i)))
            first, cum = start, head[:-1] + [c + head[-1] for c in cum]
            self._cum[id(cal)] = (first, cum)
        while len(cum) <= (day - first).days - 1:  # cum[i]: working seconds of the days before first + i
            d = first + timedelta(days=len(cum) - 1)
            cum.append(cum[-1] + self._working(cal, d))
        total = cum[(day - first).days - 1]
        for d in (day - timedelta(days=1), day):
            for lo, hi in self._day(cal, d):
                if at > lo:
                    total += (min(hi, at) - lo).total_seconds()
        return total


def _week(day: date) -> tuple[str, date]:
    """ISO week of ``day`` ("2026-W48") and its Monday."""
    y, w, _ = day.isocalendar()
    return f"{y}-W{w:02d}", day - timedelta(days=day.weekday())


def compute(
    storage: Storage,
    calendars: Calendars,
    window: Window,
    now: datetime | None = None,
    group: str = "day",
    titles: dict[str, dict[str, str]] | None = None,
    with_entries: bool = True,
) -> dict[str, Any]:
    """The window's summary, one row per day (UTC days, by when the conversation started; a handoff by
    when it opened) or per ISO week (Monday to Sunday; a week cut by the window's edge counts only its
    days inside and says so with ``partial``), and the table per FAQ entry. Everything is aggregated in
    SQL except the business-minute medians, which need the team calendar."""
    if group not in GROUPS:
        raise ValueError(f"group must be one of {', '.join(GROUPS)}, not {group!r}")
    now = now or datetime.now(UTC)
    since, until = window.bounds()
    horizons = {name: (iso(now - h), int(h.total_seconds())) for name, h in HORIZONS.items()}
    days: dict[str, _Period] = {}
    for r in storage.metrics.daily(since, until, window.lang, window.channel, horizons):
        p = days.get(str(r["day"])) or days.setdefault(str(r["day"]), _Period())
        n = int(r["conversations"])
        p.conversations += n
        p.answered += int(r["answered"] or 0)
        p.up += int(r["up"] or 0)
        p.down += int(r["down"] or 0)
        if r["reason"] is not None:
            p.reasons[str(r["reason"])] += n
        for name in HORIZONS:
            p.eligible[name] += int(r[f"eligible_{name}"] or 0)
            p.automated[name] += int(r[f"automated_{name}"] or 0)
    minutes = _BusinessMinutes(calendars)
    for h in storage.metrics.handoff_times(since, until, window.lang, window.channel):
        p = days.get(str(h["day"])) or days.setdefault(str(h["day"]), _Period())
        p.handoffs += 1
        p.breached += int(h["breached"])
        if h["first_reply_at"]:
            p.first_reply.append(minutes.between(h["lang"], h["created_at"], h["first_reply_at"]))
        if h["resolved_at"]:
            p.resolution.append(minutes.between(h["lang"], h["created_at"], h["resolved_at"]))
    total = _Period()
    rows: list[dict[str, Any]] = []
    weeks: dict[str, tuple[date, _Period]] = {}
    day = window.since
    while day < window.until:
        p = days.get(day.isoformat(), _Period())
        total.add(p)
        if group == "day":
            rows.append({"day": day.isoformat(), **p.summary()})
        else:
            key, monday = _week(day)
            weeks.setdefault(key, (monday, _Period()))[1].add(p)
        day += timedelta(days=1)
    for key, (monday, p) in weeks.items():
        first, last = max(monday, window.since), min(monday + timedelta(days=7), window.until)
        rows.append(
            {
                "week": key,
                "since": first.isoformat(),
                "until": last.isoformat(),
                "partial": (last - first).days < 7,
                **p.summary(),
            }
        )
    return {
        "since": window.since.isoformat(),
        "until": window.until.isoformat(),
        "lang": window.lang,
        "channel": window.channel,
        "group": group,
        "summary": total.summary(),
        "days" if group == "day" else "weeks": rows,
        **({"entries": entries(storage, window, titles)} if with_entries else {}),
        **({"incidents": incidents(storage, window)} if with_entries else {}),
    }


def _seconds(later: str | None, earlier: str | None) -> float | None:
    if not later or not earlier:
        return None
    return round((parse_iso(later) - parse_iso(earlier)).total_seconds(), 1)


def incidents(storage: Storage, window: Window) -> dict[str, Any]:
    """The incidents first seen in the window with their timeline's clock: seconds from the first question
    to the page (``detected``), from the page to ``confirmed``, from the first question to ``resolved``, and
    the customers told on resolution; and the medians over them. (Not cut by language or channel: an
    incident spans both.)"""
    since, until = window.bounds()
    rows = []
    for inc, timeline in storage.incidents.with_timelines(since, until):
        at = {e["kind"]: e["at"] for e in reversed(timeline)}  # the first of each kind
        notified = next((e["detail"].get("count") for e in timeline if e["kind"] == "customers_notified"), None)
        rows.append({
            "id": inc["id"],
            "title": inc["title"],
            "status": inc["status"],
            "first_seen": inc["first_seen"],
            "conversations": inc["conversations"],
            "languages": inc["languages"],
            "channels": inc["channels"],
            "seconds_to_page": _seconds(at.get("detected"), inc["first_seen"]),
            "seconds_to_confirm": _seconds(at.get("confirmed"), at.get("detected")),
            "seconds_to_resolve": _seconds(at.get("resolved"), inc["first_seen"]),
            "customers_notified": notified,
            "timeline": [{"at": e["at"], "kind": e["kind"], "actor": e["actor"]} for e in timeline],
        })

    def med(key: str) -> float | None:
        values = [r[key] for r in rows if r[key] is not None]
        return round(float(statistics.median(values)), 1) if values else None

    return {
        "count": len(rows),
        "confirmed": sum(any(e["kind"] == "confirmed" for e in r["timeline"]) for r in rows),
        "dismissed": sum(r["status"] == "dismissed" for r in rows),
        "resolved": sum(r["status"] == "resolved" for r in rows),
        "median_seconds_to_page": med("seconds_to_page"),
        "median_seconds_to_confirm": med("seconds_to_confirm"),
        "median_seconds_to_resolve": med("seconds_to_resolve"),
        "customers_notified": sum(r["customers_notified"] or 0 for r in rows),
        "incidents": rows,
    }


def entries(storage: Storage, window: Window, titles: dict[str, dict[str, str]] | None = None) -> list[dict[str, Any]]:
    """Per FAQ entry, in conversations started in the window: answers the bot gave from it, thumbs up,
    thumbs down, "not what I asked" (a ``wrong_answer`` handoff after its answer), the helpful share
    (up / (up + down)) and the miss share ("not what I asked" / answers); every entry of ``titles``
    (``{id: {lang: title}}``) appears, answered or not; most answered first."""
    titles = titles or {}
    since, until = window.bounds()
    rows = {str(r["entry"]): r for r in storage.metrics.entries(since, until, window.lang, window.channel)}
    out = []
    for eid in sorted(set(rows) | set(titles)):
        r = rows.get(eid, {})
        answers, up, down, wrong = (int(r.get(k) or 0) for k in ("answers", "up", "down", "wrong"))
        names = titles.get(eid, {})
        title = names.get(window.lang or "en") or next(iter(names.values()), None)
        out.append(
            {
                "id": eid,
                "title": title,
                "in_faq": eid in titles,
                "answers": answers,
                "up": up,
                "down": down,
                "not_what_i_asked": wrong,
                "helpful_rate": _rate(up, up + down),
                "miss_rate": _rate(wrong, answers),
            }
        )
    out.sort(key=lambda e: (-int(e["answers"] or 0), str(e["id"])))
    return out


CSV_COLUMNS = [
    "conversations", "automation_24h", "automation_7d", "handoff_rate", "first_reply_minutes_median",
    "resolution_minutes_median", "sla_attainment", "csat",
]
ENTRY_COLUMNS = ["id", "title", "answers", "up", "down", "not_what_i_asked", "helpful_rate", "miss_rate"]


def _csv(rows: list[list[Any]]) -> list[list[Any]]:
    return [["" if v is None else v for v in r] for r in rows]


def csv_rows(result: dict[str, Any]) -> list[list[Any]]:
    """One row per day (``day, ...``) or per week (``week, since, until, ...``) of a :func:`compute` result."""
    weekly = result.get("group") == "week"
    rows: list[list[Any]] = [(["week", "since", "until"] if weekly else ["day"]) + CSV_COLUMNS]
    for d in result["weeks" if weekly else "days"]:
        rows.append(
            ([d["week"], d["since"], d["until"]] if weekly else [d["day"]])
            + [
                d["conversations"], d["automation"]["24h"]["rate"], d["automation"]["7d"]["rate"],
                d["handoff_rate"], d["first_reply_minutes_median"], d["resolution_minutes_median"],
                d["sla_attainment"], d["csat"],
            ]
        )
    return _csv(rows)


def entry_csv_rows(table: list[dict[str, Any]]) -> list[list[Any]]:
    """The per-entry table of :func:`entries` as CSV rows."""
    return _csv([list(ENTRY_COLUMNS)] + [[e[c] for c in ENTRY_COLUMNS] for e in table])
