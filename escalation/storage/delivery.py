"""What leaves the desk later: outgoing mail, webhooks, SLA breaches (transactional outboxes).

A row is written in the same transaction as what caused it (the reply, the handoff, the breach), so
nothing is sent that was not stored and nothing stored is forgotten; senders take due rows under a
short lease (one replica sends each), and a failed attempt is retried with backoff. The rows are the
delivery log the console shows.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from escalation.events import Event, EventKind
from escalation.models import Handoff, MailStatus, iso, now_iso
from escalation.storage.database import Database, Row, Tx, placeholders
from knowledge.pii import redact

MAX_BACKOFF_SECONDS = 30 * 60.0


def queue_mail(tx: Tx, conversation_id: str, to_addr: str, kind: str, message_id: int | None = None) -> bool:
    """One outgoing mail (``kind``: reply, missed, transcript); False when that message's mail of that
    kind is queued already."""
    row = tx.one(
        "INSERT INTO mail_outbox (conversation_id, message_id, kind, to_addr, token, next_attempt_at, created_at) "
        "VALUES (?,?,?,?,?,?,?) ON CONFLICT (message_id, kind) WHERE message_id IS NOT NULL DO NOTHING RETURNING id",
        (conversation_id, message_id, kind, to_addr, uuid.uuid4().hex, now_iso(), now_iso()),
    )
    return row is not None


# webhook events, as the outside world names them
WEBHOOK_EVENTS = {
    EventKind.HANDOFF_OPENED: "handoff.created",
    EventKind.HANDOFF_RESOLVED: "handoff.resolved",
    EventKind.SLA_BREACHED: "sla.breached",
    EventKind.INCIDENT_SUSPECTED: "incident.suspected",
}


def handoff_payload(h: Handoff, channel: str) -> dict[str, Any]:
    """What a webhook says about a handoff: no transcript, and the question with personal data redacted."""
    return {
        "id": h.id,
        "conversation_id": h.conversation_id,
        "status": str(h.status),
        "reason": h.reason,
        "lang": h.lang,
        "channel": channel,
        "question": redact(h.question),
        "created_at": h.created_at,
        "claimed_by": h.claimed_by,
        "first_reply_at": h.first_reply_at,
        "resolved_at": h.resolved_at,
    }


def queue_webhook(tx: Tx, kind: EventKind, data: dict[str, Any], text: str | None = None) -> None:
    """The webhook delivery of one event, in the transaction that emits it. ``text``: a line for chat
    tools (Slack, Mattermost, Teams and Rocket.Chat incoming webhooks show a top-level ``text``)."""
    name = WEBHOOK_EVENTS[kind]
    payload: dict[str, Any] = {"event": name, "id": uuid.uuid4().hex, "occurred_at": now_iso(), "data": data}
    if text is not None:
        payload["text"] = text
    tx.execute(
        "INSERT INTO webhook_outbox (event, payload, next_attempt_at, created_at) VALUES (?,?,?,?)",
        (name, json.dumps(payload, ensure_ascii=False), now_iso(), now_iso()),
    )


def incident_payload(incident: Row, questions: list[str], console_url: str | None) -> dict[str, Any]:
    """What the on-call webhook says about a suspected incident: counts, languages, channels, times, a few
    of its questions with personal data redacted, where to look, and a ``pager`` block in the shape of
    PagerDuty's Events API v2 ``payload`` (summary, source, severity, timestamp, custom_details)."""
    samples = [redact(q) for q in questions[:5]]
    title = redact(incident["title"])
    data = {
        "id": int(incident["id"]),
        "status": incident["status"],
        "title": title,
        "summary": incident["summary"],
        "questions": int(incident["questions"]),
        "conversations": int(incident["conversations"]),
        "languages": incident["languages"],
        "channels": incident["channels"],
        "first_seen": incident["first_seen"],
        "last_seen": incident["last_seen"],
        "sample_questions": samples,
        "console_url": console_url,
        "detection": incident["detection"],
    }
    data["pager"] = {
        "summary": f"Suspected incident: {title}"[:1024],
        "source": "invoice-helpdesk",
        "severity": "error",
        "timestamp": incident["first_seen"],
        "component": "customer questions",
        "custom_details": {k: data[k] for k in ("summary", "questions", "conversations", "languages", "channels",
                                                 "first_seen", "last_seen", "sample_questions")},
    }
    return data


def incident_text(data: dict[str, Any]) -> str:
    link = f" <{data['console_url']}|Open in the console>" if data.get("console_url") else ""
    return f":rotating_light: Suspected incident: {data['title']} — {data['summary']}{link}"


