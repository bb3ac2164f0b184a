"""Repositories, one per aggregate, written once in the SQL both backends share.

The only code besides the backends that knows SQL. Each write is one transaction that also emits
its domain events (published on commit), and every invariant is kept by the database itself: at
most one unresolved handoff per conversation (a partial unique index), one winner per claim and per
resolve (conditional ``UPDATE``), a conversation's status stored once (on its handoff).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, NoReturn

from escalation.errors import HandoffAlreadyClaimed, InvalidTransition, NotFound
from escalation.events import Event, EventKind
from escalation.models import (
    INCIDENT_TRANSITIONS,
    Attachment,
    Conversation,
    ConversationStatus,
    FaqDraft,
    Handoff,
    HandoffStatus,
    IncidentQuestion,
    IncidentStatus,
    Message,
    Role,
    now_iso,
)
from escalation.storage.database import Database, Row, Tx, placeholders
from escalation.storage.delivery import (
    channel_of,
    handoff_payload,
    incident_payload,
    incident_text,
    queue_mail,
    queue_webhook,
)
from escalation.storage.sqlite_migrations import FEEDBACK_COUNTS, metrics_rows
from knowledge.tickets import Ticket


def _j(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


_CONVERSATION = (
    "SELECT c.id, c.lang, c.created_at, c.updated_at, c.state, c.customer_id, c.customer_profile, "
    "c.channel, c.contact_email, c.seen_message_id, c.mail_thread, "
    "EXISTS (SELECT 1 FROM handoffs h WHERE h.conversation_id = c.id AND h.status <> 'resolved') AS waiting "
    "FROM conversations c WHERE c.id = ?"
)


def _message(row: Row) -> Message:
    return Message(
        int(row["id"]),
        row["conversation_id"],
        row["role"],
        row["text"],
        row["created_at"],
        json.loads(row["meta"] or "{}"),
        row["author"],
        row["feedback"],
    )


def _handoff(row: Row) -> Handoff:
    row = dict(row)
    row["id"] = int(row["id"])
    row["candidates"] = json.loads(row["candidates"] or "[]")
    row["status"] = HandoffStatus(row["status"])
    return Handoff(**row)


def _open_handoff_row(tx: Tx, conversation_id: str) -> Row | None:
    return tx.one("SELECT * FROM handoffs WHERE conversation_id = ? AND status <> 'resolved'", (conversation_id,))


def _conversation_of(tx: Tx, handoff_id: int) -> str:
    """The conversation of a handoff; :class:`NotFound` when there is no such handoff."""
    row = tx.one("SELECT conversation_id FROM handoffs WHERE id = ?", (handoff_id,))
    if row is None:
        raise NotFound(f"no handoff {handoff_id}")
    return str(row["conversation_id"])


def _by_client_id(tx: Tx, client_id: str) -> Message | None:
    """The message stored under a sender's client id (a retry finds its first attempt)."""
    row = tx.one("SELECT * FROM messages WHERE client_id = ?", (client_id,))
    return _message(row) if row else None


class DuplicateClientId(Exception):
    """A message with this client id is already stored (the transaction stored nothing)."""


def _answered_entry(role: Role, meta: dict[str, Any]) -> tuple[bool, str | None]:
    """Whether a message is a bot answer, and the id of the FAQ entry it answered from (its first source):
    what ``meta_json`` reads in SQL, read here before the message is stored."""
    if role != "bot" or meta.get("kind") != "answer":
        return False, None
    sources = meta.get("sources")
    first = sources[0] if isinstance(sources, list) and sources else None
    entry = first.get("id") if isinstance(first, dict) else None
    return True, None if entry is None else str(entry)


def _insert_message(
    tx: Tx,
    conversation_id: str,
    role: Role,
    text: str,
    meta: dict[str, Any] | None,
    author: str | None,
    client_id: str | None = None,
    attachments: Iterable[Attachment] = (),
) -> Message:
    now = now_iso()
    row = tx.one(
        "INSERT INTO messages (conversation_id, role, text, created_at, meta, author, client_id) "
        "VALUES (?,?,?,?,?,?,?) ON CONFLICT (client_id) WHERE client_id IS NOT NULL DO NOTHING RETURNING id",
        (conversation_id, role, text, now, _j(meta or {}), author, client_id),
    )
    if row is None:  # the same client id, stored by a concurrent request: the message exists once
        raise DuplicateClientId(client_id or "")
    message = Message(int(row["id"]), conversation_id, role, text, now, meta or {}, author, None)
    answer, entry = _answered_entry(role, meta or {})
    if answer:  # the metrics' rows of an answer (sqlite_migrations.M012), in the message's transaction
        conv = tx.one(
            "UPDATE conversations SET updated_at = ?, first_answer_at = CASE WHEN first_answer_at IS NULL "
            "OR first_answer_at > ? THEN ? ELSE first_answer_at END WHERE id = ? "
            "RETURNING channel, contact_email, created_at",
            (now, now, now, conversation_id),
        )
        tx.execute(
            "INSERT INTO answers (message_id, conversation_id, created_at, started_at, entry_id) VALUES (?,?,?,?,?)",
            (message.id, conversation_id, now, conv["created_at"] if conv else now, entry),
        )
    else:
        conv = tx.one(
            "UPDATE conversations SET updated_at = ? WHERE id = ? RETURNING channel, contact_email",
            (now, conversation_id),
        )
    for a in attachments:
        tx.execute(
            "INSERT INTO attachments (message_id, filename, content_type, size, data) VALUES (?,?,?,?,?)",
            (message.id, a.filename, a.content_type, a.size, a.data),
        )
    # an email conversation's replies go out by mail (queued in this transaction)
    if role in ("bot", "agent") and conv is not None and conv["channel"] == "email" and conv["contact_email"]:
        queue_mail(tx, conversation_id, conv["contact_email"], "reply", message.id)
    tx.emit(Event(EventKind.MESSAGE_ADDED, conversation_id, message_id=message.id))
    return message


