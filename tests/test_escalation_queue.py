import threading
from pathlib import Path

import pytest
from sqlite_utils import Database

from escalation import migrations
from escalation.errors import InvalidTransition, TicketAlreadyClaimed
from escalation.queue import EscalationQueue
from escalation.store import SqliteStore
from knowledge.tickets import load_tickets


def test_migrations_apply_twice(tmp_path: Path) -> None:
    db = Database(tmp_path / "x.sqlite")
    first = migrations.apply(db)
    assert first and migrations.apply(db) == []
    assert {"conversations", "messages", "handoffs", "agents", "faq_drafts"} <= set(db.table_names())


@pytest.fixture()
def queue(tmp_path: Path) -> EscalationQueue:
    return EscalationQueue(SqliteStore(tmp_path / "helpdesk.sqlite"), tmp_path / "tickets" / "resolved.jsonl")


def test_handoff_claim_reply_resolve(queue: EscalationQueue, tmp_path: Path) -> None:
    store = queue.store
    conv = store.create_conversation("en")
    store.add_message(conv.id, "customer", "Where do I change my bank details on invoices?")
    h = queue.hand_off(
        conv.id,
        "low_confidence",
        "en",
        "Where do I change my bank details on invoices?",
        [{"id": "invoice-template", "title": "t", "score": 0.5}],
    )
    assert queue.hand_off(conv.id, "low_confidence", "en", "again", []).id == h.id  # never two open
    assert store.get_conversation(conv.id).status == "handoff"
    assert store.list_handoffs("open")[0].candidates[0]["id"] == "invoice-template"

    claimed = queue.claim(h.id, "alice")
    assert claimed.status == "claimed" and claimed.claimed_by == "alice"
    with pytest.raises(TicketAlreadyClaimed):
        queue.claim(h.id, "bob")
    with pytest.raises(TicketAlreadyClaimed):
        queue.reply(h.id, "bob", "hi")
    msg = queue.reply(h.id, "alice", "Settings › Templates › Bank details.")
    assert [m.role for m in store.messages(conv.id)] == ["customer", "agent"] and msg.author == "alice"

    res = queue.resolve(h.id, "alice", "Settings › Templates › Bank details.", faq_id="invoice-template")
    assert res.handoff.status == "resolved" and res.handoff.first_reply_at
    assert store.get_conversation(conv.id).status == "bot"
    tickets, problems = load_tickets(tmp_path / "tickets")
    assert not problems and tickets[0].faq_id == "invoice-template"
    assert tickets[0].question == "Where do I change my bank details on invoices?"
    with pytest.raises(InvalidTransition):
        queue.reply(h.id, "alice", "late")


def test_exactly_one_agent_wins_a_claim_race(queue: EscalationQueue) -> None:
    conv = queue.store.create_conversation("zh")
    h = queue.hand_off(conv.id, "customer_request", "zh", "转人工", [])
    winners: list[str] = []
    losers: list[str] = []
    barrier = threading.Barrier(8)

    def grab(agent: str) -> None:
        barrier.wait()
        try:
            queue.claim(h.id, agent)
            winners.append(agent)
        except TicketAlreadyClaimed:
            losers.append(agent)

    threads = [threading.Thread(target=grab, args=(f"agent{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1 and len(losers) == 7
    assert queue.store.get_handoff(h.id).claimed_by == winners[0]


def test_feedback_only_on_bot_messages(queue: EscalationQueue) -> None:
    from escalation.errors import NotFound

    conv = queue.store.create_conversation("en")
    c = queue.store.add_message(conv.id, "customer", "hi")
    b = queue.store.add_message(conv.id, "bot", "hello", {"kind": "answer"})
    assert queue.store.set_feedback(b.id, "yes").feedback == "yes"
    with pytest.raises(NotFound):
        queue.store.set_feedback(c.id, "no")
