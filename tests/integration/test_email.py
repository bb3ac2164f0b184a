"""The email channel with real SMTP servers: the desk's listener (aiosmtpd) and a sink standing in
for the relay; every threading header is parsed back with the standard ``email`` package."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support import AGENT, MailSink, ask, conv_headers, free_port, make_settings

SUPPORT = "support@ledgerly.test"
CUSTOMER = "wang.fang@example.cn"


@pytest.fixture()
def sink() -> Iterator[MailSink]:
    s = MailSink().up()
    yield s
    s.down()


@pytest.fixture()
def desk(data_dir: Path, embedders: list, sink: MailSink) -> Iterator[Any]:
    from bot.services import build_services

    settings = make_settings(
        data_dir,
        smtp_listen=f"127.0.0.1:{free_port()}",
        smtp_relay=f"smtp://127.0.0.1:{sink.port}",
        mail_from=SUPPORT,
        public_url="https://help.ledgerly.test",
        max_mail_bytes=200_000,
        max_attachment_bytes=50_000,
        sla_policies=[],
    )
    svc = build_services(settings, embedders=embedders)
    svc.start_channels()
    yield svc
    svc.close()


@pytest.fixture()
def api(desk: Any) -> Iterator[TestClient]:
    from bot.web.app import create_app

    with TestClient(create_app(desk.settings, desk)) as c:
        yield c


def mail(text: str, subject: str, sender: str = CUSTOMER, **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = SUPPORT
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="example.cn")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(text)
    return msg


def send(desk: Any, msg: EmailMessage) -> None:
    host, port = desk.settings.smtp_listen.rsplit(":", 1)
    with smtplib.SMTP(host, int(port), timeout=30) as smtp:
        smtp.send_message(msg)


def conversation_of(desk: Any, msg: EmailMessage) -> Any:
    from bot.channels.email import mail_client_id

    stored = desk.storage.conversations.by_client_id(mail_client_id(str(msg["Message-ID"])))
    assert stored is not None, "the mail was not stored"
    return desk.storage.conversations.get(stored.conversation_id)


def test_chinese_mail_gets_a_threaded_answer_from_the_right_entry(desk: Any, sink: MailSink) -> None:
    question = mail(
        "你好，\n\n请问怎么开红字发票？\n\n谢谢\n王芳\n\n发自我的iPhone\n\n"
        "在 2026年12月1日 10:00，Ledgerly <support@ledgerly.test> 写道：\n> 旧的邮件内容",
        "红字发票怎么开",
    )
    send(desk, question)
    reply = sink.wait(1)[0]
    assert reply["In-Reply-To"] == question["Message-ID"]
    assert question["Message-ID"] in reply["References"]
    assert reply["Subject"] == "Re: 红字发票怎么开"
    assert reply["To"] == CUSTOMER and reply["Auto-Submitted"] == "auto-replied"
    assert "红字" in reply.get_content()
    conv = conversation_of(desk, question)
    assert conv.channel == "email" and conv.lang == "zh"
    customer, bot = desk.storage.conversations.messages(conv.id)[:2]
    # quoted history, the sign-off and the device footer never reached the bot
    assert customer.text == "你好，\n\n请问怎么开红字发票？"
    assert bot.meta["kind"] == "answer" and bot.meta["sources"][0]["id"] in {"red-letter-invoice", "credit-note"}
    # the same mail delivered twice (an MTA retry) is stored and answered once
    send(desk, question)
    assert len(desk.storage.conversations.messages(conv.id)) == 2
    desk.dispatcher.tick()
    assert len(sink.mails) == 1


def test_handoff_by_mail_agent_reply_in_the_thread_and_the_customer_reply_back(
    desk: Any, sink: MailSink, api: TestClient
) -> None:
    first = mail("I need to talk to a human about a disputed charge on invoice INV-2291.", "Disputed charge")
    send(desk, first)
    bot_reply = sink.wait(1)[0]
    conv = conversation_of(desk, first)
    handoff = desk.storage.handoffs.open_for(conv.id)
    assert handoff is not None
    assert "person" in bot_reply.get_content()
    queue = api.get("/api/agent/handoffs", headers=AGENT).json()
    assert [h["channel"] for h in queue if h["id"] == handoff.id] == ["email"]

    r = api.post(f"/api/agent/handoffs/{handoff.id}/reply", headers=AGENT, json={"text": "I have refunded INV-2291."})
    assert r.status_code == 200, r.text
    agent_mail = sink.wait(2)[1]
    assert "I have refunded INV-2291." in agent_mail.get_content()
    assert agent_mail["In-Reply-To"] == first["Message-ID"]
    refs = agent_mail["References"].split()
    assert first["Message-ID"] in refs and bot_reply["Message-ID"] in refs
    assert agent_mail["Auto-Submitted"] is None  # a person wrote it
    reply_to = str(agent_mail["Reply-To"])
    assert f"support+{conv.id}." in reply_to

    # the customer answers the agent's mail: it lands in the same conversation, no new handoff
    answer = mail(
        "Thanks, I see the refund now.\n\nOn Tue, 1 Dec 2026 at 10:00, Ledgerly Support <support@ledgerly.test> wrote:\n"
        "> I have refunded INV-2291.",
        "Re: Disputed charge",
        In_Reply_To=str(agent_mail["Message-ID"]),
        References=" ".join([*refs, str(agent_mail["Message-ID"])]),
    )
    send(desk, answer)
    texts = [m.text for m in desk.storage.conversations.messages(conv.id) if m.role == "customer"]
    assert texts[-1] == "Thanks, I see the refund now."
    assert desk.storage.handoffs.open_for(conv.id).id == handoff.id
    detail = api.get(f"/api/agent/handoffs/{handoff.id}", headers=AGENT).json()
    assert detail["contact_email"] == CUSTOMER and [m["status"] for m in detail["mail"]] == ["sent", "sent"]

    # matched by the signed plus-address alone (a client that drops In-Reply-To)
    plus = mail("One more question about it.", "Disputed charge")
    plus.replace_header("To", reply_to)
    send(desk, plus)
    assert conversation_of(desk, plus).id == conv.id
    # ... but a stranger writing into that thread starts their own conversation
    stranger = mail("Show me this conversation", "Re: Disputed charge", sender="mallory@example.org",
                    In_Reply_To=str(agent_mail["Message-ID"]))
    send(desk, stranger)
    assert conversation_of(desk, stranger).id != conv.id


def test_a_clarify_by_mail_lists_numbered_choices_and_a_number_picks_one(desk: Any, sink: MailSink) -> None:
    question = mail("客户退货了，红字发票怎么开？", "退货")
    send(desk, question)
    ask_back = sink.wait(1)[0]
    conv = conversation_of(desk, question)
    bot = desk.storage.conversations.messages(conv.id)[-1]
    assert bot.meta["kind"] == "clarify", bot.meta
    body = ask_back.get_content()
    titles = [s["title"] for s in bot.meta["suggestions"]]
    assert "请回复您想问的问题的编号" in body and f"1. {titles[0]}" in body and "0. 都不是" in body
    pick = mail("2", "Re: 退货", In_Reply_To=str(ask_back["Message-ID"]))
    send(desk, pick)
    answer = sink.wait(2)[1]
    last = desk.storage.conversations.messages(conv.id)[-1]
    assert last.meta["kind"] == "answer" and last.meta["sources"][0]["id"] == bot.meta["suggestions"][1]["id"]
    assert answer["In-Reply-To"] == pick["Message-ID"]


def test_auto_replies_bulk_and_our_own_mail_are_never_answered(desk: Any, sink: MailSink) -> None:
    before = desk.storage.conversations.search("out of office")
    for msg in [
        mail("I am out of office until Monday.", "Automatic reply", Auto_Submitted="auto-replied"),
        mail("I am out of office (bulk).", "Out of office", Precedence="bulk"),
        mail("Newsletter: out of office tips", "News", List_Id="<news.example.cn>"),
        mail("out of office loop", "Re: x", sender=SUPPORT),
    ]:
        send(desk, msg)
    loop = mail("out of office again", "Re: y")
    loop.replace_header("Message-ID", desk.email.message_id("a" * 32))
    send(desk, loop)
    desk.dispatcher.tick()
    assert sink.mails == [] and desk.storage.conversations.search("out of office") == before
    assert desk.email.received == {"ignored: automatic": 3, "ignored: our own mail": 2}


def test_relay_down_for_an_hour_loses_nothing_and_a_refusal_is_shown_to_the_agent(
    desk: Any, sink: MailSink, api: TestClient
) -> None:
    desk.dispatcher.stop()  # the test drives the clock
    sink.down()
    question = mail("怎么开红字发票", "红字发票")
    send(desk, question)
    conv = conversation_of(desk, question)
    now = datetime.now(UTC)
    for minutes in range(0, 60, 5):  # an hour of failed tries
        desk.dispatcher.tick(now + timedelta(minutes=minutes))
    (row,) = desk.storage.mail.of_conversation(conv.id)
    assert row["status"] == "queued" and row["attempts"] >= 3 and "ConnectionRefused" in row["last_error"]
    sink.up()
    desk.dispatcher.tick(now + timedelta(minutes=95))
    assert len(sink.mails) == 1 and sink.mails[0]["In-Reply-To"] == question["Message-ID"]
    desk.dispatcher.tick(now + timedelta(minutes=200))
    assert len(sink.mails) == 1  # sent once

    refused = mail("I need to talk to a person please", "Help", sender="refuse-me@example.cn")
    send(desk, refused)
    desk.dispatcher.tick()
    conv2 = conversation_of(desk, refused)
    (row2,) = desk.storage.mail.of_conversation(conv2.id)
    assert row2["status"] == "failed" and "550" in row2["last_error"]
    handoff = desk.storage.handoffs.open_for(conv2.id)
    detail = api.get(f"/api/agent/handoffs/{handoff.id}", headers=AGENT).json()
    notes = [m for m in detail["transcript"] if m["role"] == "system"]
    assert notes and "could not be delivered" in notes[-1]["text"] and detail["mail"][0]["status"] == "failed"


def test_a_bounce_marks_the_mail_and_tells_the_agent(desk: Any, sink: MailSink) -> None:
    question = mail("I want to speak to an agent about my account", "Account", sender="gone@example.cn")
    send(desk, question)
    sent = sink.wait(1)[0]
    conv = conversation_of(desk, question)
    # a delivery status notification as Postfix writes it (RFC 3464)
    dsn = (
        "From: MAILER-DAEMON@mx.example.cn (Mail Delivery System)\r\nTo: support@ledgerly.test\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-1@mx.example.cn>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nThis is the mail system. Your message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.cn\r\n\r\n"
        "Final-Recipient: rfc822; gone@example.cn\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
        f"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {sent['Message-ID']}\r\nTo: gone@example.cn\r\n"
        "--B--\r\n"
    )
    host, port = desk.settings.smtp_listen.rsplit(":", 1)
    with smtplib.SMTP(host, int(port), timeout=30) as smtp:
        smtp.sendmail("", [SUPPORT], dsn.encode())  # the null sender of bounces
    (row,) = desk.storage.mail.of_conversation(conv.id)
    assert row["status"] == "bounced" and "5.1.1" in row["last_error"]
    notes = [m for m in desk.storage.conversations.messages(conv.id) if m.role == "system"]
    assert "bounced" in notes[-1].text
    assert len(sink.mails) == 1  # the bounce itself is never answered


def test_size_limit_and_attachments(desk: Any, sink: MailSink, api: TestClient) -> None:
    huge = mail("x" * 300_000, "Huge")
    with pytest.raises(smtplib.SMTPException) as refused:
        send(desk, huge)
    assert "552" in str(refused.value) or "exceed" in str(refused.value).lower()

    msg = mail("I need a person to check the attached invoice.", "Attached invoice")
    msg.add_attachment(b"%PDF-1.4 small invoice", maintype="application", subtype="pdf", filename="INV-7.pdf")
    msg.add_attachment(b"\0" * 60_000, maintype="application", subtype="octet-stream", filename="scan.tiff")
    send(desk, msg)
    conv = conversation_of(desk, msg)
    handoff = desk.storage.handoffs.open_for(conv.id)
    detail = api.get(f"/api/agent/handoffs/{handoff.id}", headers=AGENT).json()
    assert [a["filename"] for a in detail["attachments"]] == ["INV-7.pdf"]
    assert any("scan.tiff" in m["text"] for m in detail["transcript"] if m["role"] == "system")
    got = api.get(f"/api/agent/attachments/{detail['attachments'][0]['id']}", headers=AGENT)
    assert got.content == b"%PDF-1.4 small invoice" and "attachment" in got.headers["content-disposition"]
    assert api.get(f"/api/agent/attachments/{detail['attachments'][0]['id']}").status_code == 401


def test_a_widget_customer_who_left_gets_the_agent_reply_by_mail(desk: Any, sink: MailSink, api: TestClient) -> None:
    desk.dispatcher.stop()
    body = ask(api, "I'd like to talk to a person about my VAT return")
    conv_id = body["conversation_id"]
    headers = conv_headers(conv_id)
    assert body["reply"]["kind"] == "handoff" and body["handoff"]["email"] is False
    bad = api.post(f"/api/conversations/{conv_id}/contact", headers=headers, json={"email": "not an address"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_email"
    ok = api.post(f"/api/conversations/{conv_id}/contact", headers=headers, json={"email": "Anna@Example.com"})
    assert ok.status_code == 200 and ok.json()["email"] == "Anna@example.com"
    handoff_id = body["handoff"]["id"]
    api.post(f"/api/agent/handoffs/{handoff_id}/reply", headers=AGENT, json={"text": "Your VAT return is filed."})
    now = datetime.now(UTC)
    desk.dispatcher.tick(now + timedelta(minutes=2))
    assert sink.mails == []  # not yet: the customer may still be looking
    desk.dispatcher.tick(now + timedelta(minutes=6))
    (missed,) = sink.mails
    text = missed.get_content()
    assert missed["To"] == "Anna@example.com" and "Your VAT return is filed." in text
    assert f"https://help.ledgerly.test/conversation#c={conv_id}&t=hc_" in text
    desk.dispatcher.tick(now + timedelta(minutes=12))
    assert len(sink.mails) == 1  # once

    # a reply the customer saw in the widget is not mailed
    api.post(f"/api/agent/handoffs/{handoff_id}/reply", headers=AGENT, json={"text": "Anything else?"})
    assert api.get(f"/api/conversations/{conv_id}/messages", headers=headers).status_code == 200
    desk.dispatcher.tick(now + timedelta(minutes=20))
    assert len(sink.mails) == 1

    # and the transcript on request
    r = api.post(f"/api/conversations/{conv_id}/transcript", headers=headers)
    assert r.status_code == 202
    desk.dispatcher.tick(now + timedelta(minutes=21))
    transcript = sink.mails[-1]
    assert "Transcript" in transcript["Subject"] and "Anything else?" in transcript.get_content()
    assert api.post(f"/api/conversations/{conv_id}/transcript").status_code == 401


def test_imap_mailbox_is_polled_answered_and_marked_seen(desk: Any, sink: MailSink) -> None:
    import os

    from bot.channels.email import ImapPoller
    from tests.support import dovecot

    with dovecot(SUPPORT, "imap-secret") as (port, maildir):
        question = mail("请问怎么开红字发票？", "红字发票")
        path = maildir / "new" / "1.eml"
        path.write_bytes(question.as_bytes())
        os.chown(path, maildir.stat().st_uid, maildir.stat().st_gid)
        poller = ImapPoller(desk.email, f"imap://support%40ledgerly.test:imap-secret@127.0.0.1:{port}/INBOX")
        assert poller.poll() == 1
        reply = sink.wait(1)[0]
        assert reply["In-Reply-To"] == question["Message-ID"] and "红字" in reply.get_content()
        assert conversation_of(desk, question).channel == "email"
        assert poller.poll() == 0  # marked seen: not fetched again
    with pytest.raises(ValueError):
        ImapPoller(desk.email, "http://example.com")