class ConversationRepo:
    """Conversations and their messages."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        lang: str,
        customer_id: str | None = None,
        profile: dict[str, str] | None = None,
        channel: str = "widget",
        contact_email: str | None = None,
        mail_thread: dict[str, Any] | None = None,
    ) -> Conversation:
        """A new conversation; ``customer_id``: the verified customer who owns it (else anonymous)."""
        now = now_iso()
        conv = Conversation(
            uuid.uuid4().hex, lang, ConversationStatus.BOT, now, now, {}, customer_id, dict(profile or {}),
            channel, contact_email, 0, dict(mail_thread or {}),
        )
        with self.db.tx() as tx:
            tx.execute(
                "INSERT INTO conversations (id, lang, created_at, updated_at, state, customer_id, customer_profile, "
                "channel, contact_email, mail_thread) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (conv.id, lang, now, now, "{}", customer_id, _j(profile or {}), channel, contact_email,
                 _j(mail_thread or {})),
            )
        return conv

    def set_contact(self, conversation_id: str, email: str | None) -> None:
        """Where replies reach the customer by mail (None: nowhere)."""
        with self.db.tx() as tx:
            tx.execute("UPDATE conversations SET contact_email = ? WHERE id = ?", (email, conversation_id))

    def mark_seen(self, conversation_id: str, message_id: int) -> None:
        """The customer's widget has shown them every message up to ``message_id``."""
        with self.db.tx() as tx:
            tx.execute(
                "UPDATE conversations SET seen_message_id = ? WHERE id = ? AND seen_message_id < ?",
                (message_id, conversation_id, message_id),
            )

    def set_mail_thread(self, conversation_id: str, thread: dict[str, Any]) -> None:
        with self.db.tx() as tx:
            tx.execute("UPDATE conversations SET mail_thread = ? WHERE id = ?", (_j(thread), conversation_id))

    def attachments(self, message_ids: list[int]) -> dict[int, list[Row]]:
        """Name, type and size of each message's attachments (not their bytes)."""
        if not message_ids:
            return {}
        marks = placeholders(len(message_ids))
        with self.db.tx() as tx:
            rows = tx.all(
                f"SELECT id, message_id, filename, content_type, size FROM attachments WHERE message_id IN ({marks}) "
                "ORDER BY id",
                message_ids,
            )
        out: dict[int, list[Row]] = {}
        for r in rows:
            out.setdefault(int(r["message_id"]), []).append(r)
        return out

    def attachment(self, attachment_id: int) -> Row:
        with self.db.tx() as tx:
            row = tx.one("SELECT * FROM attachments WHERE id = ?", (attachment_id,))
        if row is None:
            raise NotFound(f"no attachment {attachment_id}")
        return row

    def attach_customer(self, conversation_id: str, customer_id: str, profile: dict[str, str]) -> bool:
        """An anonymous conversation becomes the verified customer's (never someone else's)."""
        with self.db.tx() as tx:
            return (
                tx.execute(
                    "UPDATE conversations SET customer_id = ?, customer_profile = ? WHERE id = ? AND customer_id IS NULL",
                    (customer_id, _j(profile), conversation_id),
                )
                == 1
            )

    def of_customer(self, customer_id: str, limit: int = 20) -> list[Conversation]:
        """A verified customer's conversations, most recent first."""
        with self.db.tx() as tx:
            rows = tx.all(
                "SELECT id FROM conversations WHERE customer_id = ? ORDER BY updated_at DESC LIMIT ?",
                (customer_id, limit),
            )
        return [self.get(r["id"]) for r in rows]

    def get(self, conversation_id: str) -> Conversation:
        with self.db.tx() as tx:
            row = tx.one(_CONVERSATION, (conversation_id,))
        if row is None:
            raise NotFound(f"no conversation {conversation_id!r}")
        status = ConversationStatus.HANDOFF if row["waiting"] else ConversationStatus.BOT
        return Conversation(
            row["id"],
            row["lang"],
            status,
            row["created_at"],
            row["updated_at"],
            json.loads(row["state"] or "{}"),
            row["customer_id"],
            json.loads(row["customer_profile"] or "{}"),
            row["channel"],
            row["contact_email"],
            int(row["seen_message_id"]),
            json.loads(row["mail_thread"] or "{}"),
        )

    def update(self, conversation_id: str, *, lang: str | None = None, state: dict[str, Any] | None = None) -> None:
        sets, params = ["updated_at = ?"], [now_iso()]
        if lang is not None:
            sets.append("lang = ?")
            params.append(lang)
        if state is not None:
            sets.append("state = ?")
            params.append(_j(state))
        with self.db.tx() as tx:
            tx.execute(f"UPDATE conversations SET {', '.join(sets)} WHERE id = ?", (*params, conversation_id))

    def add_message(
        self,
        conversation_id: str,
        role: Role,
        text: str,
        meta: dict[str, Any] | None = None,
        author: str | None = None,
    ) -> Message:
        with self.db.tx() as tx:
            return _insert_message(tx, conversation_id, role, text, meta, author)

    def add_once(
        self,
        conversation_id: str,
        role: Role,
        text: str,
        client_id: str,
        meta: dict[str, Any] | None = None,
        author: str | None = None,
        attachments: Iterable[Attachment] = (),
    ) -> tuple[Message, bool]:
        """Store a message under the sender's ``client_id`` unless it is stored already (a retry):
        (the message, whether it was stored now). Concurrent retries store it once (a unique index)."""
        try:
            with self.db.tx() as tx:
                stored = _by_client_id(tx, client_id)
                if stored is not None:
                    return stored, False
                return _insert_message(tx, conversation_id, role, text, meta, author, client_id, attachments), True
        except DuplicateClientId:
            stored = self.by_client_id(client_id)
            assert stored is not None
            return stored, False

    def claim_answer(self, message_id: int, stale_before: str) -> bool:
        """Take the answering of customer message ``message_id``: True for one caller (on any replica)
        until it releases it, or until its claim is older than ``stale_before`` (it died answering)."""
        with self.db.tx() as tx:
            return (
                tx.execute(
                    "UPDATE messages SET answering_since = ? WHERE id = ? AND role = 'customer' "
                    "AND (answering_since IS NULL OR answering_since < ?)",
                    (now_iso(), message_id, stale_before),
                )
                == 1
            )

    def release_answer(self, message_id: int) -> None:
        """Give up answering ``message_id`` (the answer failed): a retry may answer it at once."""
        with self.db.tx() as tx:
            tx.execute("UPDATE messages SET answering_since = NULL WHERE id = ?", (message_id,))

    def expired(self, before: str, limit: int = 500) -> list[str]:
        """Ids of conversations untouched since ``before``, with no open handoff, not yet masked."""
        with self.db.tx() as tx:
            rows = tx.all(
                "SELECT c.id FROM conversations c WHERE c.updated_at < ? AND c.masked_at IS NULL AND NOT EXISTS "
                "(SELECT 1 FROM handoffs h WHERE h.conversation_id = c.id AND h.status <> 'resolved') "
                "ORDER BY c.updated_at LIMIT ?",
                (before, limit),
            )
        return [r["id"] for r in rows]

    def mask(self, conversation_id: str, transform: Callable[[str], str]) -> int:
        """Replace the personal data in a conversation's messages and handoffs (``transform``); how many
        texts changed. The conversation stays, with its structure, for metrics (its metrics rows hold no
        text and stay as they are)."""
        changed = 0
        with self.db.tx() as tx:
            for row in tx.all("SELECT id, text FROM messages WHERE conversation_id = ?", (conversation_id,)):
                masked = transform(row["text"])
                if masked != row["text"]:
                    tx.execute("UPDATE messages SET text = ? WHERE id = ?", (masked, row["id"]))
                    changed += 1
            for row in tx.all("SELECT id, text FROM notes WHERE conversation_id = ?", (conversation_id,)):
                tx.execute("UPDATE notes SET text = ? WHERE id = ?", (transform(row["text"]), row["id"]))
            for row in tx.all(
                "SELECT id, question, resolution_answer FROM handoffs WHERE conversation_id = ?", (conversation_id,)
            ):
                q, a = transform(row["question"] or ""), transform(row["resolution_answer"] or "")
                tx.execute("UPDATE handoffs SET question = ?, resolution_answer = ? WHERE id = ?", (q, a, row["id"]))
            for row in tx.all(
                "SELECT incident_id, question FROM incident_links WHERE conversation_id = ?", (conversation_id,)
            ):
                tx.execute(
                    "UPDATE incident_links SET question = ? WHERE incident_id = ? AND conversation_id = ?",
                    (transform(row["question"]), row["incident_id"], conversation_id),
                )
            tx.execute(
                "UPDATE conversations SET customer_profile = '{}', contact_email = NULL, mail_thread = '{}', "
                "masked_at = ? WHERE id = ?",
                (now_iso(), conversation_id),
            )
            # files customers mailed, and where mail went: personal data too
            tx.execute(
                "DELETE FROM attachments WHERE message_id IN (SELECT id FROM messages WHERE conversation_id = ?)",
                (conversation_id,),
            )
            tx.execute(
                "UPDATE mail_outbox SET to_addr = '[masked]', last_error = NULL WHERE conversation_id = ?",
                (conversation_id,),
            )
        return changed

    def purge(self, conversation_id: str) -> None:
        """Delete a conversation, its messages and handoffs (its resolved tickets stay, redacted, unlinked)."""
        with self.db.tx() as tx:
            tx.execute(
                "UPDATE tickets SET handoff_id = NULL WHERE handoff_id IN "
                "(SELECT id FROM handoffs WHERE conversation_id = ?)",
                (conversation_id,),
            )
            tx.execute(
                "DELETE FROM sla_breaches WHERE handoff_id IN (SELECT id FROM handoffs WHERE conversation_id = ?)",
                (conversation_id,),
            )
            tx.execute("DELETE FROM notes WHERE conversation_id = ?", (conversation_id,))
            tx.execute("DELETE FROM incident_links WHERE conversation_id = ?", (conversation_id,))
            tx.execute("DELETE FROM handoffs WHERE conversation_id = ?", (conversation_id,))
            tx.execute("DELETE FROM mail_outbox WHERE conversation_id = ?", (conversation_id,))
            tx.execute(
                "DELETE FROM attachments WHERE message_id IN (SELECT id FROM messages WHERE conversation_id = ?)",
                (conversation_id,),
            )
            tx.execute("DELETE FROM answers WHERE conversation_id = ?", (conversation_id,))
            tx.execute("DELETE FROM messages WHERE conversation_id = ?", (conversation_id,))
            tx.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    def search(self, query: str, limit: int = 50, role: Role | None = None) -> list[Message]:
        """Messages containing ``query`` (case-insensitive substring, Chinese and English alike), newest
        first: FTS5 (trigram) on SQLite, a trigram GIN index on PostgreSQL."""
        query = query.strip()
        if not query:
            return []
        where, params = self.db.text_search(query)
        if role is not None:
            where += " AND m.role = ?"
            params.append(role)
        with self.db.tx() as tx:
            rows = tx.all(f"SELECT m.* FROM messages m WHERE {where} ORDER BY m.id DESC LIMIT ?", [*params, limit])
        return [_message(r) for r in rows]

    def by_client_id(self, client_id: str) -> Message | None:
        with self.db.tx() as tx:
            return _by_client_id(tx, client_id)

    def messages(self, conversation_id: str, after_id: int = 0) -> list[Message]:
        with self.db.tx() as tx:
            rows = tx.all(
                "SELECT * FROM messages WHERE conversation_id = ? AND id > ? ORDER BY id",
                (conversation_id, after_id),
            )
        return [_message(r) for r in rows]

    def get_message(self, message_id: int) -> Message:
        with self.db.tx() as tx:
            row = tx.one("SELECT * FROM messages WHERE id = ?", (message_id,))
        if row is None:
            raise NotFound(f"no message {message_id}")
        return _message(row)

    def set_feedback(self, message_id: int, value: str) -> Message:
        """Store a bot message's thumbs up or down, with the metrics' copies of it (its answer row, its
        conversation's counts)."""
        with self.db.tx() as tx:
            row = tx.one("SELECT conversation_id FROM messages WHERE id = ? AND role = 'bot'", (message_id,))
            if row is None:
                raise NotFound(f"no bot message {message_id}")
            conversation_id = row["conversation_id"]
            # the conversation's row first: feedback on two of its messages at once is counted one after
            # the other (PostgreSQL; the recount below then starts after the other transaction's commit)
            tx.execute("UPDATE conversations SET feedback_up = feedback_up WHERE id = ?", (conversation_id,))
            tx.execute("UPDATE messages SET feedback = ? WHERE id = ?", (value, message_id))
            tx.execute("UPDATE answers SET feedback = ? WHERE message_id = ?", (value, message_id))
            tx.execute(FEEDBACK_COUNTS, (conversation_id,))
        return self.get_message(message_id)


