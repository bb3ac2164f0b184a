"""Outcome metrics against hand-computed values, on an empty and on a seeded database."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from escalation.calendar import Calendars
from escalation.metrics import Window, compute, entries
from escalation.storage import Storage, open_storage
from tests.support import AGENT

NOW = datetime(2026, 12, 1, tzinfo=UTC)
WINDOW = Window(date(2026, 11, 23), date(2026, 11, 25))
WEEKS = Window(date(2026, 11, 18), date(2026, 12, 2))  # Wednesday to Wednesday: three ISO weeks, two cut


def at(day: int, hh: int, mm: int = 0) -> str:
    return datetime(2026, 11, day, hh, mm, tzinfo=UTC).isoformat(timespec="milliseconds")


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    """The metrics' own storage on each engine (no desk running: no SLA timer adds breaches meanwhile)."""
    url = None if request.param == "sqlite" else str(request.getfixturevalue("postgres_url"))
    s = open_storage(url, tmp_path, listen=False)
    yield s
    s.close()


def _storage(where: Any) -> Storage:
    return where if isinstance(where, Storage) else where.storage


def conversation(
    where: Any, started: str, answer: str | None = None, feedback: str | None = None, entry: str = "x",
    lang: str = "en", channel: str = "widget",
) -> str:
    storage = _storage(where)
    conv = storage.conversations.create(lang, channel=channel)
    storage.conversations.add_message(conv.id, "customer", "q")
    with storage.db.tx() as tx:
        tx.execute("UPDATE conversations SET created_at = ? WHERE id = ?", (started, conv.id))
        tx.execute("UPDATE messages SET created_at = ? WHERE conversation_id = ?", (started, conv.id))
    if answer is not None:
        answered(storage, conv.id, answer, feedback, entry)
    return conv.id


def answered(storage: Storage, conv_id: str, at_: str, feedback: str | None = None, entry: str = "x") -> None:
    """A bot answer from FAQ entry ``entry``, stored as the desk stores one (meta with kind and sources)."""
    meta = {"kind": "answer", "text": "a", "confidence": 0.99, "sources": [{"id": entry, "title": entry, "lang": "en"}]}
    m = storage.conversations.add_message(conv_id, "bot", "a", meta)
    with storage.db.tx() as tx:
        tx.execute("UPDATE messages SET created_at = ?, feedback = ? WHERE id = ?", (at_, feedback, m.id))


def handoff(where: Any, conv_id: str, reason: str, opened: str, replied: str | None = None,
            resolved: str | None = None, breached: bool = False) -> None:
    storage = _storage(where)
    h, _ = storage.handoffs.open(conv_id, reason, "en", "q", [])
    with storage.db.tx() as tx:
        tx.execute(
            "UPDATE handoffs SET created_at = ?, first_reply_at = ?, resolved_at = ?, status = ? WHERE id = ?",
            (opened, replied, resolved, "resolved" if resolved else "open", h.id),
        )
    if breached:
        storage.sla.breach(h, "first_response", opened, opened, "standard")


def test_empty_database_shows_no_numbers(storage: Storage) -> None:
    result = compute(storage, Calendars.parse(None), WINDOW, NOW)
    s = result["summary"]
    assert s["conversations"] == 0 and s["handoff_rate"] is None and s["csat"] is None
    assert s["automation"]["24h"] == {"rate": None, "automated": 0, "eligible": 0}
    assert s["first_reply_minutes_median"] is None and s["sla_attainment"] is None
    assert [d["day"] for d in result["days"]] == ["2026-11-23", "2026-11-24"]
    assert result["entries"] == []
    weekly = compute(storage, Calendars.parse({"hours": {"mon-fri": "09:00-18:00"}}), WEEKS, NOW, group="week")
    assert [(w["week"], w["since"], w["until"], w["partial"]) for w in weekly["weeks"]] == [
        ("2026-W47", "2026-11-18", "2026-11-23", True),
        ("2026-W48", "2026-11-23", "2026-11-30", False),
        ("2026-W49", "2026-11-30", "2026-12-02", True),
    ]
    for w in [weekly["summary"], *weekly["weeks"]]:
        assert w["conversations"] == 0 and w["handoffs_by_reason"] == {} and w["feedback"] == {"up": 0, "down": 0}
        rates = [w["handoff_rate"], w["csat"], w["sla_attainment"], w["first_reply_minutes_median"],
                 w["resolution_minutes_median"], w["automation"]["24h"]["rate"], w["automation"]["7d"]["rate"]]
        assert rates == [None] * 7
    (never,) = entries(storage, WINDOW, {"credit-note": {"en": "Credit notes"}})
    assert never == {
        "id": "credit-note", "title": "Credit notes", "in_faq": True, "answers": 0, "up": 0, "down": 0,
        "not_what_i_asked": 0, "helpful_rate": None, "miss_rate": None,
    }


