"""The agent inbox (issue #12, first part): internal notes, unclaim, transfer and assign."""

from __future__ import annotations

import json
from typing import Any

from tests.support import AGENT, agent_headers, ask, conv_headers


def handoff(client: Any) -> tuple[str, int]:
    body = ask(client, "I want to talk to a person about my invoice")
    assert body["reply"]["kind"] == "handoff"
    return body["conversation_id"], body["handoff"]["id"]


def test_internal_notes_reach_agents_and_never_the_customer(client: Any, services: Any) -> None:
    alice = agent_headers(services, "alice")
    cid, hid = handoff(client)
    secret = "Customer is on the legacy plan; do not offer the discount"
    r = client.post(f"/api/agent/handoffs/{hid}/notes", headers=alice, json={"text": secret})
    assert r.status_code == 201 and r.json()["author"] == "alice"
    # any agent may note, owner or not; the detail shows every note
    bob = agent_headers(services, "bob")
    assert client.post(f"/api/agent/handoffs/{hid}/notes", headers=bob, json={"text": "+1"}).status_code == 201
    detail = client.get(f"/api/agent/handoffs/{hid}", headers=AGENT).json()
    assert [(n["author"], n["text"]) for n in detail["notes"]] == [("alice", secret), ("bob", "+1")]
    assert all(m["text"] != secret for m in detail["transcript"])
    # the customer's transcript (and so their widget and any mail) has no trace of it
    transcript = client.get(f"/api/conversations/{cid}/messages", headers=conv_headers(cid)).json()
    assert secret not in json.dumps(transcript, ensure_ascii=False)
    assert client.post(f"/api/agent/handoffs/{hid}/notes", json={"text": "x"}).status_code == 401
    assert client.post(f"/api/agent/handoffs/{hid}/notes", headers=alice, json={"text": "   "}).status_code == 422
    assert client.post("/api/agent/handoffs/999999/notes", headers=alice, json={"text": "x"}).status_code == 404


def test_unclaim_transfer_and_assign(client: Any, services: Any) -> None:
    alice, bob = agent_headers(services, "alice"), agent_headers(services, "bob")
    admin = agent_headers(services, "root", "admin")
    cid, hid = handoff(client)
    # assign an open handoff to bob
    r = client.post(f"/api/agent/handoffs/{hid}/transfer", headers=alice, json={"to": "bob"})
    assert r.status_code == 200 and (r.json()["status"], r.json()["claimed_by"]) == ("claimed", "bob")
    # alice can neither release nor move bob's handoff; bob can
    assert client.post(f"/api/agent/handoffs/{hid}/unclaim", headers=alice).status_code == 409
    assert client.post(f"/api/agent/handoffs/{hid}/transfer", headers=alice, json={"to": "alice"}).status_code == 409
    r = client.post(f"/api/agent/handoffs/{hid}/transfer", headers=bob, json={"to": "alice"})
    assert r.json()["claimed_by"] == "alice"
    assert client.post(f"/api/agent/handoffs/{hid}/transfer", headers=bob, json={"to": "nobody"}).status_code == 422
    # alice releases it: back in the queue for anyone; releasing again is a no-op
    r = client.post(f"/api/agent/handoffs/{hid}/unclaim", headers=alice)
    assert (r.json()["status"], r.json()["claimed_by"]) == ("open", None)
    assert client.post(f"/api/agent/handoffs/{hid}/unclaim", headers=alice).status_code == 200
    state = client.get(f"/api/conversations/{cid}/messages", headers=conv_headers(cid)).json()
    assert state["handoff"]["status"] == "open" and state["handoff"]["agent"] is None
    # an admin may move anyone's
    client.post(f"/api/agent/handoffs/{hid}/claim", headers=bob)
    r = client.post(f"/api/agent/handoffs/{hid}/transfer", headers=admin, json={"to": "alice"})
    assert r.json()["claimed_by"] == "alice"
    # a resolved handoff stays resolved
    client.post(f"/api/agent/handoffs/{hid}/resolve", headers=alice, json={"answer": "Done."})
    assert client.post(f"/api/agent/handoffs/{hid}/transfer", headers=admin, json={"to": "bob"}).status_code == 409
    assert client.post(f"/api/agent/handoffs/{hid}/unclaim", headers=admin).status_code == 409
    people = {a["username"] for a in client.get("/api/agent/agents", headers=alice).json()}
    assert {"alice", "bob", "root"} <= people


