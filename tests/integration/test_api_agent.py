from typing import Any

from tests.support import AGENT, agent_headers, ask, conv_headers

SAME_ORIGIN = {"Origin": "http://testserver"}  # what a browser sends with the console's writes


def test_agent_api_needs_the_token(client: Any) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        r = client.get("/api/agent/handoffs", headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


def test_weather_handoff_claimed_answered_resolved(client: Any, services: Any) -> None:
    body = ask(client, "what's the weather in Paris")
    cid = body["conversation_id"]
    assert body["reply"]["kind"] == "handoff"
    hid = client.get("/api/agent/handoffs", headers=AGENT).json()[0]["id"]
    alice, bob = agent_headers(services, "alice"), agent_headers(services, "bob")

    # the bot stops answering: a new message joins the ticket
    follow = ask(client, "How do I fix the tax id on an invoice?", conversation_id=cid)
    assert follow["reply"]["kind"] == "handoff" and follow["message_id"] is None

    detail = client.get(f"/api/agent/handoffs/{hid}", headers=AGENT).json()
    assert [m["role"] for m in detail["transcript"]] == ["customer", "bot", "customer"]
    assert detail["question"] == "what's the weather in Paris" and detail["candidates"]

    assert (
        client.post(f"/api/agent/handoffs/{hid}/claim", headers=alice, json={}).status_code
        == 200
    )
    r = client.post(f"/api/agent/handoffs/{hid}/claim", headers=bob, json={})
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_claimed"

    r = client.post(
        f"/api/agent/handoffs/{hid}/reply",
        headers=alice,
        json={"text": "We only help with Ledgerly, but it's sunny!"},
    )
    assert r.status_code == 200
    r = client.post(
        f"/api/agent/handoffs/{hid}/resolve",
        headers=alice,
        json={"answer": "Weather questions are out of scope.", "reply_to_customer": False},
    )
    assert r.status_code == 200 and r.json()["handoff"]["status"] == "resolved" and not r.json()["learned"]
    # the same resolve again (a retry) returns the same result; another answer is a conflict
    again = client.post(
        f"/api/agent/handoffs/{hid}/resolve",
        headers=alice,
        json={"answer": "Weather questions are out of scope.", "reply_to_customer": False},
    )
    assert again.status_code == 200 and again.json()["ticket_id"] == r.json()["ticket_id"]
    other = client.post(f"/api/agent/handoffs/{hid}/resolve", headers=alice, json={"answer": "Something else"})
    assert other.status_code == 409

    t = client.get(f"/api/conversations/{cid}/messages", headers=conv_headers(cid)).json()
    assert t["messages"][-1]["role"] == "agent" and "sunny" in t["messages"][-1]["text"]
    assert t["messages"][-1]["author"] == "alice"
    assert client.get("/api/agent/handoffs", headers=AGENT).json() == []
    assert services.storage.tickets.all()[-1].question == "what's the weather in Paris"


def test_resolution_linked_to_entry_changes_the_next_answer(client: Any, services: Any) -> None:
    question = "Ledgerly keeps showing the orange banner 'Sync paused' on the dashboard"
    similar = "why does my dashboard show an orange Sync paused banner?"
    first = ask(client, question)
    assert first["reply"]["kind"] == "handoff"
    before = ask(client, similar)["reply"]
    hid = client.get("/api/agent/handoffs", headers=AGENT).json()[0]["id"]
    r = client.post(
        f"/api/agent/handoffs/{hid}/resolve",
        headers=agent_headers(services, "alice"),
        json={
            "answer": "That banner means the accounting export stopped; see the export entry.",
            "faq_id": "export-failed",
        },
    )
    assert r.status_code == 200 and r.json()["learned"]
    after = ask(client, question)["reply"]  # the question an agent linked is answered from then on
    assert after["kind"] == "answer" and after["sources"][0]["id"] == "export-failed"
    assert before["kind"] != "answer" or before["sources"][0]["id"] != "export-failed"


def test_resolve_with_unknown_faq_id_or_draft(client: Any, services: Any) -> None:
    first = ask(client, "Can Ledgerly print invoices on pre-printed paper forms from 1998?")
    ask(client, "let me talk to a human please", conversation_id=first["conversation_id"])
    h = client.get("/api/agent/handoffs", headers=AGENT).json()[0]
    assert h["reason"] in {"customer_request", "low_confidence"} and h["question"].startswith("Can Ledgerly print")
    hid = h["id"]
    r = client.post(
        f"/api/agent/handoffs/{hid}/resolve",
        headers=AGENT,
        json={"answer": "No.", "faq_id": "no-such-entry"},
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_faq_id"
    r = client.post(
        f"/api/agent/handoffs/{hid}/resolve",
        headers=AGENT,
        json={
            "answer": "Use a blank template.",
            "draft": {
                "title": "Can I print on pre-printed forms?",
                "questions": ["preprinted paper?"],
                "answer": "Use Settings › Templates › Blank layout.",
            },
        },
    )
    assert r.status_code == 200 and r.json()["draft_id"]
    assert services.storage.drafts.all()[0].title == "Can I print on pre-printed forms?"
    assert client.get("/api/agent/drafts", headers=AGENT).status_code == 403  # drafts are for editors
    listed = client.get("/api/agent/drafts", headers=agent_headers(services, "erin", "editor")).json()
    assert [d["title"] for d in listed] == ["Can I print on pre-printed forms?"]


def test_console_sign_in_session_acts_as_the_agent(client: Any, services: Any) -> None:
    services.accounts.add("carol", "carol-pass-123")
    bad = client.post("/api/console/login", json={"username": "carol", "password": "nope"}, headers=SAME_ORIGIN)
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "invalid_credentials"
    assert client.get("/api/console/me").status_code == 401
    ok = client.post("/api/console/login", json={"username": "carol", "password": "carol-pass-123"}, headers=SAME_ORIGIN)
    assert ok.status_code == 200 and "helpdesk_session" in ok.cookies
    assert client.get("/api/console/me").json() == {"username": "carol", "display_name": "carol", "role": "agent"}
    ask(client, "转人工", headers=SAME_ORIGIN)
    hid = client.get("/api/agent/handoffs").json()[0]["id"]
    claimed = client.post(f"/api/agent/handoffs/{hid}/claim", json={}, headers=SAME_ORIGIN)
    assert claimed.status_code == 200 and claimed.json()["claimed_by"] == "carol"
    faq = client.get("/api/agent/faq").json()
    assert len(faq) >= 60 and set(faq[0]["titles"]) == {"en", "zh"}
    client.post("/api/console/logout", headers=SAME_ORIGIN)
    assert client.get("/api/console/me").status_code == 401


def test_password_is_stored_hashed(services: Any) -> None:
    services.accounts.add("dave", "dave-pass-123")
    stored = services.storage.accounts.password_hash("dave")
    assert stored.startswith("$argon2id$") and "dave-pass-123" not in stored


def test_first_start_creates_a_console_account(services: Any) -> None:
    assert services.first_password and (services.settings.data_dir / "console_password").exists()
    assert services.accounts.sign_in("agent", services.first_password)


def test_a_personal_token_acts_as_its_agent_only(client: Any, services: Any) -> None:
    services.accounts.add("carol", "carol-password")
    token_id, token = services.accounts.create_token("carol", "test")
    mine = {"Authorization": f"Bearer {token}"}
    ask(client, "I want to talk to a human")
    hid = client.get("/api/agent/handoffs", headers=mine).json()[0]["id"]
    r = client.post(f"/api/agent/handoffs/{hid}/claim", headers=mine, json={"agent": "bob"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = client.post(f"/api/agent/handoffs/{hid}/claim", headers=mine, json={})
    assert r.status_code == 200 and r.json()["claimed_by"] == "carol"
    services.accounts.revoke_token(token_id)
    assert client.get("/api/agent/handoffs", headers=mine).status_code == 401



def test_the_desk_token_acts_as_its_own_account_only(client: Any) -> None:
    ask(client, "I want to talk to a human")
    hid = client.get("/api/agent/handoffs", headers=AGENT).json()[0]["id"]
    r = client.post(f"/api/agent/handoffs/{hid}/claim", headers=AGENT, json={"agent": "alice"})
    assert r.status_code == 403  # the body no longer names who acts
    r = client.post(f"/api/agent/handoffs/{hid}/claim", headers=AGENT, json={})
    assert r.status_code == 200 and r.json()["claimed_by"] == "api"


def test_tokens_are_listed_with_last_use_and_revocable_by_their_owner(client: Any, services: Any) -> None:
    carol = agent_headers(services, "carol")
    made = client.post("/api/agent/tokens", headers=carol, json={"label": "laptop"})
    assert made.status_code == 201 and made.json()["token"].startswith("hd_")
    fresh = {"Authorization": f"Bearer {made.json()['token']}"}
    assert client.get("/api/agent/handoffs", headers=fresh).status_code == 200
    mine = client.get("/api/agent/tokens", headers=carol).json()
    assert {t["username"] for t in mine} == {"carol"} and all("token" not in t for t in mine)
    assert [t for t in mine if t["id"] == made.json()["id"]][0]["last_used_at"]
    other = agent_headers(services, "dan")
    assert client.delete(f"/api/agent/tokens/{made.json()['id']}", headers=other).status_code == 404
    assert client.delete(f"/api/agent/tokens/{made.json()['id']}", headers=carol).json()["revoked_at"]
    assert client.get("/api/agent/handoffs", headers=fresh).status_code == 401


def test_the_queue_is_paged(client: Any) -> None:
    for i in range(5):
        ask(client, f"I want to talk to a human about case {i}")
    first = client.get("/api/agent/handoffs?limit=2", headers=AGENT)
    assert len(first.json()) == 2 and first.headers["X-Total-Count"] == "5"
    after = first.headers["X-Next-After"]
    rest = client.get(f"/api/agent/handoffs?limit=10&after={after}", headers=AGENT)
    assert len(rest.json()) == 3 and "X-Next-After" not in rest.headers
    assert client.get("/api/agent/handoffs/9223372036854775808", headers=AGENT).status_code == 422


def test_agents_search_conversations_by_what_was_written(client: Any) -> None:
    mine = ask(client, "我要转人工，红字发票开不出来")
    ask(client, "How do I reset my password?")
    hits = client.get("/api/agent/search", params={"q": "红字发票"}, headers=AGENT).json()
    assert [h["conversation_id"] for h in hits] == [mine["conversation_id"]]
    assert hits[0]["handoff_id"] is not None and hits[0]["message"]["role"] == "customer"
    assert client.get("/api/agent/search", params={"q": "reset my password", "role": "customer"}, headers=AGENT).json()
    assert client.get("/api/agent/search", params={"q": ""}, headers=AGENT).status_code == 422
    assert client.get("/api/agent/search", params={"q": "x"}).status_code == 401