def channel_of(tx: Tx, conversation_id: str) -> str:
    row = tx.one("SELECT channel FROM conversations WHERE id = ?", (conversation_id,))
    return str(row["channel"]) if row else "widget"


class _Outbox:
    """Lease, retry and give up, the same for mail and webhooks."""

    table = ""
    done_status = "sent"

    def __init__(self, db: Database) -> None:
        self.db = db

    def take_due(self, now: datetime, limit: int = 20, lease_seconds: float = 120.0) -> list[Row]:
        """Due rows, each leased to this caller (another replica skips them until the lease ends)."""
        stamp, lease = iso(now), iso(now + timedelta(seconds=lease_seconds))
        with self.db.tx() as tx:
            rows = tx.all(
                f"SELECT * FROM {self.table} WHERE status = 'queued' AND next_attempt_at <= ? "
                f"AND (lease_until IS NULL OR lease_until < ?) ORDER BY id LIMIT ?{self.db.skip_locked}",
                (stamp, stamp, limit),
            )
            taken = []
            for r in rows:
                if tx.execute(
                    f"UPDATE {self.table} SET lease_until = ? WHERE id = ? AND (lease_until IS NULL OR lease_until < ?)",
                    (lease, r["id"], stamp),
                ):
                    taken.append(r)
        return taken

    def _finish(self, tx: Tx, row_id: int, sets: str, params: tuple[Any, ...]) -> None:
        tx.execute(f"UPDATE {self.table} SET {sets}, lease_until = NULL WHERE id = ?", (*params, row_id))

    def retry(self, row: Row, error: str, now: datetime, status_code: int | None = None) -> None:
        """Try ``row`` (as taken) again later: 30 s after the first failure, doubling to 30 min, with jitter."""
        wait = min(30.0 * 2 ** int(row["attempts"]), MAX_BACKOFF_SECONDS) * random.uniform(0.8, 1.2)
        with self.db.tx() as tx:
            self._finish(
                tx, int(row["id"]), "attempts = attempts + 1, last_error = ?, next_attempt_at = ?" + self._code(status_code),
                (error[:500], iso(now + timedelta(seconds=wait)), *self._code_param(status_code)),
            )

    def _code(self, status_code: int | None) -> str:
        return ", last_status = ?" if status_code is not None else ""

    @staticmethod
    def _code_param(status_code: int | None) -> tuple[Any, ...]:
        return (status_code,) if status_code is not None else ()

    def counts(self) -> dict[str, int]:
        with self.db.tx() as tx:
            rows = tx.all(f"SELECT status, COUNT(*) AS n FROM {self.table} GROUP BY status")
        return {r["status"]: int(r["n"]) for r in rows}

    def purge_done(self, before: str) -> int:
        with self.db.tx() as tx:
            return tx.execute(
                f"DELETE FROM {self.table} WHERE status IN ('{self.done_status}', 'skipped') AND created_at < ?",
                (before,),
            )


