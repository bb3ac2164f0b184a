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
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from escalation.calendar import Calendars
from escalation.models import iso, parse_iso
from escalation.storage import Storage

HORIZONS = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}



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


def _summary(convs: list[dict[str, Any]], handoffs: list[dict[str, Any]], calendars: Calendars, now: datetime) -> dict[str, Any]:
    answered = [c for c in convs if c["first_answer"]]
    automation: dict[str, Any] = {}
    for name, horizon in HORIZONS.items():
        eligible = [c for c in answered if parse_iso(c["first_answer"]) + horizon <= now]
        automated = [
            c
            for c in eligible
            if not int(c["down"])
            and not (c["first_handoff"] and parse_iso(c["first_handoff"]) <= parse_iso(c["first_answer"]) + horizon)
        ]
        automation[name] = {"rate": _rate(len(automated), len(eligible)), "automated": len(automated), "eligible": len(eligible)}
    handed = [c for c in convs if c["first_handoff"]]
    reasons = Counter(str(c["reason"]) for c in handed)
    first = [
        calendars.for_lang(h["lang"]).business_seconds(parse_iso(h["created_at"]), parse_iso(h["first_reply_at"])) / 60
        for h in handoffs
        if h["first_reply_at"]
    ]
    resolved = [
        calendars.for_lang(h["lang"]).business_seconds(parse_iso(h["created_at"]), parse_iso(h["resolved_at"])) / 60
        for h in handoffs
        if h["resolved_at"]
    ]
    up = sum(int(c["up"]) for c in convs)
    down = sum(int(c["down"]) for c in convs)
    return {
        "conversations": len(convs),
        "automation": automation,
        "handoff_rate": _rate(len(handed), len(convs)),
        "handoffs_by_reason": {r: {"count": n, "rate": _rate(n, len(convs))} for r, n in sorted(reasons.items())},
        "first_reply_minutes_median": round(statistics.median(first), 1) if first else None,
        "resolution_minutes_median": round(statistics.median(resolved), 1) if resolved else None,
        "sla_attainment": _rate(sum(1 for h in handoffs if not h["breached"]), len(handoffs)),
        "csat": _rate(up, up + down),
        "feedback": {"up": up, "down": down},
    }


def compute(storage: Storage, calendars: Calendars, window: Window, now: datetime | None = None) -> dict[str, Any]:
    """The window's summary and one row per day (UTC days, by when the conversation started)."""
    now = now or datetime.now(UTC)
    since, until = window.bounds()
    convs = storage.metrics.conversations(since, until, window.lang, window.channel)
    handoffs = storage.metrics.handoffs(since, until, window.lang, window.channel)
    days = []
    day = window.since
    while day < window.until:
        key = day.isoformat()
        days.append(
            {
                "day": key,
                **_summary(
                    [c for c in convs if str(c["created_at"])[:10] == key],
                    [h for h in handoffs if str(h["created_at"])[:10] == key],
                    calendars,
                    now,
                ),
            }
        )
        day += timedelta(days=1)
    return {
        "since": window.since.isoformat(),
        "until": window.until.isoformat(),
        "lang": window.lang,
        "channel": window.channel,
        "summary": _summary(convs, handoffs, calendars, now),
        "days": days,
    }


CSV_COLUMNS = [
    "day", "conversations", "automation_24h", "automation_7d", "handoff_rate", "first_reply_minutes_median",
    "resolution_minutes_median", "sla_attainment", "csat",
]


def csv_rows(result: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = [list(CSV_COLUMNS)]
    for d in result["days"]:
        rows.append(
            [
                d["day"], d["conversations"], d["automation"]["24h"]["rate"], d["automation"]["7d"]["rate"],
                d["handoff_rate"], d["first_reply_minutes_median"], d["resolution_minutes_median"],
                d["sla_attainment"], d["csat"],
            ]
        )
    return [["" if v is None else v for v in r] for r in rows]
