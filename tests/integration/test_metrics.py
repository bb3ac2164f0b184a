"""Outcome metrics against hand-computed values, on an empty and on a seeded database."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
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
    storage.metrics.refresh(conv_id)  # the metrics' rows (answers, firsts, feedback), from the backdated ones


def handoff(where: Any, conv_id: str, reason: str, opened: str, replied: str | None = None,
            resolved: str | None = None, breached: bool = False) -> None:
    storage = _storage(where)
    h, _ = storage.handoffs.open(conv_id, reason, "en", "q", [])
    with storage.db.tx() as tx:
        tx.execute(
            "UPDATE handoffs SET created_at = ?, first_reply_at = ?, resolved_at = ?, status = ? WHERE id = ?",
            (opened, replied, resolved, "resolved" if resolved else "open", h.id),
        )
    storage.metrics.refresh(conv_id)
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


# -- the narrow rows the metrics read (migration m012): written with the message, handoff and feedback
# they come from, backfilled by the migration, kept by purge, mask, backup and restore ------------------


def _url(storage: Storage, request: pytest.FixtureRequest) -> str | None:
    return None if storage.backend == "sqlite" else str(request.getfixturevalue("postgres_url"))


def everything(storage: Storage) -> list[dict[str, Any]]:
    """The metrics of the seeded weeks, per day and per week, with and without filters."""
    cal = Calendars.parse(None)
    return [
        compute(storage, cal, WEEKS, NOW, titles=TITLES),
        compute(storage, cal, WEEKS, NOW, group="week", titles=TITLES),
        compute(storage, cal, Window(WEEKS.since, WEEKS.until, lang="zh"), NOW, titles=TITLES),
        compute(storage, cal, Window(WEEKS.since, WEEKS.until, channel="email"), NOW, titles=TITLES),
    ]


def metrics_rows(storage: Storage) -> list[Any]:
    """What the metrics read besides handoffs: each conversation's stored firsts and counts, each answer."""
    with storage.db.tx() as tx:
        convs = tx.all(
            "SELECT id, first_answer_at, first_handoff_at, first_reason, feedback_up, feedback_down "
            "FROM conversations ORDER BY id"
        )
        answers = tx.all("SELECT * FROM answers ORDER BY message_id")
    return [dict(r) for r in convs] + [dict(r) for r in answers]


def back_to_m010(storage: Storage) -> None:
    """Put the database back into the shape migration m010 left it in (the rows stay): what an existing
    desk's database looks like before it is upgraded."""
    from escalation.storage.sqlite_migrations import m010_statements

    statements = [
        "DROP INDEX conversations_metrics",
        "DROP INDEX answers_conversation",
        "DROP INDEX answers_started",
        "DROP INDEX handoffs_times",
        "DROP TABLE answers",
        *(f"ALTER TABLE conversations DROP COLUMN {c}"
          for c in ("first_answer_at", "first_handoff_at", "first_reason", "feedback_up", "feedback_down")),
        *(s for s in m010_statements(storage.backend)
          if s.split()[2] in ("conversations_created", "messages_answers", "handoffs_created")),
        "DELETE FROM _sqlite_migrations WHERE name = 'm012_metrics_answers'"
        if storage.backend == "sqlite" else "DELETE FROM schema_migrations WHERE version = 9",
    ]
    with storage.db.tx() as tx:
        for statement in statements:
            tx.execute(statement)


def _shape(path: Path) -> tuple[list[str], list[str]]:
    import sqlite_utils

    db = sqlite_utils.Database(path)
    try:
        columns = [str(r[1]) for r in db.execute("PRAGMA table_info(conversations)").fetchall()]
        objects = [f"{r[0]} {r[1]}" for r in db.execute("SELECT type, name FROM sqlite_master ORDER BY 1, 2").fetchall()]
        return columns, [o for o in objects if "_migrations" not in o]
    finally:
        db.close()