class MailRepo(_Outbox):
    """Outgoing mail; a permanent failure or a bounce becomes a system message the agent sees."""

    table = "mail_outbox"

    def sent(self, row_id: int, at: datetime) -> None:
        with self.db.tx() as tx:
            self._finish(tx, row_id, "status = 'sent', attempts = attempts + 1, sent_at = ?", (iso(at),))

    def failed(self, row_id: int, error: str, status: str = MailStatus.FAILED) -> bool:
        """Give up on a mail (``status`` failed or bounced): the agent is told in the conversation.
        False when it was marked so before (a second bounce report)."""
        with self.db.tx() as tx:
            row = tx.one("SELECT * FROM mail_outbox WHERE id = ?", (row_id,))
            if row is None or row["status"] == status:
                return False
            self._finish(tx, row_id, "status = ?, attempts = attempts + 1, last_error = ?", (status, error[:500]))
            from escalation.storage.repos import _insert_message

            _insert_message(
                tx,
                row["conversation_id"],
                "system",
                f"Email to {row['to_addr']} could not be delivered ({status}): {error[:300]}",
                {"kind": "mail_failed", "mail_id": int(row["id"]), "status": status, "message_id": row["message_id"]},
                None,
            )
        return True

    def by_token(self, token: str) -> Row | None:
        with self.db.tx() as tx:
            return tx.one("SELECT * FROM mail_outbox WHERE token = ?", (token,))

    def get(self, row_id: int) -> Row | None:
        with self.db.tx() as tx:
            return tx.one("SELECT * FROM mail_outbox WHERE id = ?", (row_id,))

    def of_conversation(self, conversation_id: str) -> list[Row]:
        with self.db.tx() as tx:
            return tx.all(
                "SELECT id, message_id, kind, to_addr, status, attempts, last_error, created_at, sent_at "
                "FROM mail_outbox WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            )

    def queue(self, conversation_id: str, to_addr: str, kind: str, message_id: int | None = None) -> bool:
        with self.db.tx() as tx:
            return queue_mail(tx, conversation_id, to_addr, kind, message_id)

    def queue_missed(self, older_than: datetime, newer_than: datetime, limit: int = 200) -> int:
        """Agent replies a widget customer with an address has not seen ``older_than`` after they were
        written: one "you have a reply" mail each (never twice)."""
        with self.db.tx() as tx:
            rows = tx.all(
                "SELECT m.id, m.conversation_id, c.contact_email FROM messages m "
                "JOIN conversations c ON c.id = m.conversation_id "
                "WHERE m.role = 'agent' AND m.created_at < ? AND m.created_at > ? AND c.channel = 'widget' "
                "AND c.contact_email IS NOT NULL AND m.id > c.seen_message_id "
                "AND NOT EXISTS (SELECT 1 FROM mail_outbox o WHERE o.message_id = m.id) ORDER BY m.id LIMIT ?",
                (iso(older_than), iso(newer_than), limit),
            )
            return sum(queue_mail(tx, r["conversation_id"], r["contact_email"], "missed", int(r["id"])) for r in rows)


class WebhookRepo(_Outbox):
    """Outgoing webhooks, and their delivery log."""

    table = "webhook_outbox"
    done_status = "delivered"

    def delivered(self, row_id: int, status_code: int, at: datetime) -> None:
        with self.db.tx() as tx:
            self._finish(
                tx, row_id, "status = 'delivered', attempts = attempts + 1, last_status = ?, delivered_at = ?, "
                "last_error = NULL", (status_code, iso(at)),
            )

    def failed(self, row_id: int, error: str, status_code: int | None = None) -> None:
        with self.db.tx() as tx:
            self._finish(
                tx, row_id, "status = 'failed', attempts = attempts + 1, last_error = ?" + self._code(status_code),
                (error[:500], *self._code_param(status_code)),
            )

    def skip_queued(self) -> int:
        """No webhook is configured: queued deliveries are marked skipped (never sent later)."""
        with self.db.tx() as tx:
            return tx.execute("UPDATE webhook_outbox SET status = 'skipped' WHERE status = 'queued'")

    def log(self, limit: int = 100, status: str | None = None) -> list[Row]:
        with self.db.tx() as tx:
            if status:
                return tx.all("SELECT * FROM webhook_outbox WHERE status = ? ORDER BY id DESC LIMIT ?", (status, limit))
            return tx.all("SELECT * FROM webhook_outbox ORDER BY id DESC LIMIT ?", (limit,))


class SlaRepo:
    """Breaches of SLA policies, each recorded (and announced) once."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def breach(self, handoff: Handoff, metric: str, since: str, due_at: str, policy: str) -> bool:
        """Record a breach; True when this call recorded it (then ``sla.breached`` is emitted and its
        webhook queued, in the same transaction)."""
        with self.db.tx() as tx:
            row = tx.one(
                "INSERT INTO sla_breaches (handoff_id, metric, since, due_at, breached_at, policy) "
                "VALUES (?,?,?,?,?,?) ON CONFLICT (handoff_id, metric, since) DO NOTHING RETURNING handoff_id",
                (handoff.id, metric, since, due_at, now_iso(), policy),
            )
            if row is None:
                return False
            tx.emit(Event(EventKind.SLA_BREACHED, handoff.conversation_id, handoff.id))
            queue_webhook(
                tx,
                EventKind.SLA_BREACHED,
                {
                    "metric": metric,
                    "policy": policy,
                    "due_at": due_at,
                    "handoff": handoff_payload(handoff, channel_of(tx, handoff.conversation_id)),
                },
            )
        return True

    def of_handoffs(self, handoff_ids: list[int]) -> dict[int, list[Row]]:
        if not handoff_ids:
            return {}
        marks = placeholders(len(handoff_ids))
        with self.db.tx() as tx:
            rows = tx.all(
                f"SELECT * FROM sla_breaches WHERE handoff_id IN ({marks}) ORDER BY breached_at", handoff_ids
            )
        out: dict[int, list[Row]] = {}
        for r in rows:
            out.setdefault(int(r["handoff_id"]), []).append(r)
        return out