def test_canned_replies_in_both_languages_with_variables(client: Any, services: Any) -> None:
    editor = agent_headers(services, "erin", "editor")
    alice = agent_headers(services, "alice")
    zh = {"title": "退款处理中", "body": "{name}好，我是{agent}。关于“{question}”，退款已在处理中。"}
    r = client.put("/api/agent/canned/refund/zh", headers=editor, json=zh)
    assert r.status_code == 200 and r.json()["lang"] == "zh"
    en = {"title": "Refund in progress", "body": "Hi {name}, {agent} here. Your refund is on its way. {unknown}"}
    en_id = client.put("/api/agent/canned/refund/en", headers=editor, json=en).json()["id"]
    assert client.put("/api/agent/canned/refund/en", headers=alice, json=en).status_code == 403  # editors only
    assert client.put("/api/agent/canned/Bad Key/en", headers=editor, json=en).status_code == 422
    assert [r["lang"] for r in client.get("/api/agent/canned", headers=alice).json()] == ["en", "zh"]
    zh_id = client.get("/api/agent/canned", headers=alice, params={"lang": "zh"}).json()[0]["id"]

    first = ask(client, "我的发票金额开错了")
    body = ask(client, "转人工", conversation_id=first["conversation_id"])
    hid = body["handoff"]["id"]
    text = client.get(f"/api/agent/handoffs/{hid}/canned/{zh_id}", headers=alice).json()["text"]
    assert text == "您好，我是alice。关于“我的发票金额开错了”，退款已在处理中。"
    text = client.get(f"/api/agent/handoffs/{hid}/canned/{en_id}", headers=alice).json()["text"]
    assert text == "Hi there, alice here. Your refund is on its way. {unknown}"  # unknown variables stay as written
    assert client.delete(f"/api/agent/canned/{en_id}", headers=alice).status_code == 403
    assert client.delete(f"/api/agent/canned/{en_id}", headers=editor).status_code == 204
    assert client.delete(f"/api/agent/canned/{en_id}", headers=editor).status_code == 404


def test_search_finds_old_resolved_conversations_with_their_handoff(client: Any, services: Any) -> None:
    alice = agent_headers(services, "alice")
    first = ask(client, "My Zorblax import keeps failing")
    ask(client, "I want to talk to a person", conversation_id=first["conversation_id"])
    hid = services.storage.handoffs.open_for(first["conversation_id"]).id
    client.post(f"/api/agent/handoffs/{hid}/resolve", headers=alice, json={"answer": "Re-run the import."})
    answered = ask(client, "How do I issue a credit note? (Zorblax)")
    hits = client.get("/api/agent/search", headers=alice, params={"q": "zorblax"}).json()
    by_conv = {h["conversation_id"]: h["handoff_id"] for h in hits}
    assert by_conv[first["conversation_id"]] == hid  # resolved, still found with its handoff
    assert by_conv.get(answered["conversation_id"], "missing") is None  # never handed off


def test_the_handoff_shows_the_verified_customer_and_their_earlier_conversations(client: Any, services: Any) -> None:
    profile = {"name": "Li Wei", "email": "li@example.com", "company": "Acme"}
    old = services.storage.conversations.create("zh", "cust-42", profile)
    old_handoff = services.queue.hand_off(old.id, "customer_request", "zh", "旧问题", [])
    answered = services.storage.conversations.create("en", "cust-42", profile)
    now = services.storage.conversations.create("en", "cust-42", profile)
    h = services.queue.hand_off(now.id, "customer_request", "en", "new question", [])
    stranger = services.storage.conversations.create("en", "cust-99", {})
    d = client.get(f"/api/agent/handoffs/{h.id}", headers=AGENT).json()
    assert d["customer_id"] == "cust-42" and d["customer"] == profile
    earlier = {e["conversation_id"]: e["handoff_id"] for e in d["earlier"]}
    assert earlier == {old.id: old_handoff.id, answered.id: None}
    assert stranger.id not in earlier
    anonymous = ask(client, "I want to talk to a person")
    d = client.get(f"/api/agent/handoffs/{anonymous['handoff']['id']}", headers=AGENT).json()
    assert d["customer_id"] is None and d["earlier"] == []