class HandoffRepo:
    """The human queue: open (at most one per conversation), claim, reply, resolve into a ticket."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def open(
        self, conversation_id: str, reason: str, lang: str, question: str, candidates: list[dict[str, Any]]
    ) -> tuple[Handoff, bool]:
        """Open a handoff, or return the one already open; ``True`` when it was opened now."""
        with self.db.tx() as tx:
            row = tx.one(
                "INSERT INTO handoffs (conversation_id, status, reason, lang, question, candidates, created_at) "
                "VALUES (?,?,?,?,?,?,?) ON CONFLICT (conversation_id) WHERE status <> 'resolved' DO NOTHING "
                "RETURNING *",
                (conversation_id, HandoffStatus.OPEN, reason, lang, question, _j(candidates), now_iso()),
            )
            if row is not None:
                handoff = _handoff(row)
                # the conversation's first handoff and its reason, for the metrics (sqlite_migrations.M012)
                tx.execute(
                    "UPDATE conversations SET first_handoff_at = ?, first_reason = ? WHERE id = ? "
                    "AND (first_handoff_at IS NULL OR first_handoff_at > ?)",
                    (handoff.created_at, handoff.reason, conversation_id, handoff.created_at),
                )
                tx.emit(Event(EventKind.HANDOFF_OPENED, conversation_id, handoff.id))
                queue_webhook(tx, EventKind.HANDOFF_OPENED, handoff_payload(handoff, channel_of(tx, conversation_id)))
                return handoff, True
            row = _open_handoff_row(tx, conversation_id)
        assert row is not None
        return _handoff(row), False

    def open_for(self, conversation_id: str) -> Handoff | None:
        with self.db.tx() as tx:
            row = _open_handoff_row(tx, conversation_id)
        return _handoff(row) if row else None

    def get(self, handoff_id: int) -> Handoff:
        with self.db.tx() as tx:
            row = tx.one("SELECT * FROM handoffs WHERE id = ?", (handoff_id,))
        if row is None:
            raise NotFound(f"no handoff {handoff_id}")
        return _handoff(row)

    def find(
        self,
        status: HandoffStatus | None = None,
        lang: str | None = None,
        active: bool = False,
        limit: int | None = None,
        after: int = 0,
        ids: Iterable[int] | None = None,
    ) -> list[Handoff]:
        """Handoffs, oldest first, filtered and paged in SQL: ``active`` only those not resolved,
        ``after`` only ids above it (the cursor of the previous page), at most ``limit``."""
        where: list[str] = ["id > ?"]
        params: list[Any] = [after]
        if status:
            where.append("status = ?")
            params.append(status)
        if active:
            where.append("status <> 'resolved'")
        if lang:
            where.append("lang = ?")
            params.append(lang)
        if ids is not None:
            wanted = sorted(set(ids))
            if not wanted:
                return []
            where.append(f"id IN ({placeholders(len(wanted))})")
            params.extend(wanted)
        sql = "SELECT * FROM handoffs WHERE " + " AND ".join(where) + " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self.db.tx() as tx:
            rows = tx.all(sql, params)
        return [_handoff(r) for r in rows]

    def for_sla(self, ids: Iterable[int] | None = None) -> list[tuple[Handoff, str, str | None]]:
        """Unresolved handoffs (or those of ``ids``) with their channel and, once a person has replied,
        since when the customer has been waiting for the next reply (None: not waiting)."""
        where, params = "h.status <> 'resolved'", []
        if ids is not None:
            wanted = sorted(set(ids))
            if not wanted:
                return []
            where = f"h.id IN ({placeholders(len(wanted))})"
            params = wanted
        with self.db.tx() as tx:
            rows = tx.all(
                "SELECT h.*, c.channel AS channel_, (SELECT MIN(m.created_at) FROM messages m "
                " WHERE m.conversation_id = h.conversation_id AND m.role = 'customer' AND m.id > "
                " (SELECT COALESCE(MAX(a.id), 0) FROM messages a WHERE a.conversation_id = h.conversation_id "
                "  AND a.role = 'agent')) AS waiting_since_ "
                f"FROM handoffs h JOIN conversations c ON c.id = h.conversation_id WHERE {where} ORDER BY h.id",
                params,
            )
        out = []
        for r in rows:
            channel, waiting = r.pop("channel_"), r.pop("waiting_since_")
            h = _handoff(r)
            out.append((h, str(channel), waiting if h.first_reply_at else None))
        return out

    def first_reply_times(self, since: str, limit: int = 500) -> list[tuple[str, str, str]]:
        """``(lang, created_at, first_reply_at)`` of the latest handoffs a person answered since ``since``."""
        with self.db.tx() as tx:
            rows = tx.all(
                "SELECT lang, created_at, first_reply_at FROM handoffs WHERE first_reply_at IS NOT NULL "
                "AND created_at >= ? ORDER BY id DESC LIMIT ?",
                (since, limit),
            )
        return [(r["lang"], r["created_at"], r["first_reply_at"]) for r in rows]

    def waiting_before(self, conversation_id: str | None = None) -> int:
        """Open (unclaimed) handoffs ahead in the queue: all of them, or those opened before this
        conversation's."""
        with self.db.tx() as tx:
            if conversation_id is None:
                row = tx.one("SELECT COUNT(*) AS n FROM handoffs WHERE status = 'open'")
            else:
                row = tx.one(
                    "SELECT COUNT(*) AS n FROM handoffs WHERE status = 'open' AND id < COALESCE("
                    "(SELECT id FROM handoffs WHERE conversation_id = ? AND status <> 'resolved'), id + 1)",
                    (conversation_id,),
                )
        return int(row["n"]) if row else 0

    def count(self, status: HandoffStatus | None = None, active: bool = False) -> int:
        where = ["1 = 1"]
        params: list[Any] = []
        if status:
            where.append("status = ?")
            params.append(status)
        if active:
            where.append("status <> 'resolved'")
        with self.db.tx() as tx:
            row = tx.one("SELECT COUNT(*) AS n FROM handoffs WHERE " + " AND ".join(where), params)
        return int(row["n"]) if row else 0

    def _refuse(self, tx: Tx, handoff_id: int, agent: str) -> None:
        """Why ``agent`` may not act on the handoff (raised); returns when they may."""
        row = tx.one("SELECT status, claimed_by FROM handoffs WHERE id = ?", (handoff_id,))
        if row is None:
            raise NotFound(f"no handoff {handoff_id}")
        if row["status"] == HandoffStatus.RESOLVED:
            raise InvalidTransition(f"handoff {handoff_id} is already resolved")
        if row["claimed_by"] not in (None, agent):
            raise HandoffAlreadyClaimed(f"handoff {handoff_id} is claimed by {row['claimed_by']}")

    def _take(self, tx: Tx, handoff_id: int, agent: str) -> bool:
        """Claim for ``agent`` if open (one winner: a conditional UPDATE); raise if someone else has it."""
        won = (
            tx.execute(
                "UPDATE handoffs SET status = ?, claimed_by = ?, claimed_at = ? WHERE id = ? AND status = ?",
                (HandoffStatus.CLAIMED, agent, now_iso(), handoff_id, HandoffStatus.OPEN),
            )
            == 1
        )
        if not won:
            self._refuse(tx, handoff_id, agent)
        return won

    def claim(self, handoff_id: int, agent: str) -> Handoff:
        """Exactly one agent wins an open handoff; claiming your own again is a no-op."""
        with self.db.tx() as tx:
            conversation_id = _conversation_of(tx, handoff_id)
            if self._take(tx, handoff_id, agent):
                tx.emit(Event(EventKind.HANDOFF_CLAIMED, conversation_id, handoff_id))
        return self.get(handoff_id)

    def unclaim(self, handoff_id: int, agent: str, force: bool = False) -> Handoff:
        """Put a claimed handoff back in the queue: by its owner (``force``: by an admin, whoever owns it).
        Unclaiming an open one is a no-op."""
        with self.db.tx() as tx:
            conversation_id = _conversation_of(tx, handoff_id)
            owner = "claimed_by IS NOT NULL" if force else "claimed_by = ?"
            released = tx.execute(
                f"UPDATE handoffs SET status = ?, claimed_by = NULL, claimed_at = NULL WHERE id = ? AND status = ? AND {owner}",
                (HandoffStatus.OPEN, handoff_id, HandoffStatus.CLAIMED, *(() if force else (agent,))),
            )
            if released:
                tx.emit(Event(EventKind.HANDOFF_RELEASED, conversation_id, handoff_id))
            else:
                row = tx.one("SELECT status FROM handoffs WHERE id = ?", (handoff_id,))
                if row is not None and row["status"] != HandoffStatus.OPEN:
                    self._refuse(tx, handoff_id, agent)
        return self.get(handoff_id)

    def transfer(self, handoff_id: int, agent: str, to: str, force: bool = False) -> Handoff:
        """Hand a handoff to another agent: an open one, or one ``agent`` owns (``force``: any, by an admin)."""
        with self.db.tx() as tx:
            conversation_id = _conversation_of(tx, handoff_id)
            owner = "" if force else " AND (status = ? OR claimed_by = ?)"
            moved = tx.execute(
                "UPDATE handoffs SET status = ?, claimed_by = ?, claimed_at = ? WHERE id = ? AND status <> ?" + owner,
                (HandoffStatus.CLAIMED, to, now_iso(), handoff_id, HandoffStatus.RESOLVED,
                 *(() if force else (HandoffStatus.OPEN, agent))),
            )
            if not moved:
                self._refuse(tx, handoff_id, agent)
                raise InvalidTransition(f"handoff {handoff_id} cannot be transferred")
            tx.emit(Event(EventKind.HANDOFF_CLAIMED, conversation_id, handoff_id))
        return self.get(handoff_id)

    def latest_of(self, conversation_ids: Iterable[str]) -> dict[str, int]:
        """Each conversation's latest handoff id (open or resolved), for those that had one."""
        wanted = sorted(set(conversation_ids))
        if not wanted:
            return {}
        with self.db.tx() as tx:
            rows = tx.all(
                f"SELECT conversation_id, MAX(id) AS id FROM handoffs WHERE conversation_id IN ({placeholders(len(wanted))}) "
                "GROUP BY conversation_id",
                wanted,
            )
        return {r["conversation_id"]: int(r["id"]) for r in rows}

    def add_note(self, handoff_id: int, author: str, text: str) -> Row:
        """An internal note for the agents; never shown to the customer."""
        with self.db.tx() as tx:
            conversation_id = _conversation_of(tx, handoff_id)
            row = tx.one(
                "INSERT INTO notes (handoff_id, conversation_id, author, text, created_at) VALUES (?,?,?,?,?) "
                "RETURNING id, handoff_id, author, text, created_at",
                (handoff_id, conversation_id, author, text, now_iso()),
            )
            tx.emit(Event(EventKind.HANDOFF_NOTED, handoff_id=handoff_id))
        assert row is not None
        return row

    def note_counts(self, handoff_ids: list[int]) -> dict[int, int]:
        """How many internal notes each of ``handoff_ids`` has (absent: none)."""
        if not handoff_ids:
            return {}
        with self.db.tx() as tx:
            rows = tx.all(
                f"SELECT handoff_id, COUNT(*) AS n FROM notes WHERE handoff_id IN ({placeholders(len(handoff_ids))}) "
                "GROUP BY handoff_id",
                handoff_ids,
            )
        return {int(r["handoff_id"]): int(r["n"]) for r in rows}

    def notes(self, conversation_id: str) -> list[Row]:
        """Every note on the conversation's handoffs, oldest first."""
        with self.db.tx() as tx:
            return tx.all(
                "SELECT id, handoff_id, author, text, created_at FROM notes WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            )

    def claim_next(self, agent: str, lang: str | None = None) -> Handoff | None:
        """The oldest open handoff (in ``lang``), claimed for ``agent``; agents taking "next" at the same
        time get different ones (``SKIP LOCKED`` on PostgreSQL, one writer on SQLite)."""
        with self.db.tx() as tx:
            row = tx.one(
                "SELECT id, conversation_id FROM handoffs WHERE status = ?"
                + (" AND lang = ?" if lang else "")
                + " ORDER BY created_at, id LIMIT 1"
                + self.db.skip_locked,
                (HandoffStatus.OPEN, lang) if lang else (HandoffStatus.OPEN,),
            )
            if row is None:
                return None
            self._take(tx, int(row["id"]), agent)
            tx.emit(Event(EventKind.HANDOFF_CLAIMED, row["conversation_id"], int(row["id"])))
        return self.get(int(row["id"]))

    def reply(self, handoff_id: int, agent: str, text: str, client_id: str | None = None) -> Message:
        """An agent's message in the customer's transcript; replying claims an open handoff. A
        ``client_id`` already stored (a retry) returns that message and sends nothing."""
        if client_id is not None:
            with self.db.tx() as tx:
                stored = _by_client_id(tx, client_id)
            if stored is not None:
                return stored
        try:
            return self._reply(handoff_id, agent, text, client_id)
        except DuplicateClientId:
            with self.db.tx() as tx:
                stored = _by_client_id(tx, client_id or "")
            assert stored is not None
            return stored

    def _reply(self, handoff_id: int, agent: str, text: str, client_id: str | None) -> Message:
        with self.db.tx() as tx:
            conversation_id = _conversation_of(tx, handoff_id)
            if self._take(tx, handoff_id, agent):
                tx.emit(Event(EventKind.HANDOFF_CLAIMED, conversation_id, handoff_id))
            message = _insert_message(tx, conversation_id, "agent", text, None, agent, client_id)
            tx.execute(
                "UPDATE handoffs SET first_reply_at = ? WHERE id = ? AND first_reply_at IS NULL",
                (message.created_at, handoff_id),
            )
            tx.emit(Event(EventKind.HANDOFF_REPLIED, conversation_id, handoff_id, message.id))
        return message

    def resolve(
        self, handoff_id: int, agent: str, answer: str, ticket: Ticket, reply_to_customer: bool
    ) -> tuple[Handoff, Message | None]:
        """Close the handoff, record its ticket and (optionally) send the answer, in one transaction.

        Only one resolve of a handoff succeeds; a second gets :class:`InvalidTransition` and sends
        nothing.
        """
        with self.db.tx() as tx:
            conversation_id = _conversation_of(tx, handoff_id)
            self._take(tx, handoff_id, agent)
            now = now_iso()
            won = tx.execute(
                "UPDATE handoffs SET status = ?, resolved_at = ?, resolution_answer = ?, resolution_faq_id = ?, "
                "ticket_id = ? WHERE id = ? AND status = ? AND claimed_by = ?",
                (HandoffStatus.RESOLVED, now, answer, ticket.faq_id, ticket.id, handoff_id, HandoffStatus.CLAIMED, agent),
            )
            if won != 1:
                self._refuse(tx, handoff_id, agent)
                raise InvalidTransition(f"handoff {handoff_id} changed while resolving it")
            message = None
            if reply_to_customer and answer.strip():
                message = _insert_message(tx, conversation_id, "agent", answer, None, agent)
                tx.execute(
                    "UPDATE handoffs SET first_reply_at = ? WHERE id = ? AND first_reply_at IS NULL",
                    (message.created_at, handoff_id),
                )
            TicketRepo.insert(tx, ticket, handoff_id)
            tx.emit(Event(EventKind.HANDOFF_RESOLVED, conversation_id, handoff_id))
            resolved = tx.one("SELECT * FROM handoffs WHERE id = ?", (handoff_id,))
            assert resolved is not None
            queue_webhook(
                tx, EventKind.HANDOFF_RESOLVED, handoff_payload(_handoff(resolved), channel_of(tx, conversation_id))
            )
            tx.emit(Event(EventKind.KNOWLEDGE_CHANGED, ticket_id=ticket.id))
        return self.get(handoff_id), message

    def outcomes(self) -> list[tuple[str, str, str | None, str | None]]:
        """What conversations taught about the bot's answers: ``(question, lang, right, rejected)``.

        - an answer the customer marked not helpful or "not what I asked": rejected = its entry
          (right = the entry an agent linked when resolving the handoff that followed, if any);
        - a handoff the bot could not answer that an agent resolved without any FAQ entry: out of
          scope (right and rejected None).
        """
        with self.db.tx() as tx:
            rows = tx.all(
                "SELECT b.meta AS meta, "
                "(SELECT c.text FROM messages c WHERE c.conversation_id = b.conversation_id AND c.role = 'customer' "
                " AND c.id < b.id ORDER BY c.id DESC LIMIT 1) AS question, "
                "(SELECT c.meta FROM messages c WHERE c.conversation_id = b.conversation_id AND c.role = 'customer' "
                " AND c.id < b.id ORDER BY c.id DESC LIMIT 1) AS qmeta, "
                "(SELECT h.resolution_faq_id FROM handoffs h WHERE h.conversation_id = b.conversation_id "
                " AND h.reason = 'wrong_answer' AND h.status = 'resolved' AND h.created_at >= b.created_at "
                " ORDER BY h.id LIMIT 1) AS linked "
                "FROM messages b WHERE b.role = 'bot' AND b.feedback IN ('no', 'wrong') ORDER BY b.id"
            )
            unanswerable = tx.all(
                "SELECT question, lang FROM handoffs WHERE status = 'resolved' AND resolution_faq_id IS NULL "
                "AND reason IN ('low_confidence', 'missing_knowledge') AND question <> '' ORDER BY id"
            )
        out: list[tuple[str, str, str | None, str | None]] = []
        for r in rows:
            meta = json.loads(r["meta"] or "{}")
            sources = meta.get("sources") or []
            if meta.get("kind") != "answer" or not sources or not r["question"]:
                continue
            lang = json.loads(r["qmeta"] or "{}").get("lang") or "en"
            out.append((r["question"], lang, r["linked"], str(sources[0]["id"])))
        out.extend((r["question"], r["lang"] or "en", None, None) for r in unanswerable)
        return out


class TicketRepo:
    """Resolved tickets: every replica learns from the same ones (JSONL stays the import/export format)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def insert(tx: Tx, ticket: Ticket, handoff_id: int | None = None) -> bool:
        """Store a ticket once (ids are unique), its personal data redacted whoever hands it in."""
        ticket = ticket.redacted()
        return (
            tx.execute(
                "INSERT INTO tickets (id, question, answer, lang, faq_id, resolved_at, handoff_id) "
                "VALUES (?,?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING",
                (ticket.id, ticket.question, ticket.answer, ticket.lang, ticket.faq_id, ticket.resolved_at, handoff_id),
            )
            == 1
        )

    def add_many(self, tickets: Iterable[Ticket]) -> int:
        """Import tickets (an id already stored is skipped); how many were new."""
        added = 0
        with self.db.tx() as tx:
            for t in tickets:
                added += self.insert(tx, t)
            if added:
                tx.emit(Event(EventKind.KNOWLEDGE_CHANGED))
        return added

    def all(self) -> list[Ticket]:
        with self.db.tx() as tx:
            rows = tx.all("SELECT id, question, answer, lang, faq_id, resolved_at FROM tickets ORDER BY seq")
        return [Ticket(r["id"], r["question"], r["answer"], r["lang"], r["resolved_at"], r["faq_id"]) for r in rows]

    def version(self) -> tuple[int, int]:
        """Changes whenever a ticket is added: (count, last sequence number)."""
        with self.db.tx() as tx:
            row = tx.one("SELECT COUNT(*) AS n, COALESCE(MAX(seq), 0) AS last FROM tickets")
        assert row is not None
        return int(row["n"]), int(row["last"])


class AccountRepo:
    """Console accounts, their sign-in sessions and their personal API tokens (all stored hashed)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add_agent(self, username: str, password_hash: str, display_name: str, role: str = "agent") -> None:
        with self.db.tx() as tx:
            tx.execute(
                "INSERT INTO agents (username, password_hash, display_name, created_at, role) VALUES (?,?,?,?,?) "
                "ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, "
                "display_name = excluded.display_name, role = excluded.role",
                (username, password_hash, display_name, now_iso(), role),
            )

    def add_first_agent(self, username: str, password_hash: str, display_name: str, role: str) -> bool:
        """Create ``username`` only if the desk has no account at all; False when another replica (or an
        earlier start) was first. Two replicas starting on an empty database create one account."""
        with self.db.tx() as tx:
            if tx.one("SELECT 1 AS x FROM agents LIMIT 1") is not None:
                return False
            row = tx.one(
                "INSERT INTO agents (username, password_hash, display_name, created_at, role) VALUES (?,?,?,?,?) "
                "ON CONFLICT (username) DO NOTHING RETURNING username",
                (username, password_hash, display_name, now_iso(), role),
            )
        return row is not None

    def password_hash(self, username: str) -> str | None:
        with self.db.tx() as tx:
            row = tx.one("SELECT password_hash FROM agents WHERE username = ?", (username,))
        return row["password_hash"] if row else None

    def set_password_hash(self, username: str, password_hash: str) -> None:
        with self.db.tx() as tx:
            tx.execute("UPDATE agents SET password_hash = ? WHERE username = ?", (password_hash, username))

    def agent(self, username: str) -> Row | None:
        """An account's username, display name and role (never its hash)."""
        with self.db.tx() as tx:
            return tx.one("SELECT username, display_name, role, created_at FROM agents WHERE username = ?", (username,))

    def agents(self) -> list[Row]:
        with self.db.tx() as tx:
            return tx.all("SELECT username, display_name, role, created_at FROM agents ORDER BY username")

    def purge_sessions(self, now: str) -> int:
        """Delete expired sign-in sessions; how many."""
        with self.db.tx() as tx:
            return tx.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))

    def names(self) -> list[str]:
        with self.db.tx() as tx:
            return [r["username"] for r in tx.all("SELECT username FROM agents ORDER BY username")]

    def create_session(self, token_hash: str, username: str, expires_at: str) -> None:
        with self.db.tx() as tx:
            tx.execute(
                "INSERT INTO sessions (token_hash, username, created_at, expires_at) VALUES (?,?,?,?)",
                (token_hash, username, now_iso(), expires_at),
            )

    def session_user(self, token_hash: str, now: str) -> str | None:
        with self.db.tx() as tx:
            row = tx.one("SELECT username FROM sessions WHERE token_hash = ? AND expires_at > ?", (token_hash, now))
        return row["username"] if row else None

    def delete_session(self, token_hash: str) -> None:
        with self.db.tx() as tx:
            tx.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    def add_token(self, token_hash: str, username: str, label: str) -> int:
        with self.db.tx() as tx:
            if tx.one("SELECT 1 AS x FROM agents WHERE username = ?", (username,)) is None:
                raise NotFound(f"no agent {username!r}")
            row = tx.one(
                "INSERT INTO api_tokens (token_hash, username, label, created_at) VALUES (?,?,?,?) RETURNING id",
                (token_hash, username, label, now_iso()),
            )
        assert row is not None
        return int(row["id"])

    def token_user(self, token_hash: str, now: str, touch_before: str) -> str | None:
        """The owner of a live token; records its use (at most once a minute: ``touch_before``)."""
        with self.db.tx() as tx:
            row = tx.one(
                "SELECT id, username, last_used_at FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL",
                (token_hash,),
            )
            if row is not None and (row["last_used_at"] is None or row["last_used_at"] < touch_before):
                tx.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (now, row["id"]))
        return row["username"] if row else None

    def revoke_token(self, token_id: int) -> bool:
        with self.db.tx() as tx:
            return (
                tx.execute(
                    "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (now_iso(), token_id)
                )
                == 1
            )

    def tokens(self) -> list[Row]:
        """Every token's id, owner, label and dates (never the token)."""
        with self.db.tx() as tx:
            return tx.all(
                "SELECT id, username, label, created_at, last_used_at, revoked_at FROM api_tokens ORDER BY id"
            )

    def token_owner(self, token_id: int) -> str | None:
        with self.db.tx() as tx:
            row = tx.one("SELECT username FROM api_tokens WHERE id = ?", (token_id,))
        return row["username"] if row else None


