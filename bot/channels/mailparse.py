"""Reading a customer's mail: the new text (quoted history and signatures stripped), its threading
headers, its attachments, and whether it is an auto-reply, a bulk mail or a bounce (never answered).

Only the standard ``email`` package: the policy parses headers (RFC 2047 words, Chinese subjects)
and ``get_body`` picks the part a mail client would show.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser

from escalation.models import Attachment

MAX_TEXT = 20_000  # longest customer text kept from one mail
MSGID = re.compile(r"<[^<>\s]+@[^<>\s]+>")

# where the quoted history of a reply begins (the line and everything after it goes)
_QUOTE_HEADERS = [
    re.compile(r"^\s*On\b.{0,300}\bwrote:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*在.{0,300}写道\s*[:：]\s*$", re.DOTALL),
    re.compile(r"^\s*-{2,}\s*(Original Message|Forwarded message|原始邮件|转发的邮件|原始郵件)\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^\s*_{10,}\s*$"),
    re.compile(r"^\s*-{5,}\s*$"),
]
_HEADER_BLOCK = re.compile(r"^\s*\*?(From|发件人|寄件者)\*?\s*[:：]", re.IGNORECASE)
_HEADER_NEXT = re.compile(r"^\s*\*?(Sent|Date|To|Subject|发送时间|时间|日期|收件人|主题)\*?\s*[:：]", re.IGNORECASE)
_SIGNATURE = re.compile(r"^(--|-- |__)\s*$")
_DEVICE = re.compile(
    r"^\s*(Sent from my \w+|Sent from (Mail|Outlook) for \w+|Get Outlook for \w+|发自我的\s*\w+|"
    r"从我的\s*\w+\s*发送|Sent from Yahoo Mail.*|来自.{0,20}邮箱)\s*$",
    re.IGNORECASE,
)
_SIGN_OFF = re.compile(
    r"^\s*(best( regards)?|kind regards|regards|thanks( a lot)?|thank you|many thanks|cheers|br|"
    r"此致|敬礼|祝好|谢谢|多谢|感谢)[,.!，。！]*\s*$",
    re.IGNORECASE,
)


def strip_reply(text: str) -> str:
    """The customer's new words: no quoted history, no ``>`` lines, no signature or device footer."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    for i, line in enumerate(lines):
        two = line + " " + lines[i + 1] if i + 1 < len(lines) else line  # "On ... <a@b>\nwrote:"
        if any(p.match(line) for p in _QUOTE_HEADERS) or (
            _QUOTE_HEADERS[0].match(two) and not line.strip().endswith(".")
        ) or _QUOTE_HEADERS[1].match(two):
            break
        if _HEADER_BLOCK.match(line) and any(_HEADER_NEXT.match(x) for x in lines[i + 1 : i + 4]):
            break
        if _SIGNATURE.match(line):
            break
        if line.lstrip().startswith(">") or _DEVICE.match(line):
            continue
        out.append(line.rstrip())
    # a sign-off near the end ("Best regards,\nAnna\nAcme GmbH") and the short lines after it
    for j in range(len(out) - 1, max(-1, len(out) - 7), -1):
        if _SIGN_OFF.match(out[j]) and all(len(x) <= 40 for x in out[j + 1 :]) and j > 0:
            out = out[:j]
            break
    return "\n".join(out).strip()