def test_empty_database_through_the_api(client: Any) -> None:
    r = client.get("/api/agent/metrics", headers=AGENT)
    assert r.status_code == 200 and len(r.json()["days"]) == 7
    body = r.json()
    assert body["summary"]["csat"] is None and all(e["answers"] == 0 and e["miss_rate"] is None for e in body["entries"])
    assert body["entries"] and all(e["title"] and e["in_faq"] for e in body["entries"])  # every FAQ entry, titled
    weekly = client.get("/api/agent/metrics", headers=AGENT, params={"group": "week"}).json()
    assert weekly["group"] == "week" and 1 <= len(weekly["weeks"]) <= 2 and "days" not in weekly
    assert client.get("/api/agent/metrics", headers=AGENT, params={"group": "month"}).status_code == 422
    rows = list(csv.reader(io.StringIO(client.get("/api/agent/metrics/entries.csv", headers=AGENT).text)))
    assert rows[0] == ["id", "title", "answers", "up", "down", "not_what_i_asked", "helpful_rate", "miss_rate"]
    assert rows[1][2:] == ["0", "0", "0", "0", "", ""]
    assert client.get("/api/agent/metrics", headers=AGENT, params={"since": "2026-11-25", "until": "2026-11-24"}).status_code == 422
    assert client.get("/api/agent/metrics").status_code == 401


def seed_two_days(where: Any) -> None:
    a = conversation(where, at(23, 9, 59), answer=at(23, 10), feedback="yes")  # answered, kept: automated
    b = conversation(where, at(23, 9, 59), answer=at(23, 10), feedback="wrong")  # "not what I asked" -> handoff
    handoff(where, b, "wrong_answer", at(23, 11), replied=at(23, 11, 30), resolved=at(23, 12), breached=True)
    c = conversation(where, at(23, 9, 59), answer=at(23, 10))  # handed off two days later
    handoff(where, c, "customer_request", at(25, 12))
    d = conversation(where, at(24, 9))  # never answered
    handoff(where, d, "low_confidence", at(24, 9), replied=at(24, 10))
    conversation(where, at(24, 9), answer=at(24, 9, 1), feedback="no")  # thumbs down
    conversation(where, at(25, 9), answer=at(25, 9, 1))  # outside the window
    assert a


def test_seeded_database_matches_hand_computed_values(storage: Storage) -> None:
    seed_two_days(storage)
    result = compute(storage, Calendars.parse(None), WINDOW, NOW)
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
    young = compute(storage, Calendars.parse(None), WINDOW, datetime(2026, 11, 24, 10, tzinfo=UTC))
    assert young["summary"]["automation"]["24h"]["eligible"] == 3 and young["summary"]["automation"]["7d"]["eligible"] == 0

    # business hours: d replied 60 wall minutes after 09:00, all of them inside Mon-Fri 9-18 (a Tuesday)
    office = Calendars.parse({"timezone": "UTC", "hours": {"mon-fri": "09:00-18:00"}})
    assert compute(storage, office, WINDOW, NOW)["days"][1]["first_reply_minutes_median"] == 60.0
    # 09:30 on Friday 27 to 10:00 on Monday 30 November is 30 + 60 business minutes, not 3 days
    late = conversation(storage, at(27, 9, 30))
    handoff(storage, late, "low_confidence", at(27, 9, 30), replied=datetime(2026, 11, 30, 10, tzinfo=UTC).isoformat())
    week = compute(storage, office, Window(date(2026, 11, 27), date(2026, 11, 28)), NOW)
    assert week["summary"]["first_reply_minutes_median"] == 570.0  # Friday 09:30-18:00, Monday 09:00-10:00