def _draft(row: Row) -> FaqDraft:
    row = dict(row)
    row["questions"] = json.loads(row["questions"] or "[]")
    row["id"] = int(row["id"])
    if row.get("handoff_id") is not None:
        row["handoff_id"] = int(row["handoff_id"])
    return FaqDraft(**row)


def _refuse_draft(tx: Tx, draft_id: int) -> NoReturn:
    """Why an open draft's update matched nothing: it does not exist (404) or is closed (409)."""
    if tx.one("SELECT id FROM faq_drafts WHERE id = ?", (draft_id,)) is None:
        raise NotFound(f"no FAQ draft {draft_id}")
    raise InvalidTransition(f"FAQ draft {draft_id} is no longer open")


class DraftRepo:
    """FAQ drafts: proposed by agents when resolving, or built from a cluster of unanswered questions;
    content editors edit, publish or dismiss them."""

    STATUSES = ("open", "published", "dismissed")

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(
        self,
        handoff_id: int | None,
        lang: str,
        title: str,
        questions: list[str],
        answer: str,
        created_by: str,
        entry_id: str | None = None,
    ) -> FaqDraft:
        now = now_iso()
        with self.db.tx() as tx:
            row = tx.one(
                "INSERT INTO faq_drafts (handoff_id, lang, title, questions, answer, created_by, created_at, "
                "status, entry_id) VALUES (?,?,?,?,?,?,?,?,?) RETURNING *",
                (handoff_id, lang, title, _j(questions), answer, created_by, now, "open", entry_id),
            )
        assert row is not None
        return _draft(row)

    def all(self, status: str | None = None) -> list[FaqDraft]:
        with self.db.tx() as tx:
            if status:
                rows = tx.all("SELECT * FROM faq_drafts WHERE status = ? ORDER BY id", (status,))
            else:
                rows = tx.all("SELECT * FROM faq_drafts ORDER BY id")
        return [_draft(r) for r in rows]

    def get(self, draft_id: int) -> FaqDraft:
        with self.db.tx() as tx:
            row = tx.one("SELECT * FROM faq_drafts WHERE id = ?", (draft_id,))
        if row is None:
            raise NotFound(f"no FAQ draft {draft_id}")
        return _draft(row)

    def update(
        self,
        draft_id: int,
        editor: str,
        *,
        lang: str,
        title: str,
        questions: list[str],
        answer: str,
        entry_id: str | None,
    ) -> FaqDraft:
        """An editor's changes to an open draft (a published or dismissed one is not edited: 409)."""
        with self.db.tx() as tx:
            row = tx.one(
                "UPDATE faq_drafts SET lang = ?, title = ?, questions = ?, answer = ?, entry_id = ?, "
                "updated_by = ?, updated_at = ? WHERE id = ? AND status = 'open' RETURNING *",
                (lang, title, _j(questions), answer, entry_id, editor, now_iso(), draft_id),
            )
            if row is None:
                _refuse_draft(tx, draft_id)
        return _draft(row)

    def set_status(self, draft_id: int, status: str, editor: str) -> FaqDraft:
        """Close an open draft as ``published`` or ``dismissed``; only one caller wins (409 for the rest)."""
        if status not in self.STATUSES:
            raise ValueError(status)
        with self.db.tx() as tx:
            row = tx.one(
                "UPDATE faq_drafts SET status = ?, updated_by = ?, updated_at = ? WHERE id = ? AND status = 'open' "
                "RETURNING *",
                (status, editor, now_iso(), draft_id),
            )
            if row is None:
                _refuse_draft(tx, draft_id)
        return _draft(row)


