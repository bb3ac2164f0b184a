"""Schema of the helpdesk database, as named, append-only migrations."""

from __future__ import annotations

from sqlite_utils import Database, Migrations

migrations = Migrations("invoice-helpdesk")


@migrations()
def m001_conversations_messages_handoffs(db: Database) -> None:
    db["conversations"].create(  # type: ignore[union-attr]
        {
            "id": str,
            "lang": str,
            "status": str,  # bot | handoff | closed
            "created_at": str,
            "updated_at": str,
            "state": str,  # JSON: pending clarify suggestions, misses in a row
        },
        pk="id",
    )
    db["messages"].create(  # type: ignore[union-attr]
        {
            "id": int,
            "conversation_id": str,
            "role": str,  # customer | bot | agent | system
            "text": str,
            "created_at": str,
            "meta": str,  # JSON: reply kind, confidence, sources, suggestions
            "author": str,
            "feedback": str,  # null | yes | no
        },
        pk="id",
        foreign_keys=[("conversation_id", "conversations", "id")],
    )
    db["messages"].create_index(["conversation_id", "id"])  # type: ignore[union-attr]
    db["handoffs"].create(  # type: ignore[union-attr]
        {
            "id": int,
            "conversation_id": str,
            "status": str,  # open | claimed | resolved
            "reason": str,
            "lang": str,
            "question": str,
            "candidates": str,  # JSON list of {id, title, score, confidence}
            "created_at": str,
            "claimed_by": str,
            "claimed_at": str,
            "first_reply_at": str,
            "resolved_at": str,
            "resolution_answer": str,
            "resolution_faq_id": str,
            "ticket_id": str,
        },
        pk="id",
        foreign_keys=[("conversation_id", "conversations", "id")],
    )
    db["handoffs"].create_index(["status", "created_at"])  # type: ignore[union-attr]
    db["handoffs"].create_index(["conversation_id"])  # type: ignore[union-attr]


@migrations()
def m002_agents_and_drafts(db: Database) -> None:
    db["agents"].create(  # type: ignore[union-attr]
        {"username": str, "password_hash": str, "display_name": str, "created_at": str},
        pk="username",
    )
    db["faq_drafts"].create(  # type: ignore[union-attr]
        {
            "id": int,
            "handoff_id": int,
            "lang": str,
            "title": str,
            "questions": str,
            "answer": str,
            "created_by": str,
            "created_at": str,
        },
        pk="id",
    )


@migrations()
def m003_console_sessions(db: Database) -> None:
    db["sessions"].create(  # type: ignore[union-attr]
        {"token_hash": str, "username": str, "created_at": str, "expires_at": str},
        pk="token_hash",
        foreign_keys=[("username", "agents", "username")],
    )


def apply(db: Database) -> list[str]:
    """Apply pending migrations; return the names applied now."""
    pending = [m.name for m in migrations.pending(db)]
    migrations.apply(db)
    return pending
