from typing import Any

import pytest

from tests.support import AGENT, ask, conv_headers, set_thresholds

VAT = "The customer's VAT number on my invoice is wrong, how do I fix it?"


def test_health(client: Any) -> None:
    body = client.get("/api/health").json()
    assert body["status"] == "ok" and body["knowledge"]["entries"] >= 60
    assert body["index"]["models"] == ["use-multilingual-v3", "multilingual-e5-small"]


def test_red_letter_question_in_chinese_gets_the_credit_note_answer(client: Any) -> None:
    body = ask(client, "怎么开红字发票")
    reply = body["reply"]
    assert reply["kind"] == "answer"
    assert reply["sources"][0]["id"] in {"red-letter-invoice", "credit-note"}
    assert reply["sources"][0]["lang"] == "zh"
    assert "红字" in reply["text"] and 0.0 <= reply["confidence"] <= 1.0


def test_fix_tax_id_gets_the_right_entry(client: Any) -> None:
    reply = ask(client, VAT)["reply"]
    assert reply["kind"] == "answer" and reply["sources"][0]["id"] == "fix-tax-id"
    assert reply["sources"][0]["lang"] == "en"
    # the bare question is close to "e-invoice rejected (E1042)" too: the bot offers both, the right one first
    bare = ask(client, "How do I fix the tax id on an invoice?")["reply"]
    first = (bare["sources"] or bare["suggestions"])[0]["id"]
    assert bare["kind"] in {"answer", "clarify"} and first == "fix-tax-id"


def test_answer_text_is_the_curated_text(client: Any, services: Any) -> None:
    reply = ask(client, VAT)["reply"]
    entry, _ = services.runtime.snapshot.kb.entry("fix-tax-id", "en")
    assert reply["text"] == entry.answer and reply["sources"][0]["title"] == entry.title


def test_off_topic_is_handed_off_with_a_wait_time(client: Any) -> None:
    body = ask(client, "what's the weather in Paris")
    assert body["reply"]["kind"] == "handoff" and "You are number 1 in the queue" in body["reply"]["text"]
    # no typical wait is claimed before enough first replies were measured
    assert body["handoff"]["wait"] == {**body["handoff"]["wait"], "open": True, "position": 1, "typical_minutes": None}
    h = client.get("/api/agent/handoffs", headers=AGENT).json()
    assert h[0]["conversation_id"] == body["conversation_id"] and h[0]["reason"] == "low_confidence"
    assert h[0]["candidates"] and "score" in h[0]["candidates"][0]


@pytest.mark.parametrize(("msg", "lang"), [("I want to talk to a human", "en"), ("转人工", "zh")])
def test_asking_for_a_person_hands_off(client: Any, msg: str, lang: str) -> None:
    body = ask(client, msg)
    assert body["reply"]["kind"] == "handoff"
    h = client.get("/api/agent/handoffs", headers=AGENT).json()[0]
    assert (h["reason"], h["lang"]) == ("customer_request", lang)


def test_transcript_and_messages_stored_in_order(client: Any) -> None:
    first = ask(client, "How do I fix the tax id on an invoice?")
    cid = first["conversation_id"]
    ask(client, "and how do I set up 2FA?", conversation_id=cid)
    t = client.get(f"/api/conversations/{cid}/messages", headers=conv_headers(cid)).json()
    assert [m["role"] for m in t["messages"]] == ["customer", "bot", "customer", "bot"]
    assert t["messages"][0]["text"] == "How do I fix the tax id on an invoice?"
    after = client.get(f"/api/conversations/{cid}/messages?after={t['messages'][1]['id']}", headers=conv_headers(cid)).json()
    assert len(after["messages"]) == 2


def test_clarify_pick_and_reject(client: Any, services: Any) -> None:
    """With thresholds that never answer outright, close candidates are offered and a pick answers."""
    set_thresholds(services, answer=1.01, clarify=0.0, clarify_margin=1e9)
    body = ask(client, "I need a credit note for an invoice")
    reply = body["reply"]
    assert reply["kind"] == "clarify" and len(reply["suggestions"]) == 3 and reply["text"]
    pick = reply["suggestions"][1]["id"]
    picked = ask(client, pick, conversation_id=body["conversation_id"], choice=pick)["reply"]
    assert picked["kind"] == "answer" and picked["sources"][0]["id"] == pick

    again = ask(client, "I need a credit note for an invoice")
    r = client.post(
        "/api/chat",
        json={"message": "x", "conversation_id": again["conversation_id"], "choice": "not-offered"},
        headers=conv_headers(again["conversation_id"]),
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_choice"
    rejected = ask(client, "none of these", conversation_id=again["conversation_id"], choice="none")
    assert rejected["reply"]["kind"] == "handoff" and rejected["handoff"]["wait"]["open"] is True and rejected["handoff"]["wait"]["position"] >= 1
    h = client.get("/api/agent/handoffs", headers=AGENT).json()[0]
    assert h["reason"] == "clarify_rejected" and len(h["candidates"]) >= 2
    assert h["question"] == "I need a credit note for an invoice"  # not "none of these"


def test_rephrase_after_clarify_that_still_misses_hands_off(client: Any, services: Any) -> None:
    set_thresholds(services, answer=1.01, clarify=0.0, clarify_margin=1e9)
    body = ask(client, "I need a credit note for an invoice")
    assert body["reply"]["kind"] == "clarify"
    again = ask(client, "I mean the thing for fixing invoices", conversation_id=body["conversation_id"])
    assert again["reply"]["kind"] == "handoff"


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"message": ""}, 422),
        ({"message": "   "}, 422),
        ({"message": "x" * 2001}, 422),
        ({"msg": "hello"}, 422),
        ({"message": "hi", "lang": "fr"}, 422),
        ({"message": 12}, 422),
        ({"message": "hi", "conversation_id": "does-not-exist"}, 401),
        ({"message": "\u200b\u200b\u2060"}, 422),
        ({"message": "hi", "client_message_id": "short"}, 422),
        ({"message": "hi", "choice": "credit-note"}, 422),
    ],
)
def test_bad_requests_get_one_error_shape(client: Any, payload: Any, status: int) -> None:
    r = client.post("/api/chat", json=payload)
    assert r.status_code == status
    err = r.json()["error"]
    assert set(err) == {"code", "message", "details"} and err["message"]
    assert "Traceback" not in r.text