GAP_REASONS = ("low_confidence", "missing_knowledge", "clarify_rejected", "wrong_answer")


class ContentRepo:
    """What the content-gap loop reads (questions the desk did not answer well) and what it records
    (publications with the coverage they bought)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def gap_questions(self, since: str, limit: int = 2000) -> list[Row]:
        """The newest questions (at most ``limit``) since ``since`` that the bot did not answer well:
        handed off for want of an answer (``GAP_REASONS``), and answers marked not helpful or "not what
        I asked" that no such handoff already stands for. Each with what resolved it (the resolution,
        else the agent's last reply), if anything, and ``rejected_entry``: the FAQ entry whose answer
        the customer rejected."""
        with self.db.tx() as tx:
            handed = tx.all(
                "SELECT 'handoff:' || CAST(h.id AS TEXT) AS key, h.id AS handoff_id, h.conversation_id, h.lang, "
                "h.reason, h.question AS text, h.created_at, h.status, "
                "COALESCE(NULLIF(h.resolution_answer, ''), (SELECT a.text FROM messages a WHERE "
                " a.conversation_id = h.conversation_id AND a.role = 'agent' AND a.created_at >= h.created_at "
                " ORDER BY a.id DESC LIMIT 1)) AS resolution, h.resolution_faq_id, c.channel, "
                "CASE WHEN h.reason = 'wrong_answer' THEN (SELECT b.meta FROM messages b WHERE "
                " b.conversation_id = h.conversation_id AND b.role = 'bot' AND b.created_at <= h.created_at "
                " ORDER BY b.id DESC LIMIT 1) END AS answered_meta "
                "FROM handoffs h JOIN conversations c ON c.id = h.conversation_id "
                f"WHERE h.created_at >= ? AND h.reason IN ({placeholders(len(GAP_REASONS))}) "
                "ORDER BY h.created_at DESC LIMIT ?",
                (since, *GAP_REASONS, limit),
            )
            disliked = tx.all(
                "SELECT 'message:' || CAST(m.id AS TEXT) AS key, NULL AS handoff_id, m.conversation_id, c.lang, "
                "m.feedback AS reason, "
                "(SELECT q.text FROM messages q WHERE q.conversation_id = m.conversation_id AND q.role = 'customer' "
                " AND q.id < m.id ORDER BY q.id DESC LIMIT 1) AS text, m.created_at, NULL AS status, "
                "(SELECT h.resolution_answer FROM handoffs h WHERE h.conversation_id = m.conversation_id "
                " AND h.created_at >= m.created_at ORDER BY h.id LIMIT 1) AS resolution, "
                "NULL AS resolution_faq_id, c.channel, m.meta AS answered_meta "
                "FROM messages m JOIN conversations c ON c.id = m.conversation_id "
                "WHERE m.created_at >= ? AND m.role = 'bot' AND m.feedback IN ('no', 'wrong') "
                "ORDER BY m.created_at DESC LIMIT ?",
                (since, limit),
            )
        for r in (*handed, *disliked):  # the entry the customer rejected, if any
            meta = json.loads(r.pop("answered_meta") or "{}")
            sources = meta.get("sources") or [{}] if meta.get("kind") == "answer" else [{}]
            r["rejected_entry"] = sources[0].get("id")
        seen = {(r["conversation_id"], (r["text"] or "").strip()) for r in handed}
        rows = list(handed)
        for r in disliked:
            if r["text"] and (r["conversation_id"], r["text"].strip()) not in seen:
                seen.add((r["conversation_id"], r["text"].strip()))
                rows.append(r)
        rows = [r for r in rows if (r["text"] or "").strip()]
        rows.sort(key=lambda r: r["created_at"], reverse=True)
        return rows[:limit]

    def link_to_entry(self, handoff_ids: list[int], entry_id: str) -> int:
        """Record that FAQ entry ``entry_id`` answers these resolved handoffs (published from their
        cluster): their resolution and ticket are linked to it, so the calibration learns them as the
        entry's questions, not as out of scope, and the tickets answer as the entry's. Links nothing an
        agent linked already; the number of handoffs linked."""
        if not handoff_ids:
            return 0
        marks = placeholders(len(handoff_ids))
        with self.db.tx() as tx:
            n = tx.execute(
                f"UPDATE handoffs SET resolution_faq_id = ? WHERE id IN ({marks}) AND status = 'resolved' "
                "AND resolution_faq_id IS NULL",
                (entry_id, *handoff_ids),
            )
            tx.execute(
                f"UPDATE tickets SET faq_id = ? WHERE handoff_id IN ({marks}) AND faq_id IS NULL",
                (entry_id, *handoff_ids),
            )
            if n:
                tx.emit(Event(EventKind.KNOWLEDGE_CHANGED))
        return n

    def recent_questions(self, since: str, limit: int = 200) -> list[Row]:
        """The newest customer messages since ``since`` (recent traffic a draft is previewed against)."""
        with self.db.tx() as tx:
            return tx.all(
                "SELECT m.id, m.text, c.lang, m.created_at FROM messages m "
                "JOIN conversations c ON c.id = m.conversation_id "
                "WHERE m.role = 'customer' AND m.created_at >= ? ORDER BY m.id DESC LIMIT ?",
                (since, limit),
            )

    def add_publication(
        self,
        *,
        entry_id: str,
        langs: list[str],
        missing_lang: str | None,
        files: list[str],
        cluster_key: str | None,
        draft_id: int | None,
        questions: int,
        covered_before: int,
        covered_after: int,
        taken_from_others: int,
        published_by: str,
    ) -> Row:
        with self.db.tx() as tx:
            row = tx.one(
                "INSERT INTO faq_publications (entry_id, langs, missing_lang, files, cluster_key, draft_id, "
                "questions, covered_before, covered_after, taken_from_others, published_by, published_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?) RETURNING *",
                (entry_id, _j(langs), missing_lang, _j(files), cluster_key, draft_id, questions, covered_before,
                 covered_after, taken_from_others, published_by, now_iso()),
            )
        assert row is not None
        return _publication(row)

    def publications(self, limit: int = 100) -> list[Row]:
        with self.db.tx() as tx:
            rows = tx.all("SELECT * FROM faq_publications ORDER BY id DESC LIMIT ?", (limit,))
        return [_publication(r) for r in rows]


def _publication(row: Row) -> Row:
    out = dict(row)
    out["id"] = int(out["id"])
    out["langs"] = json.loads(out["langs"])
    out["files"] = json.loads(out["files"])
    if out.get("draft_id") is not None:
        out["draft_id"] = int(out["draft_id"])
    return out


def _incident(row: Row) -> Row:
    out = dict(row)
    out["id"] = int(out["id"])
    out["questions"] = int(out["questions"])
    out["conversations"] = int(out["conversations"])
    out["languages"] = json.loads(out["languages"])
    out["channels"] = json.loads(out["channels"])
    out["detection"] = json.loads(out["detection"])
    return out


class IncidentRepo:
    """Suspected incidents (the spike detector's), the conversations linked to each and their timeline.

    Opening is idempotent on the detector's key and writes, in one transaction, the incident, its first
    questions' links, the ``detected`` event of its timeline and the ``incident.suspected`` webhook.
    A link is one per conversation; the incident's counts, languages, channels and last seen are kept
    from its links under the incident's row lock (two replicas linking at once lose nothing)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def open(
        self,
        key: str,
        title: str,
        summary: str,
        questions: list[IncidentQuestion],
        detection: dict[str, Any],
        console_url: Callable[[int], str | None] = lambda incident_id: None,
    ) -> tuple[Row, bool]:
        """The incident ``key`` (opened now, or before: then False and nothing is written)."""
        if not questions:
            raise ValueError("an incident opens with its questions")
        now = now_iso()
        first = min(q.asked_at for q in questions)
        with self.db.tx() as tx:
            row = tx.one(
                "INSERT INTO incidents (key, status, title, summary, first_seen, last_seen, detection, created_at, "
                "updated_at) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (key) DO NOTHING RETURNING id",
                (key, IncidentStatus.SUSPECTED, title[:500], summary, first, first, _j(detection), now, now),
            )
            if row is None:
                existing = tx.one("SELECT * FROM incidents WHERE key = ?", (key,))
                assert existing is not None
                return _incident(existing), False
            incident_id = int(row["id"])
            for q in questions:
                self._link(tx, incident_id, q, now)
            incident = self._refresh(tx, incident_id)
            self._event(tx, incident_id, "detected", None, {**detection, "questions": incident["questions"]})
            tx.emit(Event(EventKind.INCIDENT_SUSPECTED, incident_id=incident_id))
            data = incident_payload(incident, [q.question for q in questions], console_url(incident_id))
            queue_webhook(tx, EventKind.INCIDENT_SUSPECTED, data, incident_text(data))
        return incident, True

    def link(self, incident_id: int, q: IncidentQuestion) -> bool:
        """Link one more question to a suspected or confirmed incident; True when its conversation is newly
        linked (404 for no such incident, 409 for a dismissed or resolved one)."""
        now = now_iso()
        with self.db.tx() as tx:
            if not tx.execute(  # the row lock the counts are kept under
                "UPDATE incidents SET updated_at = ? WHERE id = ? AND status IN (?, ?)",
                (now, incident_id, IncidentStatus.SUSPECTED, IncidentStatus.CONFIRMED),
            ):
                if tx.one("SELECT id FROM incidents WHERE id = ?", (incident_id,)) is None:
                    raise NotFound(f"no incident {incident_id}")
                raise InvalidTransition(f"incident {incident_id} is closed; nothing more is linked to it")
            new = self._link(tx, incident_id, q, now)
            self._refresh(tx, incident_id)
            tx.emit(Event(EventKind.INCIDENT_CHANGED, q.conversation_id, incident_id=incident_id))
        return new

    def set_link_handoff(self, incident_id: int, conversation_id: str, handoff_id: int) -> None:
        """The handoff a linked conversation opened after it was linked."""
        with self.db.tx() as tx:
            tx.execute(
                "UPDATE incident_links SET handoff_id = ? WHERE incident_id = ? AND conversation_id = ? "
                "AND handoff_id IS NULL",
                (handoff_id, incident_id, conversation_id),
            )

    @staticmethod
    def _link(tx: Tx, incident_id: int, q: IncidentQuestion, now: str) -> bool:
        if q.handoff_id is None:  # asked before the handoff was known to the detector: the open one, if any
            open_row = _open_handoff_row(tx, q.conversation_id)
            if open_row is not None:
                q = replace(q, handoff_id=int(open_row["id"]))
        tx.execute("UPDATE incidents SET questions = questions + 1 WHERE id = ?", (incident_id,))
        added = tx.one(
            "INSERT INTO incident_links (incident_id, conversation_id, handoff_id, lang, channel, question, asked_at, "
            "linked_at) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (incident_id, conversation_id) DO NOTHING "
            "RETURNING incident_id",
            (incident_id, q.conversation_id, q.handoff_id, q.lang, q.channel, q.question, q.asked_at, now),
        )
        if added is None and q.handoff_id is not None:  # a later handoff of a linked conversation
            tx.execute(
                "UPDATE incident_links SET handoff_id = ? WHERE incident_id = ? AND conversation_id = ? "
                "AND handoff_id IS NULL",
                (q.handoff_id, incident_id, q.conversation_id),
            )
        tx.execute(
            "UPDATE incidents SET last_seen = ? WHERE id = ? AND last_seen < ?", (q.asked_at, incident_id, q.asked_at)
        )
        return added is not None

    @staticmethod
    def _refresh(tx: Tx, incident_id: int) -> Row:
        """The incident's conversations, languages and channels, from its links."""
        links = tx.all("SELECT lang, channel FROM incident_links WHERE incident_id = ?", (incident_id,))
        tx.execute(
            "UPDATE incidents SET conversations = ?, languages = ?, channels = ? WHERE id = ?",
            (len(links), _j(sorted({r["lang"] for r in links})), _j(sorted({r["channel"] for r in links})),
             incident_id),
        )
        row = tx.one("SELECT * FROM incidents WHERE id = ?", (incident_id,))
        assert row is not None
        return _incident(row)

    @staticmethod
    def _event(tx: Tx, incident_id: int, kind: str, actor: str | None, detail: dict[str, Any]) -> None:
        tx.execute(
            "INSERT INTO incident_events (incident_id, at, kind, actor, detail) VALUES (?,?,?,?,?)",
            (incident_id, now_iso(), kind, actor, _j(detail)),
        )

    def get(self, incident_id: int) -> Row:
        with self.db.tx() as tx:
            row = tx.one("SELECT * FROM incidents WHERE id = ?", (incident_id,))
        if row is None:
            raise NotFound(f"no incident {incident_id}")
        return _incident(row)

    def all(self, status: str | None = None, limit: int = 100) -> list[Row]:
        """Newest first (by last seen)."""
        with self.db.tx() as tx:
            if status:
                rows = tx.all(
                    "SELECT * FROM incidents WHERE status = ? ORDER BY last_seen DESC, id DESC LIMIT ?", (status, limit)
                )
            else:
                rows = tx.all("SELECT * FROM incidents ORDER BY last_seen DESC, id DESC LIMIT ?", (limit,))
        return [_incident(r) for r in rows]

    def links(self, incident_id: int) -> list[Row]:
        with self.db.tx() as tx:
            rows = tx.all(
                "SELECT * FROM incident_links WHERE incident_id = ? ORDER BY asked_at, conversation_id", (incident_id,)
            )
        for r in rows:
            r["incident_id"] = int(r["incident_id"])
            if r["handoff_id"] is not None:
                r["handoff_id"] = int(r["handoff_id"])
        return rows

    def timeline(self, incident_id: int) -> list[Row]:
        with self.db.tx() as tx:
            rows = tx.all(
                "SELECT at, kind, actor, detail FROM incident_events WHERE incident_id = ? ORDER BY id", (incident_id,)
            )
        return [{**r, "detail": json.loads(r["detail"])} for r in rows]

    def set_status(
        self,
        incident_id: int,
        status: IncidentStatus,
        actor: str,
        note_en: str | None = None,
        note_zh: str | None = None,
        reason: str | None = None,
    ) -> Row:
        """Move an incident on (confirm, dismiss, resolve), with its status notes; only one caller makes
        each move (404 for a missing incident, 409 when it is no longer in a status that may move there)."""
        allowed = [str(s) for s, targets in INCIDENT_TRANSITIONS.items() if status in targets]
        now = now_iso()
        with self.db.tx() as tx:
            row = tx.one(
                f"UPDATE incidents SET status = ?, updated_at = ?, updated_by = ?, note_en = COALESCE(?, note_en), "
                f"note_zh = COALESCE(?, note_zh) WHERE id = ? AND status IN ({placeholders(len(allowed))}) RETURNING *",
                (status, now, actor, note_en, note_zh, incident_id, *allowed),
            ) if allowed else None
            if row is None:
                current = tx.one("SELECT status FROM incidents WHERE id = ?", (incident_id,))
                if current is None:
                    raise NotFound(f"no incident {incident_id}")
                raise InvalidTransition(f"incident {incident_id} is {current['status']}; it cannot become {status}")
            detail = {k: v for k, v in (("note_en", note_en), ("note_zh", note_zh), ("reason", reason)) if v}
            self._event(tx, incident_id, str(status), actor, detail)
            tx.emit(Event(EventKind.INCIDENT_CHANGED, incident_id=incident_id))
        return _incident(row)

    def reply(self, incident_id: int, agent: str, text: str, client_id: str | None = None) -> tuple[list[Message], bool]:
        """One agent reply into every linked conversation, in one transaction: (the messages, whether they
        were written now). With a ``client_id`` a retry writes nothing and returns the first call's
        messages (each conversation's message is stored under ``<client_id>.<conversation>``); a
        conversation linked between the two calls gets the reply on the retry. The linked handoffs' first
        reply is set. 404 for no incident, 409 for a dismissed one."""
        try:
            return self._reply(incident_id, agent, text, client_id)
        except DuplicateClientId:  # a concurrent retry stored them first: its messages are the answer
            return self._reply(incident_id, agent, text, client_id)

    def _reply(self, incident_id: int, agent: str, text: str, client_id: str | None) -> tuple[list[Message], bool]:
        written: list[Message] = []
        out: list[Message] = []
        with self.db.tx() as tx:
            row = tx.one("SELECT status FROM incidents WHERE id = ?", (incident_id,))
            if row is None:
                raise NotFound(f"no incident {incident_id}")
            if row["status"] == IncidentStatus.DISMISSED:
                raise InvalidTransition(f"incident {incident_id} was dismissed; it has no customers to answer")
            links = tx.all(
                "SELECT conversation_id, handoff_id FROM incident_links WHERE incident_id = ? "
                "ORDER BY asked_at, conversation_id", (incident_id,),
            )
            for link in links:
                key = None if client_id is None else f"{client_id}.{link['conversation_id']}"
                stored = None if key is None else _by_client_id(tx, key)
                if stored is not None:
                    out.append(stored)
                    continue
                message = _insert_message(
                    tx, link["conversation_id"], "agent", text, {"incident_id": incident_id}, agent, key
                )
                written.append(message)
                out.append(message)
                handoff = _open_handoff_row(tx, link["conversation_id"])
                if handoff is not None:
                    tx.execute(
                        "UPDATE handoffs SET first_reply_at = ? WHERE id = ? AND first_reply_at IS NULL",
                        (message.created_at, handoff["id"]),
                    )
                    tx.emit(Event(EventKind.HANDOFF_REPLIED, link["conversation_id"], int(handoff["id"]), message.id))
            if written:
                self._event(tx, incident_id, "replied", agent, {"text": text, "conversations": len(written)})
                tx.emit(Event(EventKind.INCIDENT_CHANGED, incident_id=incident_id))
        return out, bool(written)

    def resolve(
        self,
        incident_id: int,
        actor: str,
        notices: dict[str, str],
        note_en: str | None = None,
        note_zh: str | None = None,
    ) -> tuple[Row, int]:
        """Resolve a suspected or confirmed incident and tell every linked customer, in one transaction:
        (the incident, customers notified now). Each linked conversation gets one bot message (its
        ``notices[lang]``, kind ``incident_resolved``) stored under a client id of its own, so no
        conversation is told twice whatever runs again; an email conversation's message queues its mail
        as any bot reply does. ``notified_at`` is set on the link; a linked handoff still open is resolved
        unless the customer wrote again after being linked. 404 for no incident, 409 unless it is
        suspected or confirmed (a second resolve: nobody is told twice)."""
        now = now_iso()
        allowed = [str(s) for s, targets in INCIDENT_TRANSITIONS.items() if IncidentStatus.RESOLVED in targets]
        with self.db.tx() as tx:
            row = tx.one(
                "UPDATE incidents SET status = ?, updated_at = ?, updated_by = ?, "
                f"resolution_en = ?, resolution_zh = ? WHERE id = ? AND status IN ({placeholders(len(allowed))}) "
                "RETURNING *",
                (IncidentStatus.RESOLVED, now, actor, note_en, note_zh, incident_id, *allowed),
            )
            if row is None:
                current = tx.one("SELECT status FROM incidents WHERE id = ?", (incident_id,))
                if current is None:
                    raise NotFound(f"no incident {incident_id}")
                raise InvalidTransition(
                    f"incident {incident_id} is {current['status']}; it cannot become resolved"
                )
            detail = {k: v for k, v in (("resolution_en", note_en), ("resolution_zh", note_zh)) if v}
            self._event(tx, incident_id, "resolved", actor, detail)
            links = tx.all(
                "SELECT l.conversation_id, l.lang, l.handoff_id, l.linked_at, c.channel FROM incident_links l "
                "JOIN conversations c ON c.id = l.conversation_id WHERE l.incident_id = ? AND l.notified_at IS NULL "
                "ORDER BY l.asked_at, l.conversation_id",
                (incident_id,),
            )
            notified: dict[str, int] = {}
            handoffs_resolved = 0
            for link in links:
                conv_id = link["conversation_id"]
                lang = link["lang"] if link["lang"] in notices else next(iter(notices))
                key = f"incident-{incident_id}-resolved-{conv_id}"
                if _by_client_id(tx, key) is None:
                    meta = {"kind": "incident_resolved", "reason": "incident_resolved", "incident_id": incident_id}
                    _insert_message(tx, conv_id, "bot", notices[lang], meta, None, key)
                    notified[link["channel"]] = notified.get(link["channel"], 0) + 1
                tx.execute(
                    "UPDATE incident_links SET notified_at = ? WHERE incident_id = ? AND conversation_id = ?",
                    (now, incident_id, conv_id),
                )
                handoff = _open_handoff_row(tx, conv_id)
                if handoff is None:
                    continue
                wrote_again = tx.one(
                    "SELECT id FROM messages WHERE conversation_id = ? AND role = 'customer' AND created_at > ? "
                    "LIMIT 1",
                    (conv_id, link["linked_at"]),
                )
                if wrote_again is not None:  # a new question after the link: a person still answers it
                    continue
                if tx.execute(
                    "UPDATE handoffs SET status = ?, resolved_at = ?, resolution_answer = ? WHERE id = ? "
                    "AND status <> ?",
                    (HandoffStatus.RESOLVED, now, notices[lang], handoff["id"], HandoffStatus.RESOLVED),
                ):
                    handoffs_resolved += 1
                    tx.emit(Event(EventKind.HANDOFF_RESOLVED, conv_id, int(handoff["id"])))
                    resolved = tx.one("SELECT * FROM handoffs WHERE id = ?", (handoff["id"],))
                    assert resolved is not None
                    queue_webhook(tx, EventKind.HANDOFF_RESOLVED, handoff_payload(_handoff(resolved), link["channel"]))
            count = sum(notified.values())
            self._event(
                tx, incident_id, "customers_notified", actor,
                {"count": count, "channels": notified, "handoffs_resolved": handoffs_resolved},
            )
            tx.emit(Event(EventKind.INCIDENT_CHANGED, incident_id=incident_id))
        return _incident(row), count

    def with_timelines(self, since: str, until: str, limit: int = 500) -> list[tuple[Row, list[Row]]]:
        """The incidents first seen in [since, until), oldest first, each with its timeline."""
        with self.db.tx() as tx:
            rows = tx.all(
                "SELECT * FROM incidents WHERE first_seen >= ? AND first_seen < ? ORDER BY first_seen, id LIMIT ?",
                (since, until, limit),
            )
            ids = [int(r["id"]) for r in rows]
            events = tx.all(
                f"SELECT incident_id, at, kind, actor, detail FROM incident_events WHERE incident_id IN "
                f"({placeholders(len(ids))}) ORDER BY id", tuple(ids),
            ) if ids else []
        by: dict[int, list[Row]] = {}
        for e in events:
            by.setdefault(int(e["incident_id"]), []).append({**e, "detail": json.loads(e["detail"])})
        return [(_incident(r), by.get(int(r["id"]), [])) for r in rows]

    def open_keys(self) -> dict[str, int]:
        """Keys and ids of the incidents still suspected or confirmed."""
        with self.db.tx() as tx:
            rows = tx.all("SELECT id, key FROM incidents WHERE status IN (?, ?)",
                          (IncidentStatus.SUSPECTED, IncidentStatus.CONFIRMED))
        return {r["key"]: int(r["id"]) for r in rows}


