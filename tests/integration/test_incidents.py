"""Incidents end to end: the page to the on-call webhook, the detector fed by the chat turn, the agent API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from escalation.models import IncidentQuestion
from escalation.storage import Storage, open_storage
from escalation.webhooks import WebhookSender, verify
from tests.support import Receiver

SECRET = "incident-webhook-secret-0123456789abcdef"


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail=1)
    yield r
    r.close()


@pytest.fixture()
def storage(tmp_path: Path) -> Iterator[Storage]:
    s = open_storage(None, tmp_path)
    yield s
    s.close()


def asked(storage: Storage, text: str, lang: str, channel: str = "widget") -> IncidentQuestion:
    conv = storage.conversations.create(lang, channel=channel)
    storage.conversations.add_message(conv.id, "customer", text)
    return IncidentQuestion(conv.id, lang, channel, text, datetime.now(UTC).isoformat())


def test_a_suspected_incident_pages_the_on_call_webhook_signed_and_retried(storage: Storage, receiver: Receiver) -> None:
    qs = [
        asked(storage, "发票没生成，电话 13812345678", "zh"),
        asked(storage, "invoices stuck in draft since 23:00", "en", "email"),
        asked(storage, "E5003 sync failed", "en"),
    ]
    incident, new = storage.incidents.open(
        "night-sync", "invoices stuck in draft since 23:00", "3 customers asked the same unanswered question",
        qs, {"count": 3, "expected": 0.12, "p_value": 2e-7, "regime": "off"},
        lambda n: f"https://help.example.com/console#incident-{n}",
    )
    assert new
    sender = WebhookSender(storage, receiver.url, SECRET)
    assert sender.send_due() == 0  # the receiver's first answer is a 500: retried later
    (row,) = storage.webhooks.log()
    assert row["status"] == "queued" and row["attempts"] == 1 and row["last_status"] == 500
    with storage.db.tx() as tx:  # the retry is due now
        tx.execute("UPDATE webhook_outbox SET next_attempt_at = ?", ("2000-01-01T00:00:00+00:00",))
    assert sender.send_due() == 1
    assert len(receiver.got) == 2
    headers, body = receiver.got[-1]
    assert headers["X-Helpdesk-Event"] == "incident.suspected"
    assert verify(SECRET, headers["X-Helpdesk-Signature"], body)
    assert not verify("another-secret-0123456789abcdefghij", headers["X-Helpdesk-Signature"], body)
    payload = json.loads(body)
    data = payload["data"]
    assert payload["event"] == "incident.suspected" and payload["text"].startswith(":rotating_light:")
    assert data["id"] == incident["id"] and data["status"] == "suspected"
    assert (data["questions"], data["conversations"]) == (3, 3)
    assert data["languages"] == ["en", "zh"] and data["channels"] == ["email", "widget"]
    assert data["first_seen"] <= data["last_seen"] and data["console_url"].endswith(f"#incident-{incident['id']}")
    assert data["pager"]["summary"].startswith("Suspected incident") and data["pager"]["source"] == "invoice-helpdesk"
    assert "13812345678" not in body.decode()  # personal data never leaves
    assert storage.webhooks.log()[0]["status"] == "delivered"


# -- the chat turn feeds the detector; the agent API ------------------------------------------------------

BURST = [
    "My invoices were not generated last night",
    "Invoices were not generated last night",
    "Our invoices were not generated last night",
    "None of my invoices were generated last night",
    "Last night my invoices were not generated",
    "Why were my invoices not generated last night?",
    "The invoices were not generated last night",
    "My invoices have not been generated since last night",
    "Invoices not generated last night, please help",
    "Last night's invoices were not generated",
]


@pytest.fixture()
def desk(data_dir: Path, embedders: list) -> Iterator[tuple[Any, Any, Receiver]]:
    from fastapi.testclient import TestClient

    from bot.services import build_services
    from bot.web.app import create_app
    from tests.support import make_settings, set_thresholds

    receiver = Receiver(fail=0)
    services = build_services(
        make_settings(data_dir, webhook_url=receiver.url, webhook_secret=SECRET, public_url="https://help.example.com"),
        embedders=embedders,
    )
    set_thresholds(services, answer=1.01)  # never answers outright: every question is handed off or clarified
    encoded: list[int] = []
    retriever = services.runtime.snapshot.retriever
    encode = retriever.encode

    def counting(queries: Any) -> Any:
        encoded.append(len(queries))
        return encode(queries)

    retriever.encode = counting  # type: ignore[method-assign]
    services.encoded = encoded  # type: ignore[attr-defined]
    with TestClient(create_app(services.settings, services)) as client:
        yield client, services, receiver
    services.close()
    receiver.close()


def wait_until(pred: Any, timeout: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return bool(pred())


def test_a_burst_of_unanswered_questions_opens_one_incident_pages_it_and_agents_confirm_it(desk: Any) -> None:
    from tests.support import AGENT, ask

    client, services, receiver = desk
    assert client.get("/api/agent/incidents", headers=AGENT).json() == []
    for text in BURST[:8]:  # eight customers, each in their own conversation
        assert ask(client, text)["reply"]["kind"] in ("handoff", "clarify")
    assert services.encoded == [1] * 8  # each question encoded once: the detector reused its vector
    (incident,) = client.get("/api/agent/incidents", headers=AGENT).json()
    assert incident["status"] == "suspected" and incident["languages"] == ["en"] and incident["channels"] == ["widget"]
    assert 7 <= incident["conversations"] <= 8 and incident["detection"]["p_value"] < 1e-4
    assert "invoices" in incident["title"].lower() and incident["summary"]

    # paged at once to the on-call webhook, signed
    assert wait_until(lambda: any(h["X-Helpdesk-Event"] == "incident.suspected" for h, _ in receiver.got))
    headers, body = next((h, b) for h, b in receiver.got if h["X-Helpdesk-Event"] == "incident.suspected")
    assert verify(SECRET, headers["X-Helpdesk-Signature"], body)
    page = json.loads(body)["data"]
    assert page["id"] == incident["id"] and page["console_url"] == f"https://help.example.com/console?incident={incident['id']}"

    # later questions like it are linked; an unrelated one is not
    for text in BURST[8:]:
        ask(client, text)
    ask(client, "Can I put my company logo on the invoice PDF?")
    now = client.get(f"/api/agent/incidents/{incident['id']}", headers=AGENT).json()
    assert now["conversations"] == incident["conversations"] + 2
    assert len(now["links"]) == now["conversations"] and all(x["handoff_id"] or x["question"] for x in now["links"])
    assert [e["kind"] for e in now["timeline"]] == ["detected"]

    # confirm once, with the status notes; a second confirm or a dismiss is a 409 in the one error shape
    r = client.post(f"/api/agent/incidents/{incident['id']}/confirm", headers=AGENT,
                    json={"note_en": "Invoice generation is delayed since 23:05.", "note_zh": "发票生成延迟，自23:05起。"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "confirmed" and r.json()["note_zh"] == "发票生成延迟，自23:05起。"
    assert r.json()["updated_by"] == "api"
    for action in ("confirm", "dismiss"):
        r = client.post(f"/api/agent/incidents/{incident['id']}/{action}", headers=AGENT)
        assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_transition"
    assert [i["id"] for i in client.get("/api/agent/incidents?status=confirmed", headers=AGENT).json()] == [incident["id"]]
    timeline = client.get(f"/api/agent/incidents/{incident['id']}", headers=AGENT).json()["timeline"]
    assert [(e["kind"], e["actor"]) for e in timeline] == [("detected", None), ("confirmed", "api")]

    # the errors are the documented ones
    assert client.get("/api/agent/incidents/99999", headers=AGENT).json()["error"]["code"] == "not_found"
    assert client.post("/api/agent/incidents/99999/dismiss", headers=AGENT).status_code == 404
    assert client.get("/api/agent/incidents").status_code == 401
    assert client.get("/api/agent/incidents?status=nope", headers=AGENT).status_code == 422
    assert client.post(f"/api/agent/incidents/{incident['id']}/confirm", headers=AGENT, json={"x": 1}).status_code == 422
    spec = client.get("/openapi.json").json()["paths"]
    assert set(spec["/api/agent/incidents/{incident_id}/confirm"]["post"]["responses"]) >= {"200", "401", "404", "409", "422", "429"}


def test_a_dismissed_incident_silences_its_cluster(desk: Any) -> None:
    from tests.support import AGENT, ask

    client, services, _ = desk
    for text in BURST[:8]:
        ask(client, text)
    (incident,) = client.get("/api/agent/incidents", headers=AGENT).json()
    r = client.post(f"/api/agent/incidents/{incident['id']}/dismiss", headers=AGENT, json={"reason": "a test run"})
    assert r.status_code == 200 and r.json()["status"] == "dismissed"
    for text in BURST[8:] + BURST[:6]:
        ask(client, text)
    assert client.get("/api/agent/incidents", headers=AGENT).json() == []  # no new one, nothing open
    after = client.get(f"/api/agent/incidents/{incident['id']}", headers=AGENT).json()
    assert after["conversations"] == incident["conversations"]  # nothing linked to a dismissed incident
    assert after["timeline"][-1]["detail"] == {"reason": "a test run"}


# -- one answer for everyone, one reply for all, closing the loop -------------------------------------------

BURST_ZH = [
    "我的发票昨晚没有生成",
    "昨晚发票没有生成",
    "我们的发票昨晚都没生成",
    "昨天晚上的发票没有生成",
    "发票昨晚没生成，怎么回事",
    "为什么昨晚我的发票没有生成？",
    "昨晚的发票一张都没生成",
    "发票从昨晚起就没有生成",
    "昨晚发票没生成，请帮忙",
    "昨晚我的发票都没有生成出来",
    "我的发票昨天晚上没生成",
    "昨晚到现在发票都没生成",
    "发票昨晚没有生成出来",
    "昨天夜里发票没有生成",
]
NOTE_EN = "We know: invoice generation is delayed since 23:05; invoices will be generated automatically."
NOTE_ZH = "我们已知晓：自23:05起发票生成延迟，发票将自动生成，您无需操作。"


def open_incident(client: Any, burst: list[str], lang: str) -> dict[str, Any]:
    from tests.support import AGENT, ask

    before = {i["id"] for i in client.get("/api/agent/incidents", headers=AGENT).json()}
    for text in burst:
        ask(client, text)
    new = [i for i in client.get("/api/agent/incidents", headers=AGENT).json() if i["id"] not in before]
    assert len(new) == 1 and new[0]["languages"] == [lang], new
    return dict(new[0])


def notices(services: Any, conversation_id: str) -> list[Any]:
    return [m for m in services.storage.conversations.messages(conversation_id) if m.meta.get("kind") == "incident_resolved"]


def test_confirmed_incident_answers_new_questions_with_its_note_agents_reply_to_all_and_resolve_tells_each_once(
    desk: Any,
) -> None:
    from tests.support import AGENT, ask, conv_headers

    client, services, _ = desk
    en = open_incident(client, BURST[:8], "en")
    # the same problem asked in Chinese joins the same incident (USE puts both languages in one space): no second
    for text in BURST_ZH[:6]:
        ask(client, text)
    assert [i["id"] for i in client.get("/api/agent/incidents", headers=AGENT).json()] == [en["id"]]
    zh = en
    assert client.get(f"/api/agent/incidents/{en['id']}", headers=AGENT).json()["languages"] == ["en", "zh"]
    r = client.post(f"/api/agent/incidents/{en['id']}/confirm", headers=AGENT,
                    json={"note_en": NOTE_EN, "note_zh": NOTE_ZH})
    assert r.status_code == 200, r.text

    # a new matching question gets the note in its customer's language: no handoff, linked, marked
    later = []
    for text, lang, incident in [(BURST[8], "en", en), (BURST[9], "en", en), (BURST_ZH[12], "zh", zh), (BURST_ZH[13], "zh", zh)]:
        body = ask(client, text)
        assert body["reply"]["kind"] == "incident_note", body
        assert body["reply"]["text"] == (NOTE_ZH if lang == "zh" else NOTE_EN)
        assert body["reply"]["incident_id"] == incident["id"] and body["handoff"] is None
        cid = body["conversation_id"]
        assert services.storage.handoffs.open_for(cid) is None
        transcript = client.get(f"/api/conversations/{cid}/messages", headers=conv_headers(cid)).json()["messages"]
        roles = [(m["role"], m["meta"].get("kind")) for m in transcript]
        assert roles == [("customer", None), ("bot", "incident_note")]  # the question stored once, then the note
        later.append((cid, incident["id"]))
    # the same message retried: the stored note, nothing new
    again = ask(client, BURST[8], client_message_id="retry-incident-note-0001")
    replay = ask(client, BURST[8], client_message_id="retry-incident-note-0001")
    assert replay["replayed"] and replay["reply"]["kind"] == "incident_note"
    assert replay["message_id"] == again["message_id"]
    # an unrelated question is answered (or handed off) as ever
    assert ask(client, "Can I put my company logo on the invoice PDF?")["reply"]["kind"] != "incident_note"

    detail = client.get(f"/api/agent/incidents/{en['id']}", headers=AGENT).json()
    linked = [x["conversation_id"] for x in detail["links"]]
    assert {c for c, i in later if i == en["id"]} <= set(linked)
    handed_off = [x for x in detail["links"] if x["handoff_id"]]
    assert len(handed_off) >= 6  # the burst before confirmation was handed off; their links carry the handoff

    # one agent reply into every linked conversation, once per client_message_id
    body = {"text": "We are on it: the sync is being repaired.", "client_message_id": "incident-reply-000001"}
    r = client.post(f"/api/agent/incidents/{en['id']}/reply", headers=AGENT, json=body)
    assert r.status_code == 200, r.text
    assert sorted(r.json()["conversations"]) == sorted(linked) and not r.json()["replayed"]
    r2 = client.post(f"/api/agent/incidents/{en['id']}/reply", headers=AGENT, json=body)
    assert r2.json()["replayed"] and [m["id"] for m in r2.json()["messages"]] == [m["id"] for m in r.json()["messages"]]
    for cid in linked:
        agent_msgs = [m for m in services.storage.conversations.messages(cid) if m.role == "agent"]
        assert len(agent_msgs) == 1 and agent_msgs[0].text == body["text"]

    # one linked customer writes again after being linked: their handoff stays open on resolution
    again_cid = handed_off[0]["conversation_id"]
    ask(client, "Also, how do I change my billing address?", conversation_id=again_cid)

    r = client.post(f"/api/agent/incidents/{en['id']}/resolve", headers=AGENT,
                    json={"note_en": "The sync is fixed; all invoices were generated.", "note_zh": "同步已修复，发票均已生成。"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "resolved" and r.json()["notified"] == len(linked)
    for cid in linked:  # each in their language
        (notice,) = notices(services, cid)
        if services.storage.conversations.get(cid).lang == "zh":
            assert notice.text == "关于您反馈的问题：现已修复。 同步已修复，发票均已生成。"
        else:
            assert "The sync is fixed" in notice.text and notice.text.startswith("Update on the problem")
    # handoffs resolve, except that of the customer who wrote again
    for x in handed_off:
        still_open = services.storage.handoffs.open_for(x["conversation_id"])
        assert (still_open is not None) == (x["conversation_id"] == again_cid)
    # resolving again notifies nobody twice: a 409
    r = client.post(f"/api/agent/incidents/{en['id']}/resolve", headers=AGENT)
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_transition"
    assert all(len(notices(services, cid)) == 1 for cid in linked)
    detail = client.get(f"/api/agent/incidents/{en['id']}", headers=AGENT).json()
    assert all(x["notified_at"] for x in detail["links"])
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds == ["detected", "confirmed", "replied", "resolved", "customers_notified"]
    assert detail["timeline"][-1]["detail"]["count"] == len(linked)
    # after resolution the cluster is ordinary again: a new question is no longer told the note
    assert ask(client, BURST[9])["reply"]["kind"] != "incident_note"

    # the outcome metrics report the one incident and its clocks
    m = client.get("/api/agent/metrics", headers=AGENT).json()["incidents"]
    assert m["count"] == 1 and m["resolved"] == 1 and m["confirmed"] == 1
    rows = {r["id"]: r for r in m["incidents"]}
    assert rows[en["id"]]["customers_notified"] == len(linked)
    assert all(r["seconds_to_page"] is not None and r["seconds_to_page"] >= 0 for r in rows.values())
    assert all(r["seconds_to_confirm"] is not None and r["seconds_to_resolve"] is not None for r in rows.values())
    assert m["customers_notified"] == sum(r["customers_notified"] for r in rows.values())

    spec = client.get("/openapi.json").json()["paths"]
    for route in ("reply", "resolve"):
        assert set(spec[f"/api/agent/incidents/{{incident_id}}/{route}"]["post"]["responses"]) >= {
            "200", "401", "404", "409", "422", "429"
        }


@pytest.fixture()
def mail_desk(data_dir: Path, embedders: list) -> Iterator[tuple[Any, Any, Any]]:
    from fastapi.testclient import TestClient

    from bot.services import build_services
    from bot.web.app import create_app
    from tests.support import MailSink, free_port, make_settings, set_thresholds

    sink = MailSink().up()
    settings = make_settings(
        data_dir, smtp_listen=f"127.0.0.1:{free_port()}", smtp_relay=f"smtp://127.0.0.1:{sink.port}",
        mail_from="support@ledgerly.test", public_url="https://help.ledgerly.test", sla_policies=[],
    )
    services = build_services(settings, embedders=embedders)
    set_thresholds(services, answer=1.01)
    services.start_channels()
    with TestClient(create_app(services.settings, services)) as client:
        yield client, services, sink
    services.close()
    sink.down()


def test_email_customers_get_the_note_and_exactly_one_resolution_mail_in_their_language(mail_desk: Any) -> None:
    import smtplib
    from email.message import EmailMessage
    from email.utils import make_msgid

    from tests.support import AGENT

    client, services, sink = mail_desk

    def send(sender: str, text: str) -> None:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = sender, "support@ledgerly.test", text[:40]
        msg["Message-ID"] = make_msgid(domain="example.test")
        msg.set_content(text)
        host, port = services.settings.smtp_listen.rsplit(":", 1)
        with smtplib.SMTP(host, int(port), timeout=30) as smtp:
            smtp.send_message(msg)

    en = open_incident(client, BURST[:8], "en")  # the Chinese customers' paraphrases join this one incident
    assert client.post(f"/api/agent/incidents/{en['id']}/confirm", headers=AGENT,
                       json={"note_en": NOTE_EN, "note_zh": NOTE_ZH}).status_code == 200
    customers = {"ann@example.com": ("en", BURST[8]), "bob@example.com": ("en", BURST[9]),
                 "wang@example.cn": ("zh", BURST_ZH[12]), "li@example.cn": ("zh", BURST_ZH[13])}
    for sender, (_, text) in customers.items():
        send(sender, text)
    notes = sink.wait(4)
    def body(m: Any) -> str:  # the message before the mail's footer
        return str(m.get_content()).replace("\r\n", "\n").split("\n\n--\n")[0].strip()

    assert {str(m["To"]): body(m) for m in notes} == {
        s: (NOTE_ZH if lang == "zh" else NOTE_EN) for s, (lang, _) in customers.items()
    }
    r = client.post(f"/api/agent/incidents/{en['id']}/resolve", headers=AGENT,
                    json={"note_en": "The sync is fixed.", "note_zh": "同步已修复。"})
    assert r.status_code == 200, r.text
    assert client.post(f"/api/agent/incidents/{en['id']}/resolve", headers=AGENT).status_code == 409
    channels = client.get(f"/api/agent/incidents/{en['id']}", headers=AGENT).json()["timeline"][-1]["detail"]
    assert channels["channels"]["email"] == 4
    sink.wait(8)
    for _ in range(3):  # nothing more is due, however often the dispatcher runs
        services.dispatcher.tick()
    notices = list(sink.mails[4:])
    assert len(sink.mails) == 8
    got = sorted((str(m["To"]), body(m)) for m in notices)
    assert got == sorted(
        (s, "关于您反馈的问题：现已修复。 同步已修复。" if lang == "zh" else "Update on the problem you wrote to us about: "
         "it has been fixed. The sync is fixed.")
        for s, (lang, _) in customers.items()
    )