def test_seeded_metrics_through_the_api(services: Any, client: Any) -> None:
    seed_two_days(services)
    params = {"since": "2026-11-23", "until": "2026-11-25"}
    api = client.get("/api/agent/metrics", headers=AGENT, params=params).json()
    assert api["summary"]["automation"]["24h"]["rate"] == 0.5
    assert client.get("/api/agent/metrics", headers=AGENT, params={**params, "lang": "zh"}).json()["summary"]["conversations"] == 0
    assert client.get("/api/agent/metrics", headers=AGENT, params={**params, "channel": "email"}).json()["summary"]["conversations"] == 0
    text = client.get("/api/agent/metrics.csv", headers=AGENT, params=params).text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["day", "conversations", "automation_24h"]
    assert rows[1][:4] == ["2026-11-23", "3", "0.6667", "0.3333"] and rows[2][:2] == ["2026-11-24", "2"]


TITLES = {"credit-note": {"en": "Credit notes", "zh": "红字发票"}, "vat-export": {"en": "VAT export"},
          "never-used": {"en": "Never used"}}


def seed_entries(where: Any) -> None:
    storage = _storage(where)
    conversation(storage, at(23, 9), answer=at(23, 9, 1), feedback="yes", entry="credit-note")
    b = conversation(storage, at(23, 9), answer=at(23, 9, 1), feedback="wrong", entry="credit-note")
    handoff(storage, b, "wrong_answer", at(23, 9, 2))  # not what I asked: credit-note
    c = conversation(storage, at(23, 10), answer=at(23, 10, 1), entry="vat-export")
    answered(storage, c, at(23, 10, 5), "no", "credit-note")  # a second question, thumbs down
    conversation(storage, at(24, 8), answer=at(24, 8, 1), feedback="yes", entry="vat-export")
    e = conversation(storage, at(24, 9), answer=at(24, 9, 1), entry="vat-export")
    answered(storage, e, at(24, 9, 5), None, "credit-note")
    handoff(storage, e, "wrong_answer", at(24, 9, 6))  # the latest answer before it missed: credit-note
    conversation(storage, at(24, 11), answer=at(24, 11, 1), feedback="yes", entry="credit-note", lang="zh")
    f = conversation(storage, at(24, 12))
    handoff(storage, f, "wrong_answer", at(24, 12, 1))  # no answer before it: no entry to blame
    conversation(storage, at(22, 9), answer=at(22, 9, 1), feedback="no", entry="vat-export")  # before the window
    conversation(storage, at(24, 13), answer=at(24, 13, 1), entry="removed-entry", channel="email")


def test_per_faq_entry_answers_feedback_and_not_what_i_asked(storage: Storage) -> None:
    seed_entries(storage)
    table = entries(storage, WINDOW, TITLES)
    assert [(e["id"], e["title"], e["answers"], e["up"], e["down"], e["not_what_i_asked"]) for e in table] == [
        ("credit-note", "Credit notes", 5, 2, 1, 2),  # a, b, c's second, e's second, the zh one
        ("vat-export", "VAT export", 3, 1, 0, 0),  # c, d, e (the one of the 22nd is outside)
        ("removed-entry", None, 1, 0, 0, 0),  # answered then, no longer in the FAQ
        ("never-used", "Never used", 0, 0, 0, 0),
    ]
    first, second, removed, never = table
    assert (first["helpful_rate"], first["miss_rate"], first["in_faq"]) == (0.6667, 0.4, True)
    assert (second["helpful_rate"], second["miss_rate"]) == (1.0, 0.0)
    assert removed["in_faq"] is False and (never["helpful_rate"], never["miss_rate"]) == (None, None)
    zh = entries(storage, Window(WINDOW.since, WINDOW.until, lang="zh"), TITLES)
    assert [(e["id"], e["title"], e["answers"], e["up"]) for e in zh][:2] == [
        ("credit-note", "红字发票", 1, 1), ("never-used", "Never used", 0, 0)
    ]
    email = entries(storage, Window(WINDOW.since, WINDOW.until, channel="email"))
    assert [(e["id"], e["answers"]) for e in email] == [("removed-entry", 1)]
    assert compute(storage, Calendars.parse(None), WINDOW, NOW, titles=TITLES)["entries"] == table