class RateLimitRepo:
    """Sliding-window counters of :mod:`escalation.ratelimit`, shared by every replica."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def hit(self, bucket: str, window: int, cost: int, expires: int) -> tuple[int, int]:
        with self.db.tx() as tx:
            row = tx.one(
                "INSERT INTO rate_limits (bucket, window_no, hits, expires) VALUES (?,?,?,?) "
                "ON CONFLICT (bucket, window_no) DO UPDATE SET hits = rate_limits.hits + excluded.hits "
                "RETURNING hits",
                (bucket, window, cost, expires),
            )
            prev = tx.one("SELECT hits FROM rate_limits WHERE bucket = ? AND window_no = ?", (bucket, window - 1))
        assert row is not None
        return int(row["hits"]), int(prev["hits"]) if prev else 0

    def purge(self, now: int) -> int:
        with self.db.tx() as tx:
            return tx.execute("DELETE FROM rate_limits WHERE expires <= ?", (now,))


class SecretRepo:
    """Desk-wide secrets every replica must share (e.g. the key conversation credentials derive from)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get_or_create(self, name: str, make: Callable[[], str]) -> str:
        """The secret ``name``; created once (the first replica to ask wins, the others read it)."""
        with self.db.tx() as tx:
            tx.execute(
                "INSERT INTO desk_secrets (name, value, created_at) VALUES (?,?,?) ON CONFLICT (name) DO NOTHING",
                (name, make(), now_iso()),
            )
            row = tx.one("SELECT value FROM desk_secrets WHERE name = ?", (name,))
        assert row is not None
        return str(row["value"])

    def claim_once(self, name: str) -> bool:
        """True for exactly one caller ever (e.g. who issues the first API token)."""
        with self.db.tx() as tx:
            row = tx.one(
                "INSERT INTO desk_secrets (name, value, created_at) VALUES (?,?,?) "
                "ON CONFLICT (name) DO NOTHING RETURNING name",
                (name, "claimed", now_iso()),
            )
        return row is not None


