"""The email channel: mail in (the desk's SMTP listener or an IMAP mailbox), mail out (a relay, queued).

Inbound, each mail becomes a customer message in a conversation (stored once under its Message-ID,
then answered by the same chat turn as the widget); a reply is matched to its conversation by our
Message-IDs in In-Reply-To/References or by the signed plus-address in Reply-To, and only when it
comes from the conversation's address. Auto-replies, bulk mail, our own mails and bounces are never
answered (a bounce marks the mail it reports and tells the agent).

Outbound, every bot or agent message of an email conversation, every agent reply a widget customer
left unseen, and every transcript asked for is a row of the mail outbox, written with the message;
:meth:`EmailChannel.send_due` sends due rows through ``HELPDESK_SMTP_RELAY`` with threading headers
and retries failures with backoff for two days.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import imaplib
import logging
import re
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any
from urllib.parse import unquote, urlsplit

from bot.channels.mailparse import Inbound, parse
from bot.flow.chat import NONE_OF_THESE, ChatService, InvalidChoice
from escalation.identity import ConversationKeys
from escalation.models import Conversation, MailStatus, Message, parse_iso
from escalation.ratelimit import RateLimited
from escalation.storage import Storage
from knowledge.lang import detect_language

log = logging.getLogger("helpdesk.email")

GIVE_UP_AFTER = timedelta(days=2)
MAX_REFERENCES = 20

TEXTS = {
    "subject": {"en": "Your Ledgerly support conversation", "zh": "您的 Ledgerly 客服对话"},
    "transcript_subject": {"en": "Transcript of your Ledgerly support conversation", "zh": "您与 Ledgerly 客服的对话记录"},
    "missed": {"en": "You have a new reply from our support team:", "zh": "客服给您回复了："},
    "continue": {"en": "Continue the conversation: {url}", "zh": "继续对话：{url}"},
    "reply_hint": {"en": "You can answer by replying to this email.", "zh": "直接回复此邮件即可继续对话。"},
    "choose": {
        "en": "Reply with the number of your question, or write it in other words:",
        "zh": "请回复您想问的问题的编号，或换一种说法重新描述：",
    },
    "none": {"en": "0. None of these (a person will answer)", "zh": "0. 都不是（转人工）"},
    "roles": {"en": "You|Assistant|Support team|Note", "zh": "我|智能助手|人工客服|提示"},
}


def _t(key: str, lang: str, **kw: object) -> str:
    return TEXTS[key].get(lang, TEXTS[key]["en"]).format(**kw)


class PermanentFailure(Exception):
    """The relay refused the mail for good (5xx): it is not retried."""


class TemporaryFailure(Exception):
    """The relay is down or said 4xx: the mail is retried later."""


@dataclass(frozen=True)
class MailConfig:
    address: str = "support@example.com"
    name: str = "Ledgerly Support"
    relay: str | None = None
    public_url: str | None = None
    max_attachment_bytes: int = 5 * 1024 * 1024

    @property
    def local(self) -> str:
        return self.address.rsplit("@", 1)[0].lower()

    @property
    def domain(self) -> str:
        return self.address.rsplit("@", 1)[1].lower()


class Relay:
    """``smtp://[user:pass@]host:port`` (STARTTLS when offered) or ``smtps://...`` (TLS from the start)."""

    def __init__(self, url: str, timeout: float = 20.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("HELPDESK_SMTP_RELAY must be smtp://host:port or smtps://user:pass@host:port")
        self.tls = parts.scheme == "smtps"
        self.host = parts.hostname
        self.port = parts.port or (465 if self.tls else 25)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.timeout = timeout

    def send(self, msg: EmailMessage) -> None:
        try:
            smtp: smtplib.SMTP
            if self.tls:
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                smtp.ehlo()
                if not self.tls and smtp.has_extn("starttls"):
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            detail = "; ".join(f"{code} {text.decode(errors='replace')}" for code, text in exc.recipients.values())
            if all(code >= 500 for code in codes):
                raise PermanentFailure(detail) from None
            raise TemporaryFailure(detail) from None
        except smtplib.SMTPResponseException as exc:
            detail = f"{exc.smtp_code} {exc.smtp_error.decode(errors='replace') if isinstance(exc.smtp_error, bytes) else exc.smtp_error}"
            if exc.smtp_code >= 500 and not isinstance(exc, smtplib.SMTPAuthenticationError):
                raise PermanentFailure(detail) from None
            raise TemporaryFailure(detail) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TemporaryFailure(f"{type(exc).__name__}: {exc}") from None


def mail_client_id(message_id: str) -> str:
    """The client id a mail is stored under: its Message-ID (any length) hashed to a fixed size."""
    return "mail:" + hashlib.sha256(message_id.encode()).hexdigest()[:40]


class EmailChannel:
    def __init__(
        self,
        storage: Storage,
        chat: ChatService,
        keys: ConversationKeys,
        config: MailConfig,
        limit_sender: Callable[[str], None] | None = None,
    ) -> None:
        self.storage = storage
        self.chat = chat
        self.keys = keys
        self.config = config
        self.limit_sender = limit_sender
        self.relay = Relay(config.relay) if config.relay else None
        self.received: dict[str, int] = {}

    # -- addresses and ids --------------------------------------------------------------------------

    def reply_address(self, conversation_id: str) -> str:
        c = self.config
        return f"{c.local}+{conversation_id}.{self.keys.reply_tag(conversation_id)}@{c.domain}"

    def message_id(self, token: str) -> str:
        return f"<{token}.helpdesk@{self.config.domain}>"

    def own_token(self, message_id: str) -> str | None:
        m = re.fullmatch(r"<([0-9a-f]{32})\.helpdesk@([^>]+)>", message_id.strip())
        return m.group(1) if m and m.group(2).lower() == self.config.domain else None

    def is_ours(self, address: str) -> bool:
        local, _, domain = address.lower().rpartition("@")
        return domain == self.config.domain and local.split("+", 1)[0] == self.config.local

    # -- inbound ------------------------------------------------------------------------------------

    def _count(self, outcome: str) -> str:
        self.received[outcome] = self.received.get(outcome, 0) + 1
        return outcome

    def receive(self, raw: bytes) -> str:
        """One inbound mail: stored and answered, or recorded as a bounce, or ignored; the outcome."""
        mail = parse(raw, self.config.max_attachment_bytes)
        if mail.bounce is not None:
            return self._count(self._bounced(mail))
        if self.own_token(mail.message_id) or self.is_ours(mail.from_addr):
            log.info("ignored our own mail %s (a loop)", mail.message_id)
            return self._count("ignored: our own mail")
        if mail.auto:
            log.info("ignored an automatic mail from %s (%s)", mail.from_addr, mail.auto)
            return self._count("ignored: automatic")
        if not mail.from_addr or "@" not in mail.from_addr:
            return self._count("ignored: no sender")
        client_id = mail_client_id(mail.message_id or hashlib.sha256(raw).hexdigest())
        stored = self.storage.conversations.by_client_id(client_id)
        conv = self.storage.conversations.get(stored.conversation_id) if stored else self._conversation_for(mail)
        if stored is None and self.limit_sender is not None:
            try:
                self.limit_sender(mail.from_addr)
            except RateLimited:
                log.warning("ignored a mail from %s: over the per-sender limit", mail.from_addr)
                return self._count("ignored: rate limited")
        text = mail.text or ("(" + ", ".join(a.filename for a in mail.attachments) + ")" if mail.attachments else "")
        if not text.strip():
            return self._count("ignored: empty")
        if conv is None:
            conv = self.storage.conversations.create(
                detect_language(text), channel="email", contact_email=mail.from_addr,
                profile={"email": mail.from_addr, **({"name": mail.from_name} if mail.from_name else {})},
            )
        self._remember_thread(conv, mail)
        choice = self._choice(conv, text)
        try:
            turn = self.chat.handle(
                text, conv, None, choice, client_id, None, attachments=tuple(mail.attachments)
            )
        except InvalidChoice:
            turn = self.chat.handle(text, conv, None, None, client_id, None, attachments=tuple(mail.attachments))
        if mail.skipped_attachments:
            self.storage.conversations.add_message(
                conv.id, "system",
                f"Attachments over the {self.config.max_attachment_bytes // 1024} KB limit were not kept: "
                + ", ".join(mail.skipped_attachments),
                {"kind": "attachments_skipped"},
            )
        return self._count("replayed" if turn.replayed else str(turn.reply.kind))

    def _conversation_for(self, mail: Inbound) -> Conversation | None:
        """The conversation this mail answers, when it comes from that conversation's address."""
        candidates: list[str] = []
        for addr in mail.to_addrs:
            local = addr.rsplit("@", 1)[0]
            if self.is_ours(addr) and "+" in local:
                conv_id, _, tag = local.split("+", 1)[1].partition(".")
                if tag and self.keys.check_reply_tag(conv_id, tag):
                    candidates.append(conv_id)
        for mid in mail.thread_ids:
            token = self.own_token(mid)
            row = self.storage.mail.by_token(token) if token else None
            if row is not None:
                candidates.append(row["conversation_id"])
            else:
                earlier = self.storage.conversations.by_client_id(mail_client_id(mid))
                if earlier is not None:
                    candidates.append(earlier.conversation_id)
        for conv_id in candidates:
            try:
                conv = self.storage.conversations.get(conv_id)
            except Exception:
                continue
            if conv.email and conv.email.lower() == mail.from_addr:
                return conv
        return None

    def _remember_thread(self, conv: Conversation, mail: Inbound) -> None:
        thread = dict(conv.mail_thread)
        refs = [r for r in thread.get("references", []) if r not in mail.references]
        refs = [*mail.references, *refs]
        if mail.message_id and mail.message_id not in refs:
            refs.append(mail.message_id)
        thread["references"] = refs[-MAX_REFERENCES:]
        thread["last_inbound"] = mail.message_id
        thread.setdefault("subject", mail.subject)
        self.storage.conversations.set_mail_thread(conv.id, thread)

    @staticmethod
    def _choice(conv: Conversation, text: str) -> str | None:
        pending = list(conv.state.get("pending", []))
        m = re.fullmatch(r"\s*(\d)\s*[.)。]?\s*", text)
        if not pending or m is None:
            return None
        n = int(m.group(1))
        if n == 0:
            return NONE_OF_THESE
        return pending[n - 1] if n <= len(pending) else None

    def _bounced(self, mail: Inbound) -> str:
        assert mail.bounce is not None
        for mid in mail.bounce.message_ids:
            token = self.own_token(mid)
            row = self.storage.mail.by_token(token) if token else None
            if row is not None:
                self.storage.mail.failed(
                    int(row["id"]), f"{mail.bounce.status} {mail.bounce.diagnostic}".strip(), status=MailStatus.BOUNCED
                )
                return "bounce"
        log.info("a bounce about no mail of ours: %s", mail.bounce.message_ids)
        return "ignored: unknown bounce"

    # -- outbound -----------------------------------------------------------------------------------

    def link(self, conversation_id: str) -> str | None:
        """Where the customer continues in the browser (the token travels in the fragment, never to a server log)."""
        if not self.config.public_url:
            return None
        token = self.keys.token_for(conversation_id)
        return f"{self.config.public_url.rstrip('/')}/conversation#c={conversation_id}&t={token}"

    def _signature(self, m: Message) -> str:
        if m.role != "agent" or not m.author:
            return ""
        row = self.storage.accounts.agent(m.author)
        name = (row or {}).get("display_name") or m.author
        return f"\n\n— {name}, {self.config.name}"

    def _clarify(self, m: Message, lang: str) -> str:
        suggestions = m.meta.get("suggestions") or []
        if m.meta.get("kind") != "clarify" or not suggestions:
            return ""
        lines = [f"{i}. {s.get('title', '')}" for i, s in enumerate(suggestions, 1)]
        return "\n\n" + _t("choose", lang) + "\n" + "\n".join(lines) + "\n" + _t("none", lang)

    def _transcript(self, conv: Conversation) -> str:
        you, bot, agent, note = _t("roles", conv.lang).split("|")
        names = {"customer": you, "bot": bot, "agent": agent, "system": note}
        out = []
        for m in self.storage.conversations.messages(conv.id):
            if m.role == "system":
                continue
            who = names[m.role] + (f" ({m.author})" if m.role == "agent" and m.author else "")
            out.append(f"[{m.created_at[:16].replace('T', ' ')} UTC] {who}:\n{m.text}\n")
        return "\n".join(out)

    def render(self, row: dict[str, Any]) -> EmailMessage:
        conv = self.storage.conversations.get(row["conversation_id"])
        lang = conv.lang
        thread = conv.mail_thread
        message = self.storage.conversations.get_message(int(row["message_id"])) if row["message_id"] else None
        link = self.link(conv.id)
        if row["kind"] == "transcript":
            body = self._transcript(conv)
            subject = _t("transcript_subject", lang)
        elif row["kind"] == "missed" and message is not None:
            body = f"{_t('missed', lang)}\n\n{message.text}{self._signature(message)}"
            subject = thread.get("subject") or _t("subject", lang)
        else:
            assert message is not None
            body = message.text + self._clarify(message, lang) + self._signature(message)
            subject = thread.get("subject") or _t("subject", lang)
        footer = [_t("reply_hint", lang)] + ([_t("continue", lang, url=link)] if link else [])
        msg = EmailMessage()
        msg["From"] = formataddr((self.config.name, self.config.address))
        msg["To"] = row["to_addr"]
        msg["Reply-To"] = Address(self.config.name, addr_spec=self.reply_address(conv.id))
        if row["kind"] != "transcript" and not subject.lower().startswith(("re:", "回复：", "回复:")):
            subject = "Re: " + subject
        msg["Subject"] = subject
        msg["Date"] = format_datetime(datetime.now(UTC))
        msg["Message-ID"] = self.message_id(row["token"])
        refs = [r for r in thread.get("references", []) if isinstance(r, str)]
        if row["kind"] != "transcript" and refs:
            msg["In-Reply-To"] = thread.get("last_inbound") or refs[-1]
            msg["References"] = " ".join(refs[-MAX_REFERENCES:])
        if message is not None and message.role == "bot":
            msg["Auto-Submitted"] = "auto-replied"  # RFC 3834: other robots do not answer it
        elif row["kind"] != "reply":
            msg["Auto-Submitted"] = "auto-generated"
        msg["X-Auto-Response-Suppress"] = "All"  # no out-of-office replies back to the desk
        msg.set_content(body + "\n\n--\n" + "\n".join(footer) + "\n")
        return msg

    def send_due(self, now: datetime | None = None, limit: int = 20) -> int:
        """Send the mail that is due; how many went out."""
        if self.relay is None:
            return 0
        now = now or datetime.now(UTC)
        sent = 0
        for row in self.storage.mail.take_due(now, limit):
            try:
                msg = self.render(row)
            except Exception as exc:  # its conversation or message was purged meanwhile
                self.storage.mail.failed(int(row["id"]), f"cannot be written: {exc}")
                continue
            try:
                self.relay.send(msg)
            except PermanentFailure as exc:
                log.warning("mail %s to %s refused: %s", row["id"], row["to_addr"], exc)
                self.storage.mail.failed(int(row["id"]), str(exc))
                continue
            except TemporaryFailure as exc:
                created = parse_iso(row["created_at"])
                if now - created > GIVE_UP_AFTER:
                    self.storage.mail.failed(int(row["id"]), f"gave up after {row['attempts'] + 1} tries: {exc}")
                else:
                    self.storage.mail.retry(row, str(exc), now)
                continue
            self.storage.mail.sent(int(row["id"]), now)
            self._sent_in_thread(row["conversation_id"], str(msg["Message-ID"]))
            sent += 1
        return sent

    def _sent_in_thread(self, conversation_id: str, message_id: str) -> None:
        conv = self.storage.conversations.get(conversation_id)
        thread = dict(conv.mail_thread)
        refs = [*thread.get("references", []), message_id]
        thread["references"] = refs[-MAX_REFERENCES:]
        self.storage.conversations.set_mail_thread(conversation_id, thread)


class SmtpListener:
    """The desk's own SMTP server for inbound mail (aiosmtpd), accepting only the support address.

    A mail is acknowledged (250) only after it is stored and answered; a failure says 451 so the
    sending MTA tries again (the retry is recognised by its Message-ID and stored once)."""

    def __init__(self, channel: EmailChannel, listen: str, max_bytes: int) -> None:
        from aiosmtpd.controller import Controller

        host, _, port = listen.rpartition(":")
        self.channel = channel
        self.controller = Controller(
            self, hostname=host or "127.0.0.1", port=int(port), data_size_limit=max_bytes, ready_timeout=10,
            server_hostname=channel.config.domain,
        )

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        if not self.channel.is_ours(address):
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        try:
            outcome = await asyncio.get_running_loop().run_in_executor(None, self.channel.receive, raw)
        except Exception:
            log.exception("inbound mail not processed; the sender will retry")
            return "451 4.3.0 Temporary failure, please try again later"
        return f"250 OK {outcome}"

    def start(self) -> None:
        self.controller.start()
        log.info("SMTP listener on %s:%s", self.controller.hostname, self.controller.port)

    def stop(self) -> None:
        self.controller.stop()


class ImapPoller:
    """Fetch unseen mail from a mailbox (``imaps://user:pass@host:993/INBOX``); each is marked seen
    after it was stored and answered, so a failure leaves it for the next poll."""

    def __init__(self, channel: EmailChannel, url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("imap", "imaps") or not parts.hostname or not parts.username:
            raise ValueError("HELPDESK_IMAP_URL must be imaps://user:pass@host[:port][/mailbox]")
        self.channel = channel
        self.tls = parts.scheme == "imaps"
        self.host = parts.hostname
        self.port = parts.port or (993 if self.tls else 143)
        self.user = unquote(parts.username)
        self.password = unquote(parts.password or "")
        self.mailbox = unquote(parts.path.strip("/")) or "INBOX"
        self.timeout = timeout

    def poll(self) -> int:
        """One pass over the unseen mail; how many were processed."""
        imap: imaplib.IMAP4
        if self.tls:
            imap = imaplib.IMAP4_SSL(self.host, self.port, ssl_context=ssl.create_default_context(), timeout=self.timeout)
        else:
            imap = imaplib.IMAP4(self.host, self.port, timeout=self.timeout)
            if "STARTTLS" in imap.capabilities:
                imap.starttls(ssl.create_default_context())
        done = 0
        try:
            imap.login(self.user, self.password)
            imap.select(self.mailbox)
            _, data = imap.uid("SEARCH", "UNSEEN")
            for uid in (data[0] or b"").decode().split():
                _, fetched = imap.uid("FETCH", uid, "(BODY.PEEK[])")
                raw = next((part[1] for part in fetched if isinstance(part, tuple)), None)
                if not isinstance(raw, bytes):
                    continue
                self.channel.receive(raw)
                imap.uid("STORE", uid, "+FLAGS", "(\\Seen)")
                done += 1
        finally:
            with contextlib.suppress(TimeoutError, OSError, imaplib.IMAP4.error):
                imap.logout()
        return done
