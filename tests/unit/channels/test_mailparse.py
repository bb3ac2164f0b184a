"""Reading customers' mail: the new words only, in the shapes real mail clients send."""

from __future__ import annotations

from email.message import EmailMessage

from bot.channels.mailparse import html_to_text, parse, strip_reply


def test_gmail_style_quote_and_signature_are_stripped() -> None:
    text = (
        "Hi,\n\nmy e-invoice was rejected with E1042.\n\nBest regards,\nAnna Schmidt\nAcme GmbH\n\n"
        "On Mon, 30 Nov 2026 at 09:12, Ledgerly Support <support@ledgerly.test>\nwrote:\n\n> Hello Anna,\n> ..."
    )
    assert strip_reply(text) == "Hi,\n\nmy e-invoice was rejected with E1042."


def test_outlook_header_block_and_chinese_clients() -> None:
    outlook = "Please see below.\n\nFrom: Ledgerly Support <support@ledgerly.test>\nSent: Monday\nTo: me\nSubject: x\n\nold"
    assert strip_reply(outlook) == "Please see below."
    qq = "发票抬头写错了怎么改？\n\n发自我的iPhone\n\n------------------ 原始邮件 ------------------\n发件人: x"
    assert strip_reply(qq) == "发票抬头写错了怎么改？"
    foxmail = "好的，谢谢。\n\n在 2026-12-01 10:00:00，\"Ledgerly\" <support@ledgerly.test> 写道：\n> 旧内容"
    assert strip_reply(foxmail) == "好的，谢谢。"
    sig = "Where is the VAT report?\n-- \nJohn Doe | CFO | +44 20 7946 0000"
    assert strip_reply(sig) == "Where is the VAT report?"


def test_a_short_message_keeps_its_words() -> None:
    assert strip_reply("Thanks") == "Thanks"
    assert strip_reply("谢谢") == "谢谢"
    assert strip_reply("> only a quote\nand my answer") == "and my answer"


def test_html_mail_without_blockquotes_scripts_or_outlook_history() -> None:
    html = (
        "<html><head><style>p{color:red}</style></head><body><p>How do I export to DATEV?</p>"
        "<div class='gmail_quote'>On Monday ... wrote:<blockquote>old text</blockquote></div>"
        "<script>alert(1)</script></body></html>"
    )
    assert html_to_text(html) == "How do I export to DATEV?"
    outlook = "<div>Yes, that fixed it.</div><div id='appendonsend'></div><hr><b>From:</b> Support"
    assert html_to_text(outlook) == "Yes, that fixed it."


def test_parse_prefers_plain_text_and_reads_a_chinese_subject() -> None:
    msg = EmailMessage()
    msg["From"] = "王芳 <Wang.Fang@Example.cn>"
    msg["To"] = "support@ledgerly.test"
    msg["Subject"] = "红字发票怎么开"
    msg["Message-ID"] = "<abc@example.cn>"
    msg["References"] = "<r1@x> <r2@x>"
    msg["In-Reply-To"] = "<r2@x>"
    msg.set_content("客户退货了，怎么开红字发票？")
    msg.add_alternative("<p>HTML 版本</p>", subtype="html")
    m = parse(msg.as_bytes(), 1000)
    assert (m.from_addr, m.from_name, m.subject) == ("wang.fang@example.cn", "王芳", "红字发票怎么开")
    assert m.text == "客户退货了，怎么开红字发票？" and m.auto is None and m.bounce is None
    assert m.thread_ids == ["<r2@x>", "<r2@x>", "<r1@x>"]


def test_html_only_mail_and_automatic_mail() -> None:
    msg = EmailMessage()
    msg["From"] = "a@example.com"
    msg["Subject"] = "Auto"
    msg["Auto-Submitted"] = "auto-replied"
    msg.set_content("<p>I am away</p>", subtype="html")
    m = parse(msg.as_bytes(), 1000)
    assert m.text == "I am away" and m.auto == "Auto-Submitted: auto-replied"
    msg.replace_header("Auto-Submitted", "no")
    assert parse(msg.as_bytes(), 1000).auto is None
