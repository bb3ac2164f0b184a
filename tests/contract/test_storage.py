"""One contract for both storage backends: the real SQLite file and a real PostgreSQL server.

Every invariant the desk relies on is checked against each engine: migrations, one open handoff
per conversation, one winner per claim and per resolve, tokens and sessions, tickets, and domain
events delivered on commit only.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from escalation.accounts import Accounts
from escalation.errors import HandoffAlreadyClaimed, InvalidTransition, NotFound
from escalation.events import Event, EventKind
from escalation.models import ConversationStatus, HandoffStatus, IncidentQuestion, IncidentStatus
from escalation.queue import EscalationQueue
from escalation.storage import SchemaTooNew, Storage, open_storage
from knowledge.tickets import Ticket


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture()
def storage(url: str | None, tmp_path: Path) -> Iterator[Storage]:
    s = open_storage(url, tmp_path)
    yield s
    s.close()


@pytest.fixture()
def queue(storage: Storage) -> EscalationQueue:
    return EscalationQueue(storage)


def collect(storage: Storage) -> list[Event]:
    got: list[Event] = []
    storage.bus.subscribe(got.append)
    return got


def wait_for(pred, timeout: float = 3.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return bool(pred())


def run_together(n: int, fn) -> list[object]:  # type: ignore[no-untyped-def]
    """Call ``fn(i)`` from ``n`` threads released at once; each result or the exception raised."""
    barrier = threading.Barrier(n)
    out: list[object] = [None] * n

    def call(i: int) -> None:
        barrier.wait()
        try:
            out[i] = fn(i)
        except Exception as exc:
            out[i] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_migrations_apply_once_and_a_newer_database_is_refused(url: str | None, tmp_path: Path) -> None:
    s = open_storage(url, tmp_path)
    try:
        assert s.db.pending() == [] and s.db.migrate() == []
        with s.db.tx() as tx:  # what a newer version of the desk would have recorded
            if s.backend == "sqlite":
                tx.execute(
                    "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES (?,?,?)",
                    ("invoice-helpdesk", "m999_from_the_future", "2030-01-01"),
                )
            else:
                tx.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (999, "from_the_future"))
    finally:
        s.close()
    with pytest.raises(SchemaTooNew, match="newer|upgrade"):
        open_storage(url, tmp_path)


def test_conversation_messages_and_feedback(storage: Storage) -> None:
    conv = storage.conversations.create("en")
    c = storage.conversations.add_message(conv.id, "customer", "Where is the VAT report?", {"lang": "en"})
    b = storage.conversations.add_message(conv.id, "bot", "Reports › VAT", {"kind": "answer"})
    assert [m.id for m in storage.conversations.messages(conv.id)] == [c.id, b.id]
    assert [m.id for m in storage.conversations.messages(conv.id, after_id=c.id)] == [b.id]
    assert storage.conversations.get_message(c.id).meta == {"lang": "en"}
    assert storage.conversations.set_feedback(b.id, "yes").feedback == "yes"
    with pytest.raises(NotFound):
        storage.conversations.set_feedback(c.id, "no")  # only bot messages take feedback
    with pytest.raises(NotFound):
        storage.conversations.get("nope")
    storage.conversations.update(conv.id, lang="zh", state={"pending": ["x"]})
    got = storage.conversations.get(conv.id)
    assert got.lang == "zh" and got.state == {"pending": ["x"]} and got.status == ConversationStatus.BOT


def test_handoff_lifecycle(storage: Storage, queue: EscalationQueue) -> None:
    conv = storage.conversations.create("en")
    storage.conversations.add_message(conv.id, "customer", "Where do I change my bank details?")
    h = queue.hand_off(conv.id, "low_confidence", "en", "Where do I change my bank details?", [{"id": "t"}])
    assert queue.hand_off(conv.id, "customer_request", "en", "again", []).id == h.id  # never two open
    assert storage.conversations.get(conv.id).status == ConversationStatus.HANDOFF
    assert [x.id for x in storage.handoffs.find(HandoffStatus.OPEN)] == [h.id]

    assert queue.claim(h.id, "alice").claimed_by == "alice"
    assert queue.claim(h.id, "alice").status == HandoffStatus.CLAIMED  # claiming your own again is fine
    with pytest.raises(HandoffAlreadyClaimed):
        queue.claim(h.id, "bob")
    with pytest.raises(HandoffAlreadyClaimed):
        queue.reply(h.id, "bob", "hi")
    msg = queue.reply(h.id, "alice", "Settings › Company › Bank details.")
    assert msg.author == "alice" and storage.handoffs.get(h.id).first_reply_at == msg.created_at

    res = queue.resolve(h.id, "alice", "Settings › Company › Bank details.", faq_id="company-details")
    assert res.handoff.status == HandoffStatus.RESOLVED and res.message is not None
    assert storage.conversations.get(conv.id).status == ConversationStatus.BOT
    [ticket] = storage.tickets.all()
    assert ticket.id == f"H-{h.id}" and ticket.faq_id == "company-details"
    assert ticket.question == "Where do I change my bank details?"
    with pytest.raises(InvalidTransition):
        queue.reply(h.id, "alice", "late")
    # the conversation may be handed off again, as a new handoff
    again = queue.hand_off(conv.id, "customer_request", "en", "one more thing", [])
    assert again.id != h.id and again.status == HandoffStatus.OPEN


def test_one_open_handoff_per_conversation_under_a_race(storage: Storage, queue: EscalationQueue) -> None:
    conv = storage.conversations.create("zh")
    got = run_together(8, lambda i: queue.hand_off(conv.id, "customer_request", "zh", f"转人工 {i}", []).id)
    assert all(isinstance(x, int) for x in got), got
    assert len(set(got)) == 1 and len(storage.handoffs.find(active=True)) == 1


def test_exactly_one_agent_wins_a_claim(storage: Storage, queue: EscalationQueue) -> None:
    conv = storage.conversations.create("zh")
    h = queue.hand_off(conv.id, "customer_request", "zh", "转人工", [])
    got = run_together(8, lambda i: queue.claim(h.id, f"agent{i}"))
    winners = [x for x in got if not isinstance(x, Exception)]
    assert len(winners) == 1 and all(isinstance(x, HandoffAlreadyClaimed) for x in got if x not in winners)
    assert storage.handoffs.get(h.id).claimed_by == winners[0].claimed_by  # type: ignore[attr-defined]


def test_concurrent_resolves_answer_once_and_write_one_ticket(storage: Storage, queue: EscalationQueue) -> None:
    conv = storage.conversations.create("en")
    h = queue.hand_off(conv.id, "low_confidence", "en", "Can I export to DATEV?", [])
    queue.claim(h.id, "alice")
    got = run_together(6, lambda i: queue.resolve(h.id, "alice", "Yes: Reports › Export › DATEV."))
    assert not [x for x in got if isinstance(x, Exception)], got  # the same request again is not an error
    firsts = [x for x in got if not x.repeated]  # type: ignore[union-attr]
    assert len(firsts) == 1, got
    assert {x.ticket.id for x in got} == {f"H-{h.id}"}  # type: ignore[union-attr]
    agent_msgs = [m for m in storage.conversations.messages(conv.id) if m.role == "agent"]
    assert len(agent_msgs) == 1 and len(storage.tickets.all()) == 1
    # another answer, or another agent, after it is resolved: refused
    with pytest.raises(InvalidTransition):
        queue.resolve(h.id, "alice", "Something else")
    with pytest.raises(InvalidTransition):
        queue.resolve(h.id, "bob", "Yes: Reports › Export › DATEV.")


def test_retried_messages_are_stored_once(storage: Storage) -> None:
    conv = storage.conversations.create("en")
    got = run_together(
        6, lambda i: storage.conversations.add_once(conv.id, "customer", "hello", "client-id-0123456789abcdef")
    )
    assert not [x for x in got if isinstance(x, Exception)], got
    assert sum(1 for _, new in got if new) == 1  # type: ignore[misc]
    assert len({m.id for m, _ in got}) == 1  # type: ignore[misc]
    assert [m.text for m in storage.conversations.messages(conv.id)] == ["hello"]


def test_agent_reply_retries_are_sent_once(storage: Storage, queue: EscalationQueue) -> None:
    conv = storage.conversations.create("en")
    h = queue.hand_off(conv.id, "low_confidence", "en", "q", [])
    got = run_together(5, lambda i: queue.reply(h.id, "alice", "On it.", "reply-id-0123456789abcdef"))
    assert not [x for x in got if isinstance(x, Exception)], got
    assert len({m.id for m in got}) == 1  # type: ignore[union-attr]
    assert [m.text for m in storage.conversations.messages(conv.id) if m.role == "agent"] == ["On it."]


def test_rate_limit_counters_are_shared_and_slide(storage: Storage) -> None:
    from escalation.ratelimit import Limit, RateLimited, RateLimiter

    now = [1000.0 * 60]
    limit = Limit.parse("chat_ip", "3/minute")
    a, b = RateLimiter(storage.rate_limits, lambda: now[0]), RateLimiter(storage.rate_limits, lambda: now[0])
    a.hit(limit, "1.2.3.4")
    b.hit(limit, "1.2.3.4")
    a.hit(limit, "1.2.3.4")
    with pytest.raises(RateLimited) as info:
        b.hit(limit, "1.2.3.4")  # another replica sees the same count
    assert 1 <= info.value.retry_after <= 60
    a.hit(limit, "5.6.7.8")  # another client is unaffected
    now[0] += 120  # two windows later everything has slid out
    a.hit(limit, "1.2.3.4")
    assert storage.rate_limits.purge(int(now[0])) >= 1


def test_secrets_are_created_once(storage: Storage) -> None:
    got = run_together(4, lambda i: storage.secrets.get_or_create("k", lambda: f"value{i}"))
    assert len(set(got)) == 1, got
    assert sum(1 for _ in range(3) if storage.secrets.claim_once("first")) == 1


def test_agents_taking_next_get_different_handoffs(storage: Storage, queue: EscalationQueue) -> None:
    ids = []
    for i in range(6):
        conv = storage.conversations.create("en")
        ids.append(queue.hand_off(conv.id, "customer_request", "en", f"q{i}", []).id)
    got = run_together(6, lambda i: storage.handoffs.claim_next(f"agent{i}"))
    taken = [x.id for x in got if x is not None and not isinstance(x, Exception)]  # type: ignore[attr-defined]
    assert sorted(taken) == sorted(ids), got
    assert storage.handoffs.claim_next("late") is None


def test_events_are_published_on_commit_only(storage: Storage, queue: EscalationQueue) -> None:
    got = collect(storage)
    conv = storage.conversations.create("en")
    m = storage.conversations.add_message(conv.id, "customer", "hello")
    h = queue.hand_off(conv.id, "customer_request", "en", "hello", [])
    queue.reply(h.id, "alice", "Hi, Alice here.")
    queue.resolve(h.id, "alice", "done", reply_to_customer=False)
    want = [
        EventKind.MESSAGE_ADDED,
        EventKind.HANDOFF_OPENED,
        EventKind.HANDOFF_CLAIMED,
        EventKind.MESSAGE_ADDED,
        EventKind.HANDOFF_REPLIED,
        EventKind.HANDOFF_RESOLVED,
        EventKind.KNOWLEDGE_CHANGED,
    ]
    assert wait_for(lambda: len(got) >= len(want))
    assert [e.kind for e in got] == want
    assert got[0].message_id == m.id and got[0].conversation_id == conv.id and got[1].handoff_id == h.id
    before = len(got)
    with pytest.raises(InvalidTransition):
        queue.resolve(h.id, "alice", "again")  # rolled back: nothing is published
    storage.conversations.add_message(conv.id, "customer", "marker")
    assert wait_for(lambda: len(got) > before)
    time.sleep(0.2)
    assert [e.kind for e in got[before:]] == [EventKind.MESSAGE_ADDED]


def test_events_reach_every_process_on_the_database(url: str | None, tmp_path: Path) -> None:
    if url is None:
        pytest.skip("an SQLite file serves one process; replicas need PostgreSQL")
    a, b = open_storage(url, tmp_path), open_storage(url, tmp_path)
    try:
        heard = collect(b)
        conv = a.conversations.create("en")
        a.conversations.add_message(conv.id, "customer", "hello from replica a")
        assert wait_for(lambda: any(e.kind == EventKind.MESSAGE_ADDED for e in heard), 2.0)
        assert heard[-1].conversation_id == conv.id
    finally:
        a.close()
        b.close()


def test_tokens_act_as_their_agent_until_revoked(storage: Storage) -> None:
    accounts = Accounts(storage.accounts)
    accounts.add("alice", "correct horse battery")
    with pytest.raises(NotFound):
        accounts.create_token("nobody")
    token_id, token = accounts.create_token("alice", "laptop")
    assert accounts.token_user(token) == "alice" and accounts.token_user(token + "x") is None
    assert token not in str(storage.accounts.tokens())  # only the hash is stored
    assert accounts.revoke_token(token_id) and not accounts.revoke_token(token_id)
    assert accounts.token_user(token) is None
    session = accounts.sign_in("alice", "correct horse battery")
    assert accounts.user_of(session) == "alice"
    accounts.sign_out(session)
    assert accounts.user_of(session) is None


def test_tickets_import_is_idempotent_and_versioned(storage: Storage) -> None:
    t1 = Ticket("T1", "How do I export to DATEV?", "Reports › Export", "en", "2026-01-01T00:00:00Z", "export")
    t2 = Ticket("T2", "发票抬头写错了", "作废重开", "zh", "2026-01-02T00:00:00Z")
    v0 = storage.tickets.version()
    assert storage.tickets.add_many([t1, t2]) == 2 and storage.tickets.add_many([t1]) == 0
    assert storage.tickets.version() != v0 and storage.tickets.all() == [t1, t2]


def test_outcomes_teach_rejected_answers_and_unanswerable_questions(
    storage: Storage, queue: EscalationQueue
) -> None:
    conv = storage.conversations.create("en")
    storage.conversations.add_message(conv.id, "customer", "change my login email", {"lang": "en"})
    b = storage.conversations.add_message(
        conv.id, "bot", "…", {"kind": "answer", "sources": [{"id": "reset-password"}]}
    )
    storage.conversations.set_feedback(b.id, "no")
    other = storage.conversations.create("zh")
    h = queue.hand_off(other.id, "low_confidence", "zh", "差额征税的发票怎么开", [])
    queue.resolve(h.id, "alice", "请联系税务顾问")
    assert storage.handoffs.outcomes() == [
        ("change my login email", "en", None, "reset-password"),
        ("差额征税的发票怎么开", "zh", None, None),
    ]


def test_messages_are_found_by_any_fragment_in_chinese_and_english(storage: Storage) -> None:
    a = storage.conversations.create("zh")
    b = storage.conversations.create("en")
    storage.conversations.add_message(a.id, "customer", "数电票怎么开红字发票？")
    storage.conversations.add_message(b.id, "customer", "How do I issue a Credit Note for invoice 50%_off?")
    storage.conversations.add_message(b.id, "bot", "Open the invoice and choose More › Create credit note.")
    assert [m.conversation_id for m in storage.conversations.search("红字发票")] == [a.id]
    assert [m.conversation_id for m in storage.conversations.search("发票")] == [a.id]  # two characters
    assert len(storage.conversations.search("credit note")) == 2  # any case
    assert [m.role for m in storage.conversations.search("credit note", role="customer")] == ["customer"]
    assert [m.conversation_id for m in storage.conversations.search("50%_")] == [b.id]  # wildcards are text
    assert storage.conversations.search("50%x") == [] and storage.conversations.search("  ") == []
    assert storage.conversations.search('"; DROP TABLE messages; --') == []
    # edits and deletes reach the index
    [m] = storage.conversations.search("红字发票")
    storage.conversations.mask(a.id, lambda t: t.replace("红字", "蓝字"))
    assert storage.conversations.search("红字发票") == [] and len(storage.conversations.search("蓝字发票")) == 1
    storage.conversations.purge(a.id)
    assert storage.conversations.search("蓝字发票") == []


# ------------------------------------------------------------------ outboxes and SLA breaches


def test_email_conversation_replies_queue_one_mail_each_and_leases_hand_out_each_row_once(
    storage: Storage, tmp_path: Path, url: str | None
) -> None:
    from datetime import UTC, datetime, timedelta

    conv = storage.conversations.create("en", channel="email", contact_email="a@example.com")
    widget = storage.conversations.create("en")
    bot = storage.conversations.add_message(conv.id, "bot", "answer")
    storage.conversations.add_message(conv.id, "customer", "question")  # customers' messages are not mailed
    storage.conversations.add_message(widget.id, "bot", "answer")  # nor widget conversations' replies
    rows = storage.mail.of_conversation(conv.id)
    assert [(r["message_id"], r["kind"], r["status"]) for r in rows] == [(bot.id, "reply", "queued")]
    assert storage.mail.of_conversation(widget.id) == []
    assert not storage.mail.queue(conv.id, "a@example.com", "reply", bot.id)  # one per message and kind

    # two senders (replicas) take due rows at once: each row goes to one of them
    other = open_storage(url, tmp_path)
    try:
        for i in range(20):
            storage.conversations.add_message(conv.id, "bot", f"answer {i}")
        now = datetime.now(UTC)
        taken = run_together(2, lambda i: (storage if i == 0 else other).mail.take_due(now, limit=50))
        ids = [r["id"] for batch in taken for r in batch]  # type: ignore[attr-defined]
        assert len(ids) == 21 and len(set(ids)) == 21
        assert storage.mail.take_due(now) == []  # leased
        assert len(storage.mail.take_due(now + timedelta(minutes=5), limit=50)) == 21  # the lease ran out (a sender died)
    finally:
        other.close()

    # a permanent failure tells the agent in the conversation, once
    got = collect(storage)
    assert storage.mail.failed(rows[0]["id"], "550 user unknown", status="bounced")
    assert not storage.mail.failed(rows[0]["id"], "550 user unknown", status="bounced")
    note = storage.conversations.messages(conv.id)[-1]
    assert note.role == "system" and "550 user unknown" in note.text and note.meta["kind"] == "mail_failed"
    assert wait_for(lambda: any(e.kind == EventKind.MESSAGE_ADDED for e in got))


def test_missed_agent_replies_are_queued_once_and_not_when_seen(storage: Storage, queue: EscalationQueue) -> None:
    from datetime import UTC, datetime, timedelta

    conv = storage.conversations.create("en")
    storage.conversations.set_contact(conv.id, "b@example.com")
    h = queue.hand_off(conv.id, "customer_request", "en", "help", [])
    seen = queue.reply(h.id, "alice", "seen one")
    storage.conversations.mark_seen(conv.id, seen.id)
    unseen = queue.reply(h.id, "alice", "unseen one")
    later, long_ago = datetime.now(UTC) + timedelta(minutes=6), datetime.now(UTC) - timedelta(days=1)
    assert storage.mail.queue_missed(later, long_ago) == 1
    assert storage.mail.queue_missed(later, long_ago) == 0
    assert [(r["message_id"], r["kind"]) for r in storage.mail.of_conversation(conv.id)] == [(unseen.id, "missed")]
    # retention masks the address too, and where mail went
    storage.conversations.mask(conv.id, lambda text: text)
    assert storage.conversations.get(conv.id).contact_email is None
    assert [r["to_addr"] for r in storage.mail.of_conversation(conv.id)] == ["[masked]"]


def test_an_sla_breach_is_recorded_once_with_its_event_and_webhook(storage: Storage, queue: EscalationQueue) -> None:
    conv = storage.conversations.create("en")
    h = queue.hand_off(conv.id, "low_confidence", "en", "my card 6222021234567890128", [])
    got = collect(storage)
    wins = run_together(6, lambda i: storage.sla.breach(h, "first_response", h.created_at, "2026-12-07T09:30", "std"))
    assert wins.count(True) == 1
    assert wait_for(lambda: [e.kind for e in got].count(EventKind.SLA_BREACHED) == 1)
    log = storage.webhooks.log()
    assert [r["event"] for r in log] == ["sla.breached", "handoff.created"]
    assert "6222021234567890128" not in log[0]["payload"]  # the question leaves redacted
    assert storage.webhooks.skip_queued() == 2 and storage.webhooks.counts() == {"skipped": 2}


def test_metrics_rows_on_both_engines(storage: Storage, queue: EscalationQueue) -> None:
    conv = storage.conversations.create("zh")
    storage.conversations.add_message(conv.id, "customer", "问题")
    answer = storage.conversations.add_message(conv.id, "bot", "答案", {"kind": "answer", "sources": []})
    storage.conversations.set_feedback(answer.id, "yes")
    storage.conversations.add_message(conv.id, "bot", "请选择", {"kind": "clarify"})
    h = queue.hand_off(conv.id, "low_confidence", "zh", "问题", [])
    storage.sla.breach(h, "first_response", h.created_at, h.created_at, "std")
    (row,) = storage.metrics.conversations("2000-01-01", "2100-01-01", "zh", "widget")
    assert row["first_answer"] == answer.created_at and row["first_handoff"] == h.created_at
    assert (row["reason"], int(row["up"]), int(row["down"])) == ("low_confidence", 1, 0)
    assert storage.metrics.conversations("2000-01-01", "2100-01-01", "en") == []
    (hrow,) = storage.metrics.handoffs("2000-01-01", "2100-01-01", channel="widget")
    assert hrow["id"] == h.id and bool(hrow["breached"]) and hrow["channel"] == "widget"


def _asked(storage: Storage, text: str, lang: str = "en", at: str = "2026-12-01T02:00:00+00:00") -> IncidentQuestion:
    conv = storage.conversations.create(lang)
    storage.conversations.add_message(conv.id, "customer", text)
    return IncidentQuestion(conv.id, lang, "widget", text, at)


def test_an_incident_opens_once_with_its_links_timeline_and_webhook(storage: Storage, queue: EscalationQueue) -> None:
    got = collect(storage)
    first = [
        _asked(storage, "invoices stuck in draft since 23:00, mail me at li@example.com", "en", "2026-12-01T02:00:10+00:00"),
        _asked(storage, "发票没生成", "zh", "2026-12-01T02:00:40+00:00"),
        _asked(storage, "E5003 sync failed", "en", "2026-12-01T02:01:05+00:00"),
    ]
    detection = {"count": 3, "expected": 0.1, "p_value": 1e-6, "regime": "off"}
    wins = run_together(
        4, lambda i: storage.incidents.open("k1", "invoices stuck in draft", "3 customers", first, detection,
                                            lambda n: f"https://help.example.com/console#incident-{n}")
    )
    assert [w[1] for w in wins].count(True) == 1  # type: ignore[index]
    incident = storage.incidents.get(wins[0][0]["id"])  # type: ignore[index]
    assert incident["status"] == "suspected" and incident["questions"] == 3 and incident["conversations"] == 3
    assert incident["languages"] == ["en", "zh"] and incident["channels"] == ["widget"]
    assert (incident["first_seen"], incident["last_seen"]) == ("2026-12-01T02:00:10+00:00", "2026-12-01T02:01:05+00:00")
    assert wait_for(lambda: [e.kind for e in got].count(EventKind.INCIDENT_SUSPECTED) == 1)
    (hook,) = storage.webhooks.log()
    assert hook["event"] == "incident.suspected"
    body = json.loads(hook["payload"])
    assert body["data"]["id"] == incident["id"] and body["data"]["questions"] == 3
    assert body["data"]["console_url"] == f"https://help.example.com/console#incident-{incident['id']}"
    assert body["text"].startswith(":rotating_light: Suspected incident") and body["data"]["pager"]["severity"]
    assert "li@example.com" not in hook["payload"]  # questions leave redacted

    # more questions: one link per conversation, concurrent links lose nothing
    more = [_asked(storage, f"invoice not generated {i}", "en", f"2026-12-01T02:0{2 + i}:00+00:00") for i in range(5)]
    assert run_together(5, lambda i: storage.incidents.link(incident["id"], more[i])) == [True] * 5
    h = queue.hand_off(more[0].conversation_id, "low_confidence", "en", more[0].question, [])
    again = IncidentQuestion(more[0].conversation_id, "en", "email", "still nothing", "2026-12-01T02:09:00+00:00", h.id)
    assert storage.incidents.link(incident["id"], again) is False
    incident = storage.incidents.get(incident["id"])
    assert incident["questions"] == 9 and incident["conversations"] == 8 and incident["channels"] == ["widget"]
    assert incident["last_seen"] == "2026-12-01T02:09:00+00:00"
    links = storage.incidents.links(incident["id"])
    assert len(links) == 8 and {x["handoff_id"] for x in links} == {None, h.id}
    with pytest.raises(NotFound):
        storage.incidents.link(999999, again)

    # confirm once; a dismiss after that is refused; the timeline keeps each step
    outs = run_together(3, lambda i: storage.incidents.set_status(incident["id"], IncidentStatus.CONFIRMED, f"a{i}",
                                                                  note_en="Invoice generation is delayed"))
    assert sum(isinstance(o, dict) for o in outs) == 1 and sum(isinstance(o, InvalidTransition) for o in outs) == 2
    with pytest.raises(InvalidTransition):
        storage.incidents.set_status(incident["id"], IncidentStatus.DISMISSED, "b")
    with pytest.raises(NotFound):
        storage.incidents.set_status(999999, IncidentStatus.CONFIRMED, "b")
    assert [e["kind"] for e in storage.incidents.timeline(incident["id"])] == ["detected", "confirmed"]
    assert storage.incidents.get(incident["id"])["note_en"] == "Invoice generation is delayed"
    assert [i["id"] for i in storage.incidents.all("confirmed")] == [incident["id"]]
    assert storage.incidents.all("suspected") == [] and storage.incidents.open_keys() == {"k1": incident["id"]}
    storage.incidents.set_status(incident["id"], IncidentStatus.RESOLVED, "a0")
    with pytest.raises(InvalidTransition):  # a resolved incident takes no more links
        storage.incidents.link(incident["id"], _asked(storage, "invoices missing again"))

    # retention: a purged conversation leaves its incident; a masked one keeps its link, masked
    storage.conversations.mask(first[0].conversation_id, lambda t: "[masked]")
    assert {x["question"] for x in storage.incidents.links(incident["id"])} >= {"[masked]"}
    storage.conversations.purge(first[1].conversation_id)
    assert len(storage.incidents.links(incident["id"])) == 7


def test_an_incident_answers_all_once_and_resolving_tells_each_customer_once(
    storage: Storage, queue: EscalationQueue
) -> None:
    qs = [_asked(storage, f"invoices not generated {i}", "zh" if i % 2 else "en") for i in range(4)]
    mail_conv = storage.conversations.create("en", channel="email", contact_email="ann@example.com")
    storage.conversations.add_message(mail_conv.id, "customer", "invoices stuck")
    qs.append(IncidentQuestion(mail_conv.id, "en", "email", "invoices stuck", "2026-12-01T02:03:00+00:00"))
    incident, _ = storage.incidents.open("k2", "invoices not generated", "5 customers", qs, {"count": 5})
    h = queue.hand_off(qs[0].conversation_id, "low_confidence", "en", qs[0].question, [])
    storage.incidents.link(incident["id"], IncidentQuestion(qs[0].conversation_id, "en", "widget", "x",
                                                            "2026-12-01T02:04:00+00:00", h.id))
    h2 = queue.hand_off(qs[1].conversation_id, "low_confidence", "zh", qs[1].question, [])
    storage.incidents.set_link_handoff(incident["id"], qs[1].conversation_id, h2.id)
    storage.conversations.add_message(qs[1].conversation_id, "customer", "还有一个问题")  # wrote again after the link

    # one reply for all, concurrently retried under one client id: one message per conversation
    outs = run_together(3, lambda i: storage.incidents.reply(incident["id"], "li", "We are on it.", "reply-0000000000000001"))
    assert sum(o[1] for o in outs) == 1  # type: ignore[index]
    for q in qs:
        assert [m.text for m in storage.conversations.messages(q.conversation_id) if m.role == "agent"] == ["We are on it."]

    notices = {"en": "Fixed.", "zh": "已修复。"}
    outs = run_together(4, lambda i: storage.incidents.resolve(incident["id"], f"a{i}", notices, "Fixed."))
    won = [o for o in outs if isinstance(o, tuple)]
    assert len(won) == 1 and won[0][1] == 5 and sum(isinstance(o, InvalidTransition) for o in outs) == 3
    for q in qs:
        told = [m.text for m in storage.conversations.messages(q.conversation_id) if m.meta.get("kind") == "incident_resolved"]
        assert told == [notices[q.lang]]
    assert storage.handoffs.get(h.id).status == "resolved"
    assert storage.handoffs.get(h2.id).status != "resolved"  # the customer wrote again after being linked
    assert all(x["notified_at"] for x in storage.incidents.links(incident["id"]))
    kinds = [e["kind"] for e in storage.incidents.timeline(incident["id"])]
    assert kinds == ["detected", "replied", "resolved", "customers_notified"]
    assert storage.incidents.timeline(incident["id"])[-1]["detail"]["count"] == 5
    with storage.db.tx() as tx:  # the email customer's reply and notice are each queued once
        assert len(tx.all("SELECT id FROM mail_outbox WHERE conversation_id = ?", (mail_conv.id,))) == 2
    with pytest.raises(InvalidTransition):
        storage.incidents.resolve(incident["id"], "b", notices)
    with pytest.raises(NotFound):
        storage.incidents.reply(999999, "li", "x")
