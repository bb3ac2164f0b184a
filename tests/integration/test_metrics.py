"""Outcome metrics against hand-computed values, on an empty and on a seeded database."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

from escalation.calendar import Calendars
from escalation.metrics import Window, compute
from tests.support import AGENT

NOW = datetime(2026, 12, 1, tzinfo=UTC)
WINDOW = Window(date(2026, 11, 23), date(2026, 11, 25))


def at(day: int, hh: int, mm: int = 0) -> str:
    return datetime(2026, 11, day, hh, mm, tzinfo=UTC).isoformat(timespec="milliseconds")


def conversation(services: Any, started: str, answer: str | None = None, feedback: str | None = None) -> str:
    storage = services.storage
    conv = storage.conversations.create("en")
    storage.conversations.add_message(conv.id, "customer", "q")
    with storage.db.tx() as tx:
        tx.execute("UPDATE conversations SET created_at = ? WHERE id = ?", (started, conv.id))
        tx.execute("UPDATE messages SET created_at = ? WHERE conversation_id = ?", (started, conv.id))
    if answer is not None:
        m = storage.conversations.add_message(conv.id, "bot", "a", {"kind": "answer", "sources": [{"id": "x"}]})
        with storage.db.tx() as tx:
            tx.execute("UPDATE messages SET created_at = ?, feedback = ? WHERE id = ?", (answer, feedback, m.id))
    return conv.id


def handoff(services: Any, conv_id: str, reason: str, opened: str, replied: str | None = None,
            resolved: str | None = None, breached: bool = False) -> None:
    h = services.queue.hand_off(conv_id, reason, "en", "q", [])
    with services.storage.db.tx() as tx:
        tx.execute(
            "UPDATE handoffs SET created_at = ?, first_reply_at = ?, resolved_at = ?, status = ? WHERE id = ?",
            (opened, replied, resolved, "resolved" if resolved else "open", h.id),
        )
    if breached:
        services.storage.sla.breach(h, "first_response", opened, opened, "standard")


def test_empty_database_shows_no_numbers(services: Any, client: Any) -> None:
    result = compute(services.storage, Calendars.parse(None), WINDOW, NOW)
    s = result["summary"]
    assert s["conversations"] == 0 and s["handoff_rate"] is None and s["csat"] is None
    assert s["automation"]["24h"] == {"rate": None, "automated": 0, "eligible": 0}
    assert s["first_reply_minutes_median"] is None and s["sla_attainment"] is None
    assert [d["day"] for d in result["days"]] == ["2026-11-23", "2026-11-24"]
    r = client.get("/api/agent/metrics", headers=AGENT)
    assert r.status_code == 200 and len(r.json()["days"]) == 7
    assert client.get("/api/agent/metrics", headers=AGENT, params={"since": "2026-11-25", "until": "2026-11-24"}).status_code == 422
    assert client.get("/api/agent/metrics").status_code == 401


def test_seeded_database_matches_hand_computed_values(services: Any, client: Any) -> None:
    a = conversation(services, at(23, 9, 59), answer=at(23, 10), feedback="yes")  # answered, kept: automated
    b = conversation(services, at(23, 9, 59), answer=at(23, 10), feedback="wrong")  # "not what I asked" -> handoff
    handoff(services, b, "wrong_answer", at(23, 11), replied=at(23, 11, 30), resolved=at(23, 12), breached=True)
    c = conversation(services, at(23, 9, 59), answer=at(23, 10))  # handed off two days later
    handoff(services, c, "customer_request", at(25, 12))
    d = conversation(services, at(24, 9))  # never answered
    handoff(services, d, "low_confidence", at(24, 9), replied=at(24, 10))
    conversation(services, at(24, 9), answer=at(24, 9, 1), feedback="no")  # thumbs down
    conversation(services, at(25, 9), answer=at(25, 9, 1))  # outside the window
    assert a

    result = compute(services.storage, Calendars.parse(None), WINDOW, NOW)
    s = result["summary"]
    assert s["conversations"] == 5
    assert s["automation"]["24h"] == {"rate": 0.5, "automated": 2, "eligible": 4}  # a, c
    # 7 days after its answer has not passed for the one of the 24th yet on 1 December 00:00: not counted
    assert s["automation"]["7d"] == {"rate": 0.3333, "automated": 1, "eligible": 3}  # a of a, b, c
    assert s["handoff_rate"] == 0.6  # b, c, d
    assert s["handoffs_by_reason"] == {
        "customer_request": {"count": 1, "rate": 0.2},
        "low_confidence": {"count": 1, "rate": 0.2},
        "wrong_answer": {"count": 1, "rate": 0.2},
    }
    assert s["first_reply_minutes_median"] == 45.0  # b 30, d 60 (c's handoff is outside the window)
    assert s["resolution_minutes_median"] == 60.0
    assert s["sla_attainment"] == 0.5
    assert s["csat"] == 0.3333 and s["feedback"] == {"up": 1, "down": 2}
    day1, day2 = result["days"]
    assert (day1["conversations"], day1["automation"]["24h"]["rate"], day1["automation"]["7d"]["rate"]) == (3, 0.6667, 0.3333)
    assert (day1["handoff_rate"], day1["csat"], day1["sla_attainment"]) == (0.6667, 0.5, 0.0)
    assert (day2["conversations"], day2["automation"]["24h"]["rate"], day2["handoff_rate"], day2["csat"]) == (2, 0.0, 0.5, 0.0)
    assert day2["first_reply_minutes_median"] == 60.0 and day2["sla_attainment"] == 1.0

    # a conversation answered an hour ago is not counted yet (it may still be handed off)
    young = compute(services.storage, Calendars.parse(None), WINDOW, datetime(2026, 11, 24, 10, tzinfo=UTC))
    assert young["summary"]["automation"]["24h"]["eligible"] == 3 and young["summary"]["automation"]["7d"]["eligible"] == 0

    # business hours: d replied 60 wall minutes after 09:00, all of them inside Mon-Fri 9-18 (a Tuesday)
    office = Calendars.parse({"timezone": "UTC", "hours": {"mon-fri": "09:00-18:00"}})
    assert compute(services.storage, office, WINDOW, NOW)["days"][1]["first_reply_minutes_median"] == 60.0

    # filters, JSON and CSV through the API
    params = {"since": "2026-11-23", "until": "2026-11-25"}
    api = client.get("/api/agent/metrics", headers=AGENT, params=params).json()
    assert api["summary"]["automation"]["24h"]["rate"] == 0.5
    assert client.get("/api/agent/metrics", headers=AGENT, params={**params, "lang": "zh"}).json()["summary"]["conversations"] == 0
    assert client.get("/api/agent/metrics", headers=AGENT, params={**params, "channel": "email"}).json()["summary"]["conversations"] == 0
    text = client.get("/api/agent/metrics.csv", headers=AGENT, params=params).text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["day", "conversations", "automation_24h"]
    assert rows[1][:4] == ["2026-11-23", "3", "0.6667", "0.3333"] and rows[2][:2] == ["2026-11-24", "2"]
