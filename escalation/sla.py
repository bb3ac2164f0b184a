"""SLA policies (first response, next response, resolution), counted in business hours.

A policy applies to handoffs by reason and/or channel (the first that matches wins; one without
filters matches everything). Its clocks run on the team calendar of the handoff's language, so a
handoff opened on Friday at 17:50 with a 60-minute first response is due Monday at 09:50. The
monitor runs on a timer and on events; each breach is stored once (a primary key), so it is shown,
emitted as ``sla.breached`` and sent as a webhook exactly once, whichever replica sees it first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from escalation.calendar import Calendars
from escalation.models import Handoff, parse_iso
from escalation.storage import Storage

METRICS = ("first_response", "next_response", "resolution")


class SlaPolicyError(ValueError):
    pass


@dataclass(frozen=True)
class SlaPolicy:
    name: str
    first_response_minutes: float | None = None
    next_response_minutes: float | None = None
    resolution_minutes: float | None = None
    reasons: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()

    def applies(self, reason: str, channel: str) -> bool:
        return (not self.reasons or reason in self.reasons) and (not self.channels or channel in self.channels)

    def minutes(self, metric: str) -> float | None:
        value: float | None = getattr(self, f"{metric}_minutes")
        return value

    @classmethod
    def parse(cls, spec: dict[str, Any]) -> SlaPolicy:
        known = {"name", "reasons", "channels"} | {f"{m}_minutes" for m in METRICS}
        unknown = set(spec) - known
        if unknown:
            raise SlaPolicyError(f"unknown SLA policy keys: {', '.join(sorted(unknown))}")
        values: dict[str, float | None] = {}
        for m in METRICS:
            v = spec.get(f"{m}_minutes")
            if v is not None and (not isinstance(v, int | float) or v <= 0):
                raise SlaPolicyError(f"{m}_minutes must be a positive number of business minutes")
            values[m] = float(v) if v is not None else None
        return cls(
            str(spec.get("name") or "default"),
            values["first_response"],
            values["next_response"],
            values["resolution"],
            frozenset(spec.get("reasons") or ()),
            frozenset(spec.get("channels") or ()),
        )


DEFAULT_POLICIES: list[dict[str, Any]] = [
    {"name": "default", "first_response_minutes": 60, "next_response_minutes": 120, "resolution_minutes": 1440}
]


def parse_policies(specs: list[dict[str, Any]]) -> list[SlaPolicy]:
    return [SlaPolicy.parse(s) for s in specs]



@dataclass(frozen=True)
class Clock:
    """One running SLA clock of a handoff."""

    metric: str
    since: str  # when it started (ISO)
    due_at: datetime | None  # None: the calendar never opens again
    policy: str

    def breached(self, now: datetime) -> bool:
        return self.due_at is not None and now >= self.due_at

    def public(self, now: datetime) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "policy": self.policy,
            "since": self.since,
            "due_at": self.due_at.isoformat(timespec="seconds") if self.due_at else None,
            "breached": self.breached(now),
        }


class SlaMonitor:
    def __init__(self, storage: Storage, policies: list[SlaPolicy], calendars: Calendars) -> None:
        self.storage = storage
        self.policies = policies
        self.calendars = calendars

    def policy_for(self, reason: str, channel: str) -> SlaPolicy | None:
        return next((p for p in self.policies if p.applies(reason, channel)), None)

    def clocks(self, handoff: Handoff, channel: str, waiting_since: str | None) -> list[Clock]:
        policy = self.policy_for(handoff.reason, channel)
        if policy is None or handoff.resolved_at is not None:
            return []
        calendar = self.calendars.for_lang(handoff.lang)
        starts = {
            "first_response": handoff.created_at if handoff.first_reply_at is None else None,
            "next_response": waiting_since,
            "resolution": handoff.created_at,
        }
        out = []
        for metric, since in starts.items():
            minutes = policy.minutes(metric)
            if since is None or minutes is None:
                continue
            out.append(Clock(metric, since, calendar.add_business(parse_iso(since), minutes * 60), policy.name))
        return out

    def check(self, now: datetime | None = None) -> list[tuple[Handoff, Clock]]:
        """Record every clock past due that is not recorded yet; the breaches recorded by this call."""
        now = now or datetime.now(UTC)
        fired = []
        for handoff, channel, waiting in self.storage.handoffs.for_sla():
            for clock in self.clocks(handoff, channel, waiting):
                if clock.breached(now) and clock.due_at is not None and self.storage.sla.breach(
                    handoff, clock.metric, clock.since, clock.due_at.isoformat(timespec="seconds"), clock.policy
                ):
                    fired.append((handoff, clock))
        return fired

    def status(self, handoff_ids: list[int], now: datetime | None = None) -> dict[int, list[dict[str, Any]]]:
        """The running clocks of these handoffs, for the console (due times and whether breached)."""
        return self.status_of(self.storage.handoffs.for_sla(handoff_ids), now)

    def status_of(
        self, rows: list[tuple[Handoff, str, str | None]], now: datetime | None = None
    ) -> dict[int, list[dict[str, Any]]]:
        """The same for rows of ``HandoffRepo.for_sla`` the caller has read already."""
        now = now or datetime.now(UTC)
        recorded = {
            (hid, r["metric"], r["since"])
            for hid, breaches in self.storage.sla.of_handoffs([h.id for h, _, _ in rows]).items()
            for r in breaches
        }
        out: dict[int, list[dict[str, Any]]] = {}
        for h, channel, waiting in rows:
            clocks = []
            for c in self.clocks(h, channel, waiting):
                public = c.public(now)
                public["breached"] = public["breached"] or (h.id, c.metric, c.since) in recorded
                clocks.append(public)
            out[h.id] = clocks
        return out