class _HtmlText(HTMLParser):
    """Visible text of an HTML mail, without quoted blocks (blockquote, Gmail and Outlook quotes)."""

    _BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "table", "hr"}
    _SKIP = {"script", "style", "head", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._stack: list[bool] = []  # per open tag: does it start a skipped region
        self.stopped = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.stopped:
            return
        a = {k: (v or "") for k, v in attrs}
        if a.get("id") in ("appendonsend", "divRplyFwdMsg") or "OutlookMessageHeader" in a.get("class", ""):
            self.stopped = True  # Outlook: what follows is the quoted mail
            return
        quoted = tag == "blockquote" or "gmail_quote" in a.get("class", "") or "yahoo_quoted" in a.get("class", "")
        skip = tag in self._SKIP or quoted
        if tag not in ("br", "hr", "img", "meta", "link", "input"):
            self._stack.append(skip)
            if skip:
                self._skip += 1
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self.stopped or tag in ("br", "hr", "img", "meta", "link", "input"):
            return
        if self._stack and self._stack.pop():
            self._skip -= 1
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip and not self.stopped:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    p = _HtmlText()
    p.feed(html)
    p.close()
    text = re.sub(r"[ \t\u00a0]+", " ", "".join(p.parts))
    return re.sub(r"\n\s*\n+", "\n\n", text).strip()


@dataclass(frozen=True)
class Bounce:
    """A delivery failure report about one of our mails."""

    message_ids: list[str]
    status: str
    diagnostic: str


@dataclass
class Inbound:
    message_id: str
    from_addr: str
    from_name: str
    to_addrs: list[str]
    subject: str
    in_reply_to: list[str]
    references: list[str]
    text: str  # the new words, for the bot and the transcript
    attachments: list[Attachment] = field(default_factory=list)
    skipped_attachments: list[str] = field(default_factory=list)  # over the size limit: named, not kept
    auto: str | None = None  # why this is not a person writing (auto-reply, bulk, list), else None
    bounce: Bounce | None = None

    @property
    def thread_ids(self) -> list[str]:
        return [*self.in_reply_to, *reversed(self.references)]


def _ids(value: object) -> list[str]:
    return MSGID.findall(str(value or ""))


def _auto(msg: Message) -> str | None:
    """RFC 3834 and common practice: mails no person wrote, which must never be answered."""
    auto = str(msg.get("Auto-Submitted", "")).strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = str(msg.get("Precedence", "")).strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    for header in ("X-Autoreply", "X-Autorespond", "X-Auto-Response"):
        if msg.get(header):
            return header
    if str(msg.get("X-Auto-Response-Suppress", "")).lower() in ("all", "oof") and msg.get("X-MS-Exchange-Organization-AutoResponse"):
        return "Exchange auto-response"
    if msg.get("List-Id") or msg.get("List-Unsubscribe"):
        return "mailing list"
    sender = parseaddr(str(msg.get("From", "")))[1].lower()
    if sender.split("@")[0] in ("mailer-daemon", "postmaster", "noreply", "no-reply", "donotreply"):
        return f"From: {sender}"
    return None


def _bounce(msg: Message) -> Bounce | None:
    ctype = msg.get_content_type()
    sender = parseaddr(str(msg.get("From", "")))[1].lower()
    is_report = ctype == "multipart/report" and msg.get_param("report-type") == "delivery-status"
    if not is_report and not sender.startswith(("mailer-daemon@", "postmaster@")):
        return None
    status, diagnostic, ids = "", "", []
    for part in msg.walk():
        pt = part.get_content_type()
        if pt in ("message/delivery-status", "text/delivery-status"):
            payload = part.get_payload()
            blocks = payload if isinstance(payload, list) else []
            for block in blocks:
                if isinstance(block, Message):
                    status = status or str(block.get("Status", "")).strip()
                    diagnostic = diagnostic or str(block.get("Diagnostic-Code", "")).strip()
            if not blocks:  # left as text by the parser: read the fields from it
                raw = part.get_payload(decode=True)
                body = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(payload)
                found = re.search(r"^Status:\s*(\S+)", body, re.MULTILINE | re.IGNORECASE)
                diag = re.search(r"^Diagnostic-Code:\s*(.+)$", body, re.MULTILINE | re.IGNORECASE)
                status = status or (found.group(1) if found else "")
                diagnostic = diagnostic or (diag.group(1).strip() if diag else "")
        elif pt in ("message/rfc822", "text/rfc822-headers"):
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            ids += _ids(inner.get("Message-ID") if isinstance(inner, Message) else part.get_payload(decode=True))
        elif pt == "text/plain" and not ids:
            ids += _ids(part.get_payload(decode=True))
    return Bounce(ids, status or "5.0.0", diagnostic or str(msg.get("Subject", "delivery failed")))


def _attachments(msg: EmailMessage, limit: int) -> tuple[list[Attachment], list[str]]:
    kept: list[Attachment] = []
    skipped: list[str] = []
    used = 0
    for part in msg.iter_attachments():
        name = part.get_filename() or f"attachment.{part.get_content_subtype()}"
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            continue
        if used + len(data) > limit:
            skipped.append(name)
            continue
        used += len(data)
        kept.append(Attachment(name[:200], part.get_content_type(), data))
    return kept, skipped


def _body(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown charset: bytes as UTF-8, replacing what does not decode
        raw = part.get_payload(decode=True)
        content = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""
    return html_to_text(content) if part.get_content_type() == "text/html" else str(content)


def parse(raw: bytes, max_attachment_bytes: int) -> Inbound:
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    name, addr = parseaddr(str(msg.get("From", "")))
    to = [a.lower() for _, a in getaddresses([str(msg.get(h, "")) for h in ("To", "Cc", "Delivered-To")]) if a]
    bounce = _bounce(msg)
    attachments, skipped = ([], []) if bounce else _attachments(msg, max_attachment_bytes)
    ids = _ids(msg.get("Message-ID"))
    return Inbound(
        message_id=ids[0] if ids else "",
        from_addr=addr.strip().lower(),
        from_name=name.strip(),
        to_addrs=to,
        subject=str(msg.get("Subject", "")).strip(),
        in_reply_to=_ids(msg.get("In-Reply-To")),
        references=_ids(msg.get("References")),
        text="" if bounce else strip_reply(_body(msg))[:MAX_TEXT],
        attachments=attachments,
        skipped_attachments=skipped,
        auto=None if bounce else _auto(msg),
        bounce=bounce,
    )