def test_per_week_with_weeks_cut_by_the_window(storage: Storage) -> None:
    def on(month: int, day: int, hh: int, mm: int = 0) -> str:
        return datetime(2026, month, day, hh, mm, tzinfo=UTC).isoformat(timespec="milliseconds")

    conversation(storage, on(11, 16, 9), answer=on(11, 16, 9, 1))  # Monday of W47, before the window
    conversation(storage, on(11, 18, 9), answer=on(11, 18, 9, 1), feedback="yes")  # W47, automated
    w2 = conversation(storage, on(11, 22, 23, 30), answer=on(11, 22, 23, 31))  # Sunday, W47
    handoff(storage, w2, "customer_request", on(11, 23, 0, 10), replied=on(11, 23, 0, 40))  # opened in W48
    w3 = conversation(storage, on(11, 23, 10))  # Monday, W48, never answered
    handoff(storage, w3, "low_confidence", on(11, 23, 10), replied=on(11, 23, 10, 20), breached=True)
    conversation(storage, on(11, 29, 12), answer=on(11, 29, 12, 1), feedback="no")  # Sunday, W48
    conversation(storage, on(12, 1, 8), answer=on(12, 1, 8, 1))  # Tuesday, W49
    conversation(storage, on(12, 2, 8), answer=on(12, 2, 8, 1))  # the window's end (exclusive)

    result = compute(storage, Calendars.parse(None), WEEKS, datetime(2026, 12, 10, tzinfo=UTC), group="week")
    assert result["group"] == "week" and "days" not in result
    w47, w48, w49 = result["weeks"]
    assert (w47["week"], w47["since"], w47["until"], w47["partial"]) == ("2026-W47", "2026-11-18", "2026-11-23", True)
    assert w47["conversations"] == 2 and w47["automation"]["24h"] == {"rate": 0.5, "automated": 1, "eligible": 2}
    assert (w47["handoff_rate"], w47["csat"], w47["sla_attainment"], w47["first_reply_minutes_median"]) == (0.5, 1.0, None, None)
    assert (w48["week"], w48["since"], w48["until"], w48["partial"]) == ("2026-W48", "2026-11-23", "2026-11-30", False)
    assert w48["conversations"] == 2 and w48["automation"]["7d"] == {"rate": 0.0, "automated": 0, "eligible": 1}
    assert w48["handoffs_by_reason"] == {"low_confidence": {"count": 1, "rate": 0.5}} and w48["csat"] == 0.0
    assert (w48["first_reply_minutes_median"], w48["sla_attainment"]) == (25.0, 0.5)  # w2's 30 and w3's 20 minutes
    assert (w49["week"], w49["since"], w49["until"], w49["partial"]) == ("2026-W49", "2026-11-30", "2026-12-02", True)
    assert (w49["conversations"], w49["automation"]["24h"]["rate"], w49["handoff_rate"], w49["csat"]) == (1, 1.0, 0.0, None)
    s = result["summary"]
    assert (s["conversations"], s["automation"]["24h"]["rate"], s["handoff_rate"], s["csat"]) == (5, 0.5, 0.4, 0.5)
    assert (s["first_reply_minutes_median"], s["sla_attainment"]) == (25.0, 0.5)
    # the same days one by one add up to the weeks
    daily = compute(storage, Calendars.parse(None), WEEKS, datetime(2026, 12, 10, tzinfo=UTC))
    assert sum(d["conversations"] for d in daily["days"][:5]) == 2 and len(daily["days"]) == 14


def test_entries_and_weeks_through_the_api(services: Any, client: Any) -> None:
    seed_entries(services)
    params = {"since": "2026-11-23", "until": "2026-11-25"}
    body = client.get("/api/agent/metrics", headers=AGENT, params=params).json()
    by_id = {e["id"]: e for e in body["entries"]}
    assert (by_id["removed-entry"]["answers"], by_id["removed-entry"]["in_faq"]) == (1, False)
    shipped = [e for e in body["entries"] if e["in_faq"]]
    assert shipped and all(e["title"] for e in shipped)  # titles from the running FAQ
    table = client.get("/api/agent/metrics/entries", headers=AGENT, params={**params, "channel": "email"}).json()
    assert [(e["id"], e["answers"]) for e in table if e["answers"]] == [("removed-entry", 1)]
    rows = list(csv.reader(io.StringIO(client.get("/api/agent/metrics/entries.csv", headers=AGENT, params=params).text)))
    assert ["removed-entry", "", "1", "0", "0", "0", "", "0.0"] in rows
    weekly = client.get("/api/agent/metrics.csv", headers=AGENT, params={**params, "group": "week"}).text
    rows = list(csv.reader(io.StringIO(weekly)))
    assert rows[0][:4] == ["week", "since", "until", "conversations"]
    assert rows[1][:4] == ["2026-W48", "2026-11-23", "2026-11-25", "8"]
