"""Who may do what, limits, personal data: the customer identity, abuse limits, PII redaction, retention."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from escalation.identity import user_hash
from tests.support import AGENT, RELAXED_LIMITS, agent_headers, ask, conv_headers, make_settings

SECRET = "s" * 40
PII = "我的邮箱 li.wei@example.com，手机13812345678，卡号 6222 0212 3456 7894，身份证 11010519491231002X"


@pytest.fixture()
def desk(data_dir: Path, embedders: list) -> Iterator[Any]:
    """A desk that verifies customers, with small limits on chat and sign-in."""
    from fastapi.testclient import TestClient

    from bot.services import build_services
    from bot.web.app import create_app

    limits = {**RELAXED_LIMITS, "chat_conversation": "5/minute", "sign_in_account": "3/15min", "handoff_ip": "2/10min"}
    settings = make_settings(data_dir, identity_secret=SECRET, rate_limits=limits)
    svc = build_services(settings, embedders=embedders)
    try:
        with TestClient(create_app(settings, svc)) as client:
            yield client, svc
    finally:
        svc.close()


def customer_token(sub: str, **claims: Any) -> str:
    now = int(time.time())
    return jwt.encode({"sub": sub, "iat": now, "exp": now + 600, "name": "Li Wei", **claims}, SECRET, "HS256")


def test_a_verified_customer_sees_their_conversations_on_any_device(desk: Any) -> None:
    client, _ = desk
    me = {"X-Customer-Token": customer_token("cust-42", email="li@example.com")}
    first = ask(client, "How do I reset my password?", headers=me)
    # another device: no conversation token, only the identity the invoice app signed
    listed = client.get("/api/customer/conversations", headers=me).json()
    assert [c["conversation_id"] for c in listed] == [first["conversation_id"]]
    cid = first["conversation_id"]
    assert client.get(f"/api/conversations/{cid}/messages", headers=me).status_code == 200
    other = {"X-Customer-Token": customer_token("cust-43")}
    assert client.get(f"/api/conversations/{cid}/messages", headers=other).status_code == 404
    assert client.get("/api/customer/conversations", headers=other).json() == []
    # the address the invoice app vouches for is where replies the customer does not see are mailed
    _, services = desk
    assert services.storage.conversations.get(cid).contact_email == "li@example.com"


@pytest.mark.parametrize(
    "token",
    [
        jwt.encode({"sub": "cust-42", "exp": int(time.time()) + 600}, "another-secret-" * 3, "HS256"),  # forged
        jwt.encode({"sub": "cust-42", "exp": int(time.time()) - 3600}, SECRET, "HS256"),  # expired
        jwt.encode({"sub": "cust-42"}, SECRET, "HS256"),  # no expiry
        jwt.encode(  # lives a year
            {"sub": "cust-42", "iat": int(time.time()), "exp": int(time.time()) + 365 * 86400}, SECRET, "HS256"
        ),
        jwt.encode({"sub": "cust-42", "exp": int(time.time()) + 600}, None, "none"),  # alg none
        "not.a.jwt",
    ],
    ids=["forged", "expired", "no-exp", "too-long-lived", "alg-none", "garbage"],
)
def test_forged_or_expired_identity_gets_a_clear_401(desk: Any, token: str) -> None:
    client, _ = desk
    r = client.post("/api/chat", json={"message": "hi"}, headers={"X-Customer-Token": token})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_identity", r.text
    assert r.json()["error"]["message"]


def test_a_replayed_identity_token_opens_only_its_own_customers_conversations(desk: Any) -> None:
    client, _ = desk
    victim = ask(client, "How do I reset my password?", headers={"X-Customer-Token": customer_token("victim")})
    stolen = {"X-Customer-Token": customer_token("attacker")}
    for _ in range(3):  # the attacker's own valid token, replayed against someone else's conversation
        r = client.get(f"/api/conversations/{victim['conversation_id']}/messages", headers=stolen)
        assert r.status_code == 404


def test_user_hash_verifies_the_customer_id() -> None:
    from escalation.identity import IdentityVerifier, InvalidIdentity

    v = IdentityVerifier(SECRET)
    assert v.verify_hash("cust-42", user_hash(SECRET, "cust-42"), {"name": "Li"}).id == "cust-42"
    with pytest.raises(InvalidIdentity):
        v.verify_hash("cust-43", user_hash(SECRET, "cust-42"), {})


def test_limits_trip_with_429_and_retry_after(desk: Any) -> None:
    client, _ = desk
    first = ask(client, "How do I reset my password?")
    cid = first["conversation_id"]
    codes = [
        client.post("/api/chat", json={"message": f"again {i}", "conversation_id": cid}, headers=conv_headers(cid))
        for i in range(8)
    ]
    limited = [r for r in codes if r.status_code == 429]
    assert limited and all(int(r.headers["Retry-After"]) >= 1 for r in limited)
    assert limited[0].json()["error"]["code"] == "rate_limited"
    assert ask(client, "Where is the VAT report?")["reply"]  # another conversation is unaffected


def test_sign_in_is_throttled_per_account_and_unknown_users_cost_the_same(desk: Any) -> None:
    client, svc = desk
    svc.accounts.add("carol", "carol-pass-123")
    origin = {"Origin": "http://testserver"}
    statuses = [
        client.post("/api/console/login", json={"username": "carol", "password": f"wrong{i}"}, headers=origin).status_code
        for i in range(5)
    ]
    assert statuses[:3] == [401, 401, 401] and statuses[3:] == [429, 429]
    right = client.post("/api/console/login", json={"username": "carol", "password": "carol-pass-123"}, headers=origin)
    assert right.status_code == 429  # the account stays locked until the window passes

    def median_ms(name: str) -> float:
        times = []
        for _ in range(7):
            t = time.perf_counter()
            svc.accounts.check_password(name, "nope-nope")
            times.append((time.perf_counter() - t) * 1000)
        return sorted(times)[3]

    known, unknown = median_ms("carol"), median_ms("nobody-by-this-name")
    assert 0.5 < unknown / known < 2.0, (known, unknown)


def test_personal_data_never_reaches_tickets_similar_views_or_logs(
    client: Any, services: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from bot import logs

    body = ask(client, f"发票抬头写错了，怎么改？{PII}")
    ask(client, "请转人工", conversation_id=body["conversation_id"])
    hid = client.get("/api/agent/handoffs", headers=AGENT).json()[0]["id"]
    alice = agent_headers(services, "alice")
    r = client.post(f"/api/agent/handoffs/{hid}/resolve", headers=alice, json={"answer": "已为您处理，邮箱 li.wei@example.com 已更新"})
    assert r.status_code == 200
    [ticket] = [t for t in services.storage.tickets.all() if t.id == r.json()["ticket_id"]]
    for raw in ("li.wei@example.com", "13812345678", "6222 0212 3456 7894", "11010519491231002X"):
        assert raw not in ticket.question and raw not in ticket.answer
    assert "[email]" in ticket.question and "[phone]" in ticket.question
    # the agent handling it still sees the original in the conversation
    transcript = client.get(f"/api/conversations/{body['conversation_id']}/messages", headers=AGENT).json()
    assert "13812345678" in transcript["messages"][0]["text"]
    # another customer's handoff shows the ticket redacted under "similar tickets"
    ask(client, "请转人工，我想修改邮箱")
    other = [h for h in client.get("/api/agent/handoffs", headers=AGENT).json() if h["id"] != hid][0]
    similar = client.get(f"/api/agent/handoffs/{other['id']}", headers=AGENT).json()["similar_tickets"]
    assert all("13812345678" not in s["question"] and "li.wei@example.com" not in s["answer"] for s in similar)
    # and a log line with personal data is written redacted
    logger = logging.getLogger("helpdesk.test")
    caplog.handler.addFilter(logs.RedactingFilter())
    with caplog.at_level(logging.INFO):
        logger.info("customer wrote %s", PII)
    assert "13812345678" not in caplog.text and "[phone]" in caplog.text


def test_retention_masks_old_transcripts(client: Any, services: Any) -> None:
    from escalation.retention import RetentionAction, apply_retention

    body = ask(client, f"How do I reset my password? {PII}")
    cid = body["conversation_id"]
    open_one = services.storage.handoffs.open_for(cid)
    if open_one is not None:  # an open handoff keeps its conversation as it is: close it first
        services.queue.resolve(open_one.id, "alice", "Done.")
    with services.storage.db.tx() as tx:  # age the conversation
        tx.execute("UPDATE conversations SET updated_at = '2020-01-01T00:00:00.000+00:00' WHERE id = ?", (cid,))
    done = apply_retention(services.storage, 30, RetentionAction.MASK)
    assert done.conversations == 1 and done.texts_masked >= 1
    texts = [m.text for m in services.storage.conversations.messages(cid)]
    assert "13812345678" not in texts[0] and "[phone]" in texts[0]
    assert apply_retention(services.storage, 30).conversations == 0  # masked once
    fresh = ask(client, f"and now? {PII}")
    assert "13812345678" in services.storage.conversations.messages(fresh["conversation_id"])[0].text
