"""Storage behind a small interface. SQLite (sqlite-utils) is the embedded default.

No SQL lives outside this module: routes and business logic talk to :class:`HelpdeskStore`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from sqlite_utils import Database

from escalation import migrations
from escalation.errors import NotFound, TicketAlreadyClaimed
from escalation.models import Conversation, FaqDraft, Handoff, Message, Role, now_iso


class HelpdeskStore(Protocol):
    def create_conversation(self, lang: str) -> Conversation: ...
    def get_conversation(self, conversation_id: str) -> Conversation: ...
    def update_conversation(
        self,
        conversation_id: str,
        *,
        status: str | None = None,
        lang: str | None = None,
        state: dict[str, Any] | None = None,
    ) -> None: ...
    def add_message(
        self,
        conversation_id: str,
        role: Role,
        text: str,
        meta: dict[str, Any] | None = None,
        author: str | None = None,
    ) -> Message: ...
    def messages(self, conversation_id: str, after_id: int = 0) -> list[Message]: ...
    def get_message(self, message_id: int) -> Message: ...
    def set_feedback(self, message_id: int, value: str) -> Message: ...
    def create_handoff(
        self, conversation_id: str, reason: str, lang: str, question: str, candidates: list[dict[str, Any]]
    ) -> Handoff: ...
    def open_handoff_for(self, conversation_id: str) -> Handoff | None: ...
    def get_handoff(self, handoff_id: int) -> Handoff: ...
    def list_handoffs(self, status: str | None = None, lang: str | None = None) -> list[Handoff]: ...
    def claim_handoff(self, handoff_id: int, agent: str) -> Handoff: ...
    def mark_first_reply(self, handoff_id: int) -> None: ...
    def resolve_handoff(
        self, handoff_id: int, answer: str, faq_id: str | None, ticket_id: str
    ) -> Handoff: ...
    def add_agent(self, username: str, password_hash: str, display_name: str) -> None: ...
    def agent_password_hash(self, username: str) -> str | None: ...
    def add_draft(
        self, handoff_id: int, lang: str, title: str, questions: list[str], answer: str, created_by: str
    ) -> FaqDraft: ...
    def drafts(self) -> list[FaqDraft]: ...
    def agent_names(self) -> list[str]: ...
    def create_session(self, token_hash: str, username: str, expires_at: str) -> None: ...
    def session_user(self, token_hash: str, now: str) -> str | None: ...
    def delete_session(self, token_hash: str) -> None: ...
    def outcomes(self) -> list[tuple[str, str, str | None, str | None]]: ...
    def close(self) -> None: ...


def _j(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class SqliteStore:
    """One connection shared by the threads of the service, serialised by a lock; WAL journal."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        self.db = Database(conn)
        self.path = path
        self._lock = threading.RLock()
        with self._lock:
            migrations.apply(self.db)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self.db.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _one(self, sql: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
        with self._lock:
            cur = self.db.conn.execute(sql, params)
            row = cur.fetchone()
            if row is None:
                return None
            return dict(zip([c[0] for c in cur.description], row, strict=True))

    def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self._lock:
            cur = self.db.conn.execute(sql, params)
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    # -- conversations ---------------------------------------------------------------------------

    def create_conversation(self, lang: str) -> Conversation:
        now = now_iso()
        conv = Conversation(uuid.uuid4().hex, lang, "bot", now, now, {})
        with self._tx() as c:
            c.execute(
                "INSERT INTO conversations (id, lang, status, created_at, updated_at, state) VALUES (?,?,?,?,?,?)",
                (conv.id, lang, "bot", now, now, "{}"),
            )
        return conv

    def get_conversation(self, conversation_id: str) -> Conversation:
        row = self._one("SELECT * FROM conversations WHERE id = ?", (conversation_id,))
        if row is None:
            raise NotFound(f"no conversation {conversation_id!r}")
        row["state"] = json.loads(row["state"] or "{}")
        return Conversation(**row)

    def update_conversation(
        self,
        conversation_id: str,
        *,
        status: str | None = None,
        lang: str | None = None,
        state: dict[str, Any] | None = None,
    ) -> None:
        sets, params = ["updated_at = ?"], [now_iso()]
        if status is not None:
            sets.append("status = ?")
            params.append(status)
        if lang is not None:
            sets.append("lang = ?")
            params.append(lang)
        if state is not None:
            sets.append("state = ?")
            params.append(_j(state))
        with self._tx() as c:
            c.execute(f"UPDATE conversations SET {', '.join(sets)} WHERE id = ?", (*params, conversation_id))

    # -- messages --------------------------------------------------------------------------------

    @staticmethod
    def _message(row: dict[str, Any]) -> Message:
        row["meta"] = json.loads(row["meta"] or "{}")
        return Message(**row)

    def add_message(
        self,
        conversation_id: str,
        role: Role,
        text: str,
        meta: dict[str, Any] | None = None,
        author: str | None = None,
    ) -> Message:
        now = now_iso()
        with self._tx() as c:
            cur = c.execute(
                "INSERT INTO messages (conversation_id, role, text, created_at, meta, author) VALUES (?,?,?,?,?,?)",
                (conversation_id, role, text, now, _j(meta or {}), author),
            )
            c.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id))
            mid = int(cur.lastrowid or 0)
        return Message(mid, conversation_id, role, text, now, meta or {}, author, None)

    def messages(self, conversation_id: str, after_id: int = 0) -> list[Message]:
        rows = self._all(
            "SELECT * FROM messages WHERE conversation_id = ? AND id > ? ORDER BY id",
            (conversation_id, after_id),
        )
        return [self._message(r) for r in rows]

    def get_message(self, message_id: int) -> Message:
        row = self._one("SELECT * FROM messages WHERE id = ?", (message_id,))
        if row is None:
            raise NotFound(f"no message {message_id}")
        return self._message(row)

    def set_feedback(self, message_id: int, value: str) -> Message:
        with self._tx() as c:
            cur = c.execute(
                "UPDATE messages SET feedback = ? WHERE id = ? AND role = 'bot'", (value, message_id)
            )
            if cur.rowcount == 0:
                raise NotFound(f"no bot message {message_id}")
        return self.get_message(message_id)

    # -- handoffs --------------------------------------------------------------------------------

    @staticmethod
    def _handoff(row: dict[str, Any]) -> Handoff:
        row["candidates"] = json.loads(row["candidates"] or "[]")
        return Handoff(**row)

    def create_handoff(
        self, conversation_id: str, reason: str, lang: str, question: str, candidates: list[dict[str, Any]]
    ) -> Handoff:
        now = now_iso()
        with self._tx() as c:
            cur = c.execute(
                "INSERT INTO handoffs (conversation_id, status, reason, lang, question, candidates, created_at) "
                "VALUES (?,?,?,?,?,?,?)",
                (conversation_id, "open", reason, lang, question, _j(candidates), now),
            )
            c.execute(
                "UPDATE conversations SET status = 'handoff', updated_at = ? WHERE id = ?",
                (now, conversation_id),
            )
            hid = int(cur.lastrowid or 0)
        return self.get_handoff(hid)

    def open_handoff_for(self, conversation_id: str) -> Handoff | None:
        row = self._one(
            "SELECT * FROM handoffs WHERE conversation_id = ? AND status != 'resolved' ORDER BY id DESC LIMIT 1",
            (conversation_id,),
        )
        return self._handoff(row) if row else None

    def get_handoff(self, handoff_id: int) -> Handoff:
        row = self._one("SELECT * FROM handoffs WHERE id = ?", (handoff_id,))
        if row is None:
            raise NotFound(f"no handoff {handoff_id}")
        return self._handoff(row)

    def list_handoffs(self, status: str | None = None, lang: str | None = None) -> list[Handoff]:
        where, params = [], []
        if status:
            where.append("status = ?")
            params.append(status)
        if lang:
            where.append("lang = ?")
            params.append(lang)
        sql = "SELECT * FROM handoffs" + (" WHERE " + " AND ".join(where) if where else "")
        return [self._handoff(r) for r in self._all(sql + " ORDER BY created_at, id", tuple(params))]

    def claim_handoff(self, handoff_id: int, agent: str) -> Handoff:
        with self._tx() as c:
            cur = c.execute(
                "UPDATE handoffs SET status = 'claimed', claimed_by = ?, claimed_at = ? "
                "WHERE id = ? AND status = 'open'",
                (agent, now_iso(), handoff_id),
            )
            won = cur.rowcount == 1
        handoff = self.get_handoff(handoff_id)
        if not won and handoff.claimed_by != agent:
            raise TicketAlreadyClaimed(
                f"handoff {handoff_id} is {handoff.status}"
                + (f" by {handoff.claimed_by}" if handoff.claimed_by else "")
            )
        return handoff

    def mark_first_reply(self, handoff_id: int) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE handoffs SET first_reply_at = ? WHERE id = ? AND first_reply_at IS NULL",
                (now_iso(), handoff_id),
            )

    def resolve_handoff(self, handoff_id: int, answer: str, faq_id: str | None, ticket_id: str) -> Handoff:
        now = now_iso()
        with self._tx() as c:
            row = c.execute(
                "SELECT conversation_id, status FROM handoffs WHERE id = ?", (handoff_id,)
            ).fetchone()
            if row is None:
                raise NotFound(f"no handoff {handoff_id}")
            c.execute(
                "UPDATE handoffs SET status = 'resolved', resolved_at = ?, resolution_answer = ?, "
                "resolution_faq_id = ?, ticket_id = ? WHERE id = ?",
                (now, answer, faq_id, ticket_id, handoff_id),
            )
            c.execute("UPDATE conversations SET status = 'bot', updated_at = ? WHERE id = ?", (now, row[0]))
        return self.get_handoff(handoff_id)

    # -- agents and drafts -----------------------------------------------------------------------

    def add_agent(self, username: str, password_hash: str, display_name: str) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO agents (username, password_hash, display_name, created_at) VALUES (?,?,?,?) "
                "ON CONFLICT(username) DO UPDATE SET password_hash = excluded.password_hash, "
                "display_name = excluded.display_name",
                (username, password_hash, display_name, now_iso()),
            )

    def agent_password_hash(self, username: str) -> str | None:
        row = self._one("SELECT password_hash FROM agents WHERE username = ?", (username,))
        return row["password_hash"] if row else None

    def agent_names(self) -> list[str]:
        return [r["username"] for r in self._all("SELECT username FROM agents ORDER BY username")]

    def create_session(self, token_hash: str, username: str, expires_at: str) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO sessions (token_hash, username, created_at, expires_at) VALUES (?,?,?,?)",
                (token_hash, username, now_iso(), expires_at),
            )

    def session_user(self, token_hash: str, now: str) -> str | None:
        row = self._one(
            "SELECT username FROM sessions WHERE token_hash = ? AND expires_at > ?", (token_hash, now)
        )
        return row["username"] if row else None

    def delete_session(self, token_hash: str) -> None:
        with self._tx() as c:
            c.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    def add_draft(
        self, handoff_id: int, lang: str, title: str, questions: list[str], answer: str, created_by: str
    ) -> FaqDraft:
        now = now_iso()
        with self._tx() as c:
            cur = c.execute(
                "INSERT INTO faq_drafts (handoff_id, lang, title, questions, answer, created_by, created_at) "
                "VALUES (?,?,?,?,?,?,?)",
                (handoff_id, lang, title, _j(questions), answer, created_by, now),
            )
            did = int(cur.lastrowid or 0)
        return FaqDraft(did, handoff_id, lang, title, questions, answer, created_by, now)

    def drafts(self) -> list[FaqDraft]:
        rows = self._all("SELECT * FROM faq_drafts ORDER BY id")
        for r in rows:
            r["questions"] = json.loads(r["questions"] or "[]")
        return [FaqDraft(**r) for r in rows]

    # -- outcomes --------------------------------------------------------------------------------

    def outcomes(self) -> list[tuple[str, str, str | None, str | None]]:
        """What conversations taught about the bot's answers: ``(question, lang, right, rejected)``.

        - an answer the customer marked not helpful or "not what I asked": rejected = its entry
          (right = the entry an agent linked when resolving the handoff that followed, if any);
        - a handoff the bot could not answer that an agent resolved without any FAQ entry: out of
          scope (right and rejected None).
        """
        rows = self._all(
            "SELECT b.meta AS meta, b.conversation_id AS conv, b.id AS id, "
            "(SELECT c.text FROM messages c WHERE c.conversation_id = b.conversation_id AND c.role = 'customer' "
            " AND c.id < b.id ORDER BY c.id DESC LIMIT 1) AS question, "
            "(SELECT c.meta FROM messages c WHERE c.conversation_id = b.conversation_id AND c.role = 'customer' "
            " AND c.id < b.id ORDER BY c.id DESC LIMIT 1) AS qmeta, "
            "(SELECT h.resolution_faq_id FROM handoffs h WHERE h.conversation_id = b.conversation_id "
            " AND h.reason = 'wrong_answer' AND h.status = 'resolved' AND h.created_at >= b.created_at "
            " ORDER BY h.id LIMIT 1) AS linked "
            "FROM messages b WHERE b.role = 'bot' AND b.feedback IN ('no', 'wrong') ORDER BY b.id"
        )
        out: list[tuple[str, str, str | None, str | None]] = []
        for r in rows:
            meta = json.loads(r["meta"] or "{}")
            sources = meta.get("sources") or []
            if meta.get("kind") != "answer" or not sources or not r["question"]:
                continue
            lang = json.loads(r["qmeta"] or "{}").get("lang") or "en"
            out.append((r["question"], lang, r["linked"], str(sources[0]["id"])))
        for r in self._all(
            "SELECT question, lang FROM handoffs WHERE status = 'resolved' AND resolution_faq_id IS NULL "
            "AND reason IN ('low_confidence', 'missing_knowledge') AND question != '' ORDER BY id"
        ):
            out.append((r["question"], r["lang"] or "en", None, None))
        return out

    def close(self) -> None:
        with self._lock:
            self.db.conn.close()