def test_a_wrong_token_reads_nothing(client: Any) -> None:
    mine = ask(client, "How do I reset my password?")
    other = ask(client, "Where is the VAT report?")
    cid = mine["conversation_id"]
    assert client.get(f"/api/conversations/{cid}/messages").status_code == 401
    for headers in (conv_headers(other["conversation_id"]), {"X-Conversation-Token": "hc_guess"}):
        assert client.get(f"/api/conversations/{cid}/messages", headers=headers).status_code == 404
        r = client.post("/api/chat", json={"message": "hi", "conversation_id": cid}, headers=headers)
        assert r.status_code == 404
        r = client.post(f"/api/messages/{mine['message_id']}/feedback", json={"helpful": False}, headers=headers)
        assert r.status_code == 404
    assert client.get(f"/api/conversations/{cid}/messages", headers=AGENT).status_code == 200  # agents read it


def test_a_retry_with_the_same_client_id_is_stored_once(client: Any, services: Any) -> None:
    payload = {"message": "How do I reset my password?", "client_message_id": "f3b1c9d0-0a1b-4c2d-9e8f-0123456789ab"}
    first = client.post("/api/chat", json=payload).json()
    again = client.post("/api/chat", json=payload).json()  # the widget lost the response and retries
    assert again["replayed"] and not first["replayed"]
    assert again["conversation_id"] == first["conversation_id"]
    assert again["conversation_token"] == first["conversation_token"]
    assert again["message_id"] == first["message_id"] and again["reply"] == first["reply"]
    cid = first["conversation_id"]
    follow = {"message": "and the 2FA?", "conversation_id": cid, "client_message_id": "a" * 20}
    headers = {"X-Conversation-Token": first["conversation_token"]}
    one = client.post("/api/chat", json=follow, headers=headers).json()
    two = client.post("/api/chat", json=follow, headers=headers).json()
    assert two["replayed"] and two["customer_message_id"] == one["customer_message_id"]
    texts = [m.text for m in services.storage.conversations.messages(cid) if m.role == "customer"]
    assert texts == ["How do I reset my password?", "and the 2FA?"]


def test_a_lone_surrogate_is_refused_not_a_500(client: Any) -> None:
    raw = b'{"message": "\\ud800 lone surrogate"}'  # valid JSON, not valid text
    r = client.post("/api/chat", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"


def test_malformed_json_body(client: Any) -> None:
    r = client.post("/api/chat", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"


def test_message_is_stored_even_when_answering_fails(client: Any, services: Any, monkeypatch: Any) -> None:
    def boom(*a: Any, **k: Any) -> Any:
        raise RuntimeError("index exploded")

    first = ask(client, "How do I reset my password?")
    assert first["reply"]["kind"] == "answer"
    monkeypatch.setattr(services.answerer, "respond", boom)
    from fastapi.testclient import TestClient

    from bot.web.app import create_app

    with TestClient(create_app(services.settings, services), raise_server_exceptions=False) as c:
        r = c.post(
            "/api/chat",
            json={"message": "what about credit notes?", "conversation_id": first["conversation_id"]},
            headers=conv_headers(first["conversation_id"]),
        )
        assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
        msgs = c.get(
            f"/api/conversations/{first['conversation_id']}/messages", headers=conv_headers(first["conversation_id"])
        ).json()["messages"]
    assert msgs[-1]["role"] == "customer" and msgs[-1]["text"] == "what about credit notes?"


def test_feedback_is_stored(client: Any) -> None:
    body = ask(client, "How do I fix the tax id on an invoice?")
    own = conv_headers(body["conversation_id"])
    r = client.post(f"/api/messages/{body['message_id']}/feedback", json={"helpful": False}, headers=own)
    assert r.status_code == 200 and r.json()["feedback"] == "no"
    t = client.get(f"/api/conversations/{body['conversation_id']}/messages", headers=own).json()["messages"]
    assert t[-1]["feedback"] == "no"