def test_migration_m012_backfills_what_the_metrics_read(
    storage: Storage, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    seed_two_days(storage)
    seed_entries(storage)
    expected, rows = everything(storage), metrics_rows(storage)
    assert expected[0]["summary"]["conversations"] == 15 and expected[0]["entries"][0]["answers"] == 5
    back_to_m010(storage)
    url = _url(storage, request)
    if storage.backend == "sqlite":  # the same tables, columns and indexes as a database migrated up to m010
        import sqlite_utils

        from escalation.storage.sqlite_migrations import migrations

        older = tmp_path / "m010.sqlite"
        migrations.apply(sqlite_utils.Database(older), stop_before="m012_metrics_answers")
        # what migrations after m012 made stays in the rolled-back database; leave it out of both
        upto, full = tmp_path / "m012.sqlite", tmp_path / "all.sqlite"
        migrations.apply(sqlite_utils.Database(upto), stop_before="m013_incidents")
        migrations.apply(sqlite_utils.Database(full))
        later = set(_shape(full)[1]) - set(_shape(upto)[1])
        columns, objects = _shape(tmp_path / "helpdesk.sqlite")
        assert (columns, [o for o in objects if o not in later]) == _shape(older)
    again = open_storage(url, tmp_path, listen=False)  # applies m012 to the rows stored before it
    try:
        assert again.db.pending() == []
        assert metrics_rows(again) == rows
        assert everything(again) == expected
    finally:
        again.close()


def test_rows_written_on_write_are_the_backfills_and_follow_feedback(storage: Storage) -> None:
    """Through the repositories only (no backdating): answers, a clarify, feedback set and changed, a
    handoff after an answer and one without; the rows kept on write equal those the migration computes."""
    cal = Calendars.parse(None)
    today = datetime.now(UTC).date()
    window, later = Window(today, today + timedelta(days=1)), datetime.now(UTC) + timedelta(days=8)
    conv = storage.conversations.create("en")
    storage.conversations.add_message(conv.id, "customer", "q")
    storage.conversations.add_message(conv.id, "bot", "did you mean", {"kind": "clarify", "sources": [{"id": "x"}]})
    meta = {"kind": "answer", "sources": [{"id": "credit-note", "title": "t", "lang": "en"}]}
    m = storage.conversations.add_message(conv.id, "bot", "a", meta)
    other = storage.conversations.create("zh")
    storage.handoffs.open(other.id, "low_confidence", "zh", "q", [])

    def look() -> tuple[Any, ...]:
        r = compute(storage, cal, window, later, titles=TITLES)
        s, (e,) = r["summary"], [e for e in r["entries"] if e["id"] == "credit-note"]
        return s["feedback"], s["automation"]["24h"]["automated"], s["csat"], (e["answers"], e["up"], e["down"])

    def rows_match_backfill() -> None:
        kept = metrics_rows(storage)
        for c in (conv.id, other.id):
            storage.metrics.refresh(c)
        assert metrics_rows(storage) == kept

    assert look() == ({"up": 0, "down": 0}, 1, None, (1, 0, 0))
    rows_match_backfill()
    storage.conversations.set_feedback(m.id, "yes")
    assert look() == ({"up": 1, "down": 0}, 1, 1.0, (1, 1, 0))
    storage.conversations.set_feedback(m.id, "no")
    assert look() == ({"up": 0, "down": 1}, 0, 0.0, (1, 0, 1))
    rows_match_backfill()
    storage.conversations.set_feedback(m.id, "wrong")  # "not what I asked": down in CSAT, not a thumbs down
    assert look() == ({"up": 0, "down": 1}, 0, 0.0, (1, 0, 0))
    storage.handoffs.open(conv.id, "wrong_answer", "en", "q", [])
    storage.conversations.add_message(other.id, "bot", "a2", {"kind": "answer", "sources": []})  # no entry
    r = compute(storage, cal, window, later, titles=TITLES)
    assert r["summary"]["handoffs_by_reason"] == {
        "low_confidence": {"count": 1, "rate": 0.5}, "wrong_answer": {"count": 1, "rate": 0.5}
    }
    assert [e["not_what_i_asked"] for e in r["entries"] if e["id"] == "credit-note"] == [1]
    rows_match_backfill()


def test_mask_keeps_and_purge_drops_a_conversations_metrics(storage: Storage) -> None:
    seed_two_days(storage)
    seed_entries(storage)
    without = everything(storage)
    extra = conversation(storage, at(23, 14), answer=at(23, 14, 1), feedback="yes", entry="credit-note")
    answered(storage, extra, at(23, 14, 5), "wrong", "vat-export")
    handoff(storage, extra, "wrong_answer", at(23, 14, 6))
    storage.conversations.add_message(extra, "customer", "my phone is +44 20 7946 0958")
    with_extra = everything(storage)
    assert with_extra != without and with_extra[0]["summary"]["conversations"] == without[0]["summary"]["conversations"] + 1
    assert storage.conversations.mask(extra, lambda text: "[masked]") > 0
    assert everything(storage) == with_extra  # masked: the personal data goes, the metrics stay
    storage.conversations.purge(extra)
    assert everything(storage) == without  # purged: as if it had never been
    with storage.db.tx() as tx:
        assert tx.one("SELECT COUNT(*) AS n FROM answers WHERE conversation_id = ?", (extra,))["n"] == 0  # type: ignore[index]


def test_backup_and_restore_keep_the_metrics(storage: Storage, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """A backup of this schema restores to the same metrics; so does one taken before m012 (the restore
    migrates it, backfilling the rows)."""
    from escalation.storage.backup import backup, restore

    seed_two_days(storage)
    seed_entries(storage)
    expected = everything(storage)
    url = _url(storage, request)

    def target(name: str) -> str:
        if storage.backend == "sqlite":
            return f"sqlite:///{tmp_path / name}.sqlite"
        from tests.postgres import new_database

        return str(new_database(str(request.getfixturevalue("postgres_server"))))

    for name in ("current", "before-m012"):
        if name == "before-m012":
            back_to_m010(storage)
        out = tmp_path / f"{name}.backup"
        backup(url, tmp_path, out)
        into = target(name)
        info = restore(into, tmp_path, out)
        assert info.applied == ([] if name == "current" else ["m012_metrics_answers" if storage.backend == "sqlite" else "0009_metrics_answers"])
        restored = open_storage(into, tmp_path, listen=False)
        try:
            assert everything(restored) == expected
        finally:
            restored.close()