class CannedRepo:
    """Canned replies: a key, and per language a title and a body with {variables}."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def put(self, key: str, lang: str, title: str, body: str, author: str) -> Row:
        """Create or replace the ``lang`` version of reply ``key``."""
        with self.db.tx() as tx:
            row = tx.one(
                "INSERT INTO canned_replies (key, lang, title, body, created_by, updated_at) VALUES (?,?,?,?,?,?) "
                "ON CONFLICT (key, lang) DO UPDATE SET title = excluded.title, body = excluded.body, "
                "created_by = excluded.created_by, updated_at = excluded.updated_at "
                "RETURNING id, key, lang, title, body, created_by, updated_at",
                (key, lang, title, body, author, now_iso()),
            )
        assert row is not None
        return row

    def all(self, lang: str | None = None) -> list[Row]:
        with self.db.tx() as tx:
            if lang:
                return tx.all(
                    "SELECT id, key, lang, title, body, created_by, updated_at FROM canned_replies WHERE lang = ? "
                    "ORDER BY key",
                    (lang,),
                )
            return tx.all(
                "SELECT id, key, lang, title, body, created_by, updated_at FROM canned_replies ORDER BY key, lang"
            )

    def get(self, canned_id: int) -> Row:
        with self.db.tx() as tx:
            row = tx.one(
                "SELECT id, key, lang, title, body, created_by, updated_at FROM canned_replies WHERE id = ?",
                (canned_id,),
            )
        if row is None:
            raise NotFound(f"no canned reply {canned_id}")
        return row

    def delete(self, canned_id: int) -> None:
        with self.db.tx() as tx:
            if tx.execute("DELETE FROM canned_replies WHERE id = ?", (canned_id,)) == 0:
                raise NotFound(f"no canned reply {canned_id}")


class MetricsRepo:
    """The rows outcome metrics are computed from, filtered in SQL (window, language, channel)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def _where(alias: str, since: str, until: str, lang: str | None, channel: str | None) -> tuple[str, list[Any]]:
        where = [f"{alias}.created_at >= ?", f"{alias}.created_at < ?"]
        params: list[Any] = [since, until]
        if lang:
            where.append("c.lang = ?")
            params.append(lang)
        if channel:
            where.append("c.channel = ?")
            params.append(channel)
        return " AND ".join(where), params

    def conversations(self, since: str, until: str, lang: str | None = None, channel: str | None = None) -> list[Row]:
        """Per conversation started in the window: when the bot first answered, when (and why) it was
        first handed off, and the feedback its answers got."""
        where, params = self._where("c", since, until, lang, channel)
        with self.db.tx() as tx:
            return tx.all(
                "SELECT c.id, c.created_at, c.lang, c.channel, "
                "(SELECT MIN(m.created_at) FROM messages m WHERE m.conversation_id = c.id AND m.role = 'bot' "
                " AND m.meta LIKE ?) AS first_answer, "
                "(SELECT MIN(h.created_at) FROM handoffs h WHERE h.conversation_id = c.id) AS first_handoff, "
                "(SELECT h.reason FROM handoffs h WHERE h.conversation_id = c.id ORDER BY h.id LIMIT 1) AS reason, "
                "(SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id AND m.feedback = 'yes') AS up, "
                "(SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id AND m.feedback IN ('no', 'wrong')) "
                " AS down "
                f"FROM conversations c WHERE {where} ORDER BY c.created_at",
                ['%"kind": "answer"%', *params],
            )

    def handoffs(self, since: str, until: str, lang: str | None = None, channel: str | None = None) -> list[Row]:
        """Handoffs opened in the window, with their reply and resolution times and whether an SLA broke."""
        where, params = self._where("h", since, until, lang, channel)
        with self.db.tx() as tx:
            return tx.all(
                "SELECT h.id, h.created_at, h.lang, h.reason, h.first_reply_at, h.resolved_at, c.channel, "
                "EXISTS (SELECT 1 FROM sla_breaches b WHERE b.handoff_id = h.id) AS breached "
                f"FROM handoffs h JOIN conversations c ON c.id = h.conversation_id WHERE {where} ORDER BY h.id",
                params,
            )


    def refresh(self, conversation_id: str) -> None:
        """Recompute a conversation's metrics rows (its answers, first answer and handoff, feedback counts)
        from its messages and handoffs: what migration m012 did for every conversation. The repositories
        keep them in step on every write; this is for rows changed behind their back (tests that backdate
        messages with SQL)."""
        with self.db.tx() as tx:
            tx.execute("DELETE FROM answers WHERE conversation_id = ?", (conversation_id,))
            for statement in metrics_rows(self.db.backend, one=True):
                tx.execute(statement, (conversation_id,))

    # -- aggregated in SQL: what escalation.metrics reads (narrow rows and indexes: sqlite_migrations.M012)

    def _after(self, later: str, earlier: str, seconds: int) -> str:
        """SQL: instant ``later`` is more than ``seconds`` after ``earlier`` (both stored ISO text in UTC)."""
        if self.db.backend == "postgresql":
            return f"{later}::timestamptz > {earlier}::timestamptz + interval '{int(seconds)} seconds'"
        return f"{later} > strftime('%Y-%m-%dT%H:%M:%f+00:00', {earlier}, '+{int(seconds)} seconds')"

    def daily(
        self,
        since: str,
        until: str,
        lang: str | None,
        channel: str | None,
        horizons: dict[str, tuple[str, int]],
    ) -> list[Row]:
        """Per UTC day a conversation started in the window, and per the reason it was first handed off
        (None: never): conversations, answered ones, and for each horizon ``name -> (cut, seconds)``
        those eligible (first answered at or before ``cut``) and automated (eligible, no negative feedback,
        not handed off within ``seconds`` of the first answer); thumbs up and down."""
        where, params = self._where("c", since, until, lang, channel)
        cuts: list[Any] = []
        columns = []
        for name, (cut, seconds) in horizons.items():
            eligible = "c.first_answer_at <= ?"
            later = self._after("c.first_handoff_at", "c.first_answer_at", seconds)
            kept = f"c.feedback_down = 0 AND (c.first_handoff_at IS NULL OR {later})"
            columns.append(f"SUM(CASE WHEN {eligible} THEN 1 ELSE 0 END) AS eligible_{name}")
            columns.append(f"SUM(CASE WHEN {eligible} AND {kept} THEN 1 ELSE 0 END) AS automated_{name}")
            cuts += [cut, cut]
        # one pass over the index conversations_metrics, which holds every column read here
        sql = (
            "SELECT substr(c.created_at, 1, 10) AS day, c.first_reason AS reason, COUNT(*) AS conversations, "
            "SUM(CASE WHEN c.first_answer_at IS NOT NULL THEN 1 ELSE 0 END) AS answered, "
            + ", ".join(columns)
            + ", SUM(c.feedback_up) AS up, SUM(c.feedback_down) AS down "
            f"FROM conversations c WHERE {where} GROUP BY 1, 2 ORDER BY 1, 2"
        )
        with self.db.tx() as tx:
            return tx.all(sql, [*cuts, *params])

    def handoff_times(self, since: str, until: str, lang: str | None, channel: str | None) -> list[Row]:
        """Handoffs opened in the window (UTC day, language, opened, first reply, resolved, breached)."""
        where, params = self._where("h", since, until, lang, channel)
        join = " JOIN conversations c ON c.id = h.conversation_id" if lang or channel else ""
        with self.db.tx() as tx:
            return tx.all(
                "SELECT substr(h.created_at, 1, 10) AS day, h.lang, h.created_at, h.first_reply_at, h.resolved_at, "
                "CASE WHEN EXISTS (SELECT 1 FROM sla_breaches b WHERE b.handoff_id = h.id) THEN 1 ELSE 0 END "
                f"AS breached FROM handoffs h{join} WHERE {where}",
                params,
            )

    def entries(self, since: str, until: str, lang: str | None, channel: str | None) -> list[Row]:
        """Per FAQ entry the bot answered from in conversations started in the window: answers, thumbs
        up, thumbs down, and "not what I asked" (a ``wrong_answer`` handoff after an answer from it)."""
        where, params = self._where("c", since, until, lang, channel)
        counts = (
            "SELECT a.entry_id AS entry, COUNT(*) AS answers, "
            "SUM(CASE WHEN a.feedback = 'yes' THEN 1 ELSE 0 END) AS up, "
            "SUM(CASE WHEN a.feedback = 'no' THEN 1 ELSE 0 END) AS down "
        )
        with self.db.tx() as tx:
            if lang or channel:  # the window's conversations of that language or channel, then their answers
                answers = tx.all(
                    f"{counts} FROM conversations c JOIN answers a ON a.conversation_id = c.id "
                    f"WHERE {where} GROUP BY a.entry_id",
                    params,
                )
            else:  # one range of the index answers_started
                answers = tx.all(
                    f"{counts} FROM answers a WHERE a.started_at >= ? AND a.started_at < ? GROUP BY a.entry_id",
                    (since, until),
                )
            wrong = tx.all(
                "SELECT (SELECT a.entry_id FROM answers a WHERE a.conversation_id = h.conversation_id "
                " AND a.created_at <= h.created_at "
                " ORDER BY a.created_at DESC, a.message_id DESC LIMIT 1) AS entry, COUNT(*) AS wrong "
                "FROM handoffs h JOIN conversations c ON c.id = h.conversation_id "
                f"WHERE h.reason = 'wrong_answer' AND {where} GROUP BY 1",
                params,
            )
        out = {r["entry"]: {**r, "wrong": 0} for r in answers if r["entry"] is not None}
        for r in wrong:
            if r["entry"] is not None:
                out.setdefault(r["entry"], {"entry": r["entry"], "answers": 0, "up": 0, "down": 0})["wrong"] = r["wrong"]
        return list(out.values())
