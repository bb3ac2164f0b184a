"""Schema of the embedded SQLite database, as named, append-only ``sqlite-utils`` migrations.

The PostgreSQL schema (:mod:`escalation.storage.postgres_migrations`) is the same, table for table.
"""

from __future__ import annotations

from sqlite_utils import Database, Migrations

from escalation.storage.database import SchemaTooNew

migrations = Migrations("invoice-helpdesk")


# shared with PostgreSQL's migration 2: the same statements run on both engines
M005 = [
    "ALTER TABLE conversations ADD COLUMN customer_id TEXT",
    "ALTER TABLE conversations ADD COLUMN customer_profile TEXT NOT NULL DEFAULT '{}'",
    "CREATE INDEX conversations_customer ON conversations (customer_id, updated_at)",
    "ALTER TABLE conversations ADD COLUMN masked_at TEXT",  # retention: personal data masked at
    "ALTER TABLE messages ADD COLUMN client_id TEXT",
    "CREATE UNIQUE INDEX messages_client_id ON messages (client_id) WHERE client_id IS NOT NULL",
    # accounts made before roles existed could do everything: they stay admins
    "ALTER TABLE agents ADD COLUMN role TEXT NOT NULL DEFAULT 'agent'",
    "UPDATE agents SET role = 'admin'",
    "ALTER TABLE api_tokens ADD COLUMN last_used_at TEXT",
    "CREATE INDEX sessions_expires_at ON sessions (expires_at)",
    "CREATE TABLE rate_limits (bucket TEXT NOT NULL, window_no BIGINT NOT NULL, hits BIGINT NOT NULL, "
    "expires BIGINT NOT NULL, PRIMARY KEY (bucket, window_no))",
    "CREATE INDEX rate_limits_expires ON rate_limits (expires)",
    "CREATE TABLE desk_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL, created_at TEXT NOT NULL)",
]

# shared with PostgreSQL's migration 4; {id} is each engine's auto-increment key, {blob} its bytes type
M007 = [
    "ALTER TABLE conversations ADD COLUMN channel TEXT NOT NULL DEFAULT 'widget'",
    "ALTER TABLE conversations ADD COLUMN contact_email TEXT",
    # the newest message the customer's widget has shown them (a later agent reply may be emailed)
    "ALTER TABLE conversations ADD COLUMN seen_message_id BIGINT NOT NULL DEFAULT 0",
    # email conversations: subject and the Message-IDs of the thread, for In-Reply-To / References
    "ALTER TABLE conversations ADD COLUMN mail_thread TEXT NOT NULL DEFAULT '{{}}'",
    "CREATE INDEX messages_role_created ON messages (role, created_at)",
    # outgoing mail, written in the transaction of the message it carries, sent (and retried) later
    "CREATE TABLE mail_outbox ({id}, conversation_id TEXT NOT NULL REFERENCES conversations (id), "
    "message_id BIGINT REFERENCES messages (id), kind TEXT NOT NULL, to_addr TEXT NOT NULL, "
    "token TEXT NOT NULL UNIQUE, status TEXT NOT NULL DEFAULT 'queued', attempts INTEGER NOT NULL DEFAULT 0, "
    "next_attempt_at TEXT NOT NULL, lease_until TEXT, last_error TEXT, created_at TEXT NOT NULL, sent_at TEXT)",
    "CREATE UNIQUE INDEX mail_outbox_message_kind ON mail_outbox (message_id, kind) WHERE message_id IS NOT NULL",
    "CREATE INDEX mail_outbox_due ON mail_outbox (status, next_attempt_at)",
    "CREATE INDEX mail_outbox_conversation ON mail_outbox (conversation_id)",
    "CREATE TABLE attachments ({id}, message_id BIGINT NOT NULL REFERENCES messages (id), "
    "filename TEXT NOT NULL, content_type TEXT NOT NULL, size BIGINT NOT NULL, data {blob} NOT NULL)",
    "CREATE INDEX attachments_message ON attachments (message_id)",
    # one row per breach: the key makes "fires once" hold across replicas
    "CREATE TABLE sla_breaches (handoff_id BIGINT NOT NULL REFERENCES handoffs (id), metric TEXT NOT NULL, "
    "since TEXT NOT NULL, due_at TEXT NOT NULL, breached_at TEXT NOT NULL, policy TEXT NOT NULL, "
    "PRIMARY KEY (handoff_id, metric, since))",
    # outgoing webhooks, written in the transaction of their event; the rows are the delivery log
    "CREATE TABLE webhook_outbox ({id}, event TEXT NOT NULL, payload TEXT NOT NULL, "
    "status TEXT NOT NULL DEFAULT 'queued', attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT NOT NULL, "
    "lease_until TEXT, last_status INTEGER, last_error TEXT, created_at TEXT NOT NULL, delivered_at TEXT)",
    "CREATE INDEX webhook_outbox_due ON webhook_outbox (status, next_attempt_at)",
]


# shared with PostgreSQL's migration 5: agents' internal notes, a table of their own (never a message,
# so no customer route, stream or mail can carry one)
M008 = [
    "CREATE TABLE notes ({id}, handoff_id BIGINT NOT NULL REFERENCES handoffs (id), "
    "conversation_id TEXT NOT NULL REFERENCES conversations (id), author TEXT NOT NULL, text TEXT NOT NULL, "
    "created_at TEXT NOT NULL)",
    "CREATE INDEX notes_conversation ON notes (conversation_id, id)",
]

# shared with PostgreSQL's migration 6: canned replies, one row per language of a reply
M009 = [
    "CREATE TABLE canned_replies ({id}, key TEXT NOT NULL, lang TEXT NOT NULL, title TEXT NOT NULL, "
    "body TEXT NOT NULL, created_by TEXT NOT NULL, updated_at TEXT NOT NULL, UNIQUE (key, lang))",
]


# shared with PostgreSQL's migration 7: what the outcome metrics read, as indexes (the answers' index is
# on the JSON of each bot message's meta: {kind} and {entry} are each engine's lookup of its kind and
# of the FAQ entry it answered from, the expressions the metrics queries use so the planner picks it)
M010 = [
    "CREATE INDEX conversations_created ON conversations (created_at, lang, channel, id)",
    "CREATE INDEX messages_answers ON messages (conversation_id, created_at, {entry}, feedback) "
    "WHERE role = 'bot' AND {kind} = 'answer'",
    "CREATE INDEX messages_feedback ON messages (conversation_id, feedback) WHERE feedback IS NOT NULL",
    "CREATE INDEX handoffs_first ON handoffs (conversation_id, created_at, reason)",
    "CREATE INDEX handoffs_created ON handoffs (created_at, conversation_id)",
    "CREATE INDEX handoffs_reason ON handoffs (reason, conversation_id)",
]

# shared with PostgreSQL's migration 8: the content-gap loop, and the claim on answering a message. Drafts (agents' proposals and the ones built
# from a cluster of unanswered questions) get a review state; each publication keeps the cluster's
# coverage before and after, so an editor sees what an entry bought.
M011 = [
    "ALTER TABLE faq_drafts ADD COLUMN status TEXT NOT NULL DEFAULT 'open'",
    "ALTER TABLE faq_drafts ADD COLUMN entry_id TEXT",
    "ALTER TABLE faq_drafts ADD COLUMN updated_by TEXT",
    "ALTER TABLE faq_drafts ADD COLUMN updated_at TEXT",
    "CREATE TABLE faq_publications ({id}, entry_id TEXT NOT NULL, langs TEXT NOT NULL, missing_lang TEXT, "
    "files TEXT NOT NULL, cluster_key TEXT, draft_id BIGINT, questions INTEGER NOT NULL, "
    "covered_before INTEGER NOT NULL, covered_after INTEGER NOT NULL, taken_from_others INTEGER NOT NULL, "
    "published_by TEXT NOT NULL, published_at TEXT NOT NULL)",
    "CREATE INDEX faq_publications_entry ON faq_publications (entry_id)",
    # a customer message being answered, and since when: one replica answers it, a retry racing the
    # original on another replica waits for that answer instead of giving a second one
    "ALTER TABLE messages ADD COLUMN answering_since TEXT",
]

# shared with PostgreSQL's migration 10: suspected incidents (many customers asking the same unanswered
# thing at once), the conversations linked to each, and each incident's timeline. {id} is each engine's
# auto-increment key. ``key``: the detector's name for the incident (opening it twice is one incident).
M013 = [
    "CREATE TABLE incidents ({id}, key TEXT NOT NULL UNIQUE, status TEXT NOT NULL, title TEXT NOT NULL, "
    "summary TEXT NOT NULL DEFAULT '', first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, "
    "questions INTEGER NOT NULL DEFAULT 0, conversations INTEGER NOT NULL DEFAULT 0, "
    "languages TEXT NOT NULL DEFAULT '[]', channels TEXT NOT NULL DEFAULT '[]', note_en TEXT, note_zh TEXT, "
    "detection TEXT NOT NULL DEFAULT '{{}}', created_at TEXT NOT NULL, updated_at TEXT NOT NULL, updated_by TEXT)",
    "CREATE INDEX incidents_status ON incidents (status, last_seen)",
    "CREATE TABLE incident_links (incident_id BIGINT NOT NULL REFERENCES incidents (id), "
    "conversation_id TEXT NOT NULL REFERENCES conversations (id), handoff_id BIGINT, lang TEXT NOT NULL, "
    "channel TEXT NOT NULL, question TEXT NOT NULL, asked_at TEXT NOT NULL, linked_at TEXT NOT NULL, "
    "notified_at TEXT, PRIMARY KEY (incident_id, conversation_id))",
    "CREATE INDEX incident_links_conversation ON incident_links (conversation_id)",
    "CREATE TABLE incident_events ({id}, incident_id BIGINT NOT NULL REFERENCES incidents (id), "
    "at TEXT NOT NULL, kind TEXT NOT NULL, actor TEXT, detail TEXT NOT NULL DEFAULT '{{}}')",
    "CREATE INDEX incident_events_incident ON incident_events (incident_id, id)",
]


# shared with PostgreSQL's migration 11: what customers are told when an incident is resolved
M014 = [
    "ALTER TABLE incidents ADD COLUMN resolution_en TEXT",
    "ALTER TABLE incidents ADD COLUMN resolution_zh TEXT",
]


def m013_statements(id_column: str) -> list[str]:
    return [s.format(id=id_column) for s in M013]


# per engine: a message's meta.kind and the id of the first of meta.sources, on a table alias ({t} "m.")
META_JSON = {
    "sqlite": {"kind": "json_extract({t}meta, '$.kind')", "entry": "json_extract({t}meta, '$.sources[0].id')"},
    "postgresql": {"kind": "({t}meta::jsonb ->> 'kind')", "entry": "({t}meta::jsonb -> 'sources' -> 0 ->> 'id')"},
}


# shared with PostgreSQL's migration 9: what the outcome metrics need of a conversation and of each bot
# answer, stored narrow and written with the message, the handoff and the feedback they come from
# (repos.py keeps them in step), so the metrics never read a message's ~1 KB row nor parse its JSON
# (SQLite 3.40 does not use the JSON-expression index of M010 as covering). Per bot answer, a row of
# ``answers``; per conversation, its first answer, its first handoff and that one's reason, and the
# thumbs up / down of its messages, as columns covered by one index in the window's order. An answer's
# row carries its conversation's start (``started_at``, which never changes), so the per-entry table of
# a window is one range of one index; the handoffs' times are covered by one index too. {key} is
# each engine's integer key column, {kind} and {entry} as in M010. The backfill is METRICS_ROWS over
# every conversation; repos.MetricsRepo.refresh runs it for one.
M012 = [
    "CREATE TABLE answers (message_id {key} REFERENCES messages (id), "
    "conversation_id TEXT NOT NULL REFERENCES conversations (id), created_at TEXT NOT NULL, "
    "started_at TEXT NOT NULL, entry_id TEXT, feedback TEXT)",
    "ALTER TABLE conversations ADD COLUMN first_answer_at TEXT",
    "ALTER TABLE conversations ADD COLUMN first_handoff_at TEXT",
    "ALTER TABLE conversations ADD COLUMN first_reason TEXT",
    "ALTER TABLE conversations ADD COLUMN feedback_up INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE conversations ADD COLUMN feedback_down INTEGER NOT NULL DEFAULT 0",
]
M012_ANSWERS_INDEX = "CREATE INDEX answers_conversation ON answers (conversation_id, created_at, entry_id, feedback)"
M012_INDEXES = [
    "DROP INDEX conversations_created",
    "DROP INDEX messages_answers",  # the answers table replaces it
    "CREATE INDEX answers_started ON answers (started_at, entry_id, feedback)",
    "DROP INDEX handoffs_created",  # the same, covering what MetricsRepo.handoff_times reads
    "CREATE INDEX handoffs_times ON handoffs (created_at, conversation_id, lang, first_reply_at, resolved_at)",
    "CREATE INDEX conversations_metrics ON conversations (created_at, lang, channel, id, first_answer_at, "
    "first_handoff_at, first_reason, feedback_up, feedback_down)",
]

# a conversation's metrics rows recomputed from its messages and handoffs; {where} narrows the messages
# (``AND m.conversation_id = ?``) and the conversations (``WHERE id = ?``), or is empty for all of them
METRICS_ROWS = [
    "INSERT INTO answers (message_id, conversation_id, created_at, started_at, entry_id, feedback) "
    "SELECT m.id, m.conversation_id, m.created_at, c.created_at, {entry}, m.feedback FROM messages m "
    "JOIN conversations c ON c.id = m.conversation_id WHERE m.role = 'bot' AND {kind} = 'answer'{messages}",
    "UPDATE conversations SET "
    "first_answer_at = (SELECT MIN(a.created_at) FROM answers a WHERE a.conversation_id = conversations.id), "
    "first_handoff_at = (SELECT MIN(h.created_at) FROM handoffs h WHERE h.conversation_id = conversations.id), "
    "first_reason = (SELECT h.reason FROM handoffs h WHERE h.conversation_id = conversations.id "
    " ORDER BY h.created_at, h.id LIMIT 1), "
    "feedback_up = (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = conversations.id "
    " AND m.feedback IS NOT NULL AND m.feedback = 'yes'), "
    "feedback_down = (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = conversations.id "
    " AND m.feedback IS NOT NULL AND m.feedback IN ('no', 'wrong')){conversations}",
]
FEEDBACK_COUNTS = (
    "UPDATE conversations SET "
    "feedback_up = (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = conversations.id "
    " AND m.feedback IS NOT NULL AND m.feedback = 'yes'), "
    "feedback_down = (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = conversations.id "
    " AND m.feedback IS NOT NULL AND m.feedback IN ('no', 'wrong')) WHERE id = ?"
)


def meta_json(backend: str, alias: str = "") -> dict[str, str]:
    """``{"kind": ..., "entry": ...}``: the SQL expressions of a message's kind and answered entry."""
    t = f"{alias}." if alias else ""
    return {k: v.format(t=t) for k, v in META_JSON[backend].items()}


def m010_statements(backend: str) -> list[str]:
    return [s.format(**meta_json(backend)) for s in M010]


def m011_statements(id_column: str) -> list[str]:
    return [s.format(id=id_column) for s in M011]


def metrics_rows(backend: str, one: bool = False) -> list[str]:
    """METRICS_ROWS for every conversation, or (``one``) for the one whose id is the statement's parameter."""
    return [
        s.format(
            messages=" AND m.conversation_id = ?" if one else "",
            conversations=" WHERE id = ?" if one else "",
            **meta_json(backend, "m"),
        )
        for s in METRICS_ROWS
    ]


def m012_statements(backend: str, key: str) -> list[str]:
    """The narrow metrics rows: tables and columns, their backfill from every stored conversation (the
    answers first, indexed before the conversations' firsts are read from them), the metrics index (built
    once, after the backfill)."""
    answers, conversations = metrics_rows(backend)
    return [s.format(key=key) for s in M012] + [answers, M012_ANSWERS_INDEX, conversations, *M012_INDEXES]


def m007_statements(id_column: str, blob: str) -> list[str]:
    return [s.format(id=id_column, blob=blob) for s in M007]


def m008_statements(id_column: str) -> list[str]:
    return [s.format(id=id_column) for s in M008]


def m009_statements(id_column: str) -> list[str]:
    return [s.format(id=id_column) for s in M009]


@migrations()
def m001_conversations_messages_handoffs(db: Database) -> None:
    db["conversations"].create(  # type: ignore[union-attr]
        {
            "id": str,
            "lang": str,
            "status": str,  # dropped by m004: derived from the open handoff
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


@migrations()
def m004_replicas(db: Database) -> None:
    """Invariants in the database; everything a replica needs (tickets, API tokens) in it."""
    conn = db.conn
    # a conversation has at most one handoff that is not resolved: close older duplicates first
    conn.execute(
        "UPDATE handoffs SET status = 'resolved', resolved_at = created_at, "
        "resolution_answer = '(closed by migration: another handoff of this conversation was open)' "
        "WHERE status != 'resolved' AND id NOT IN "
        "(SELECT MAX(id) FROM handoffs WHERE status != 'resolved' GROUP BY conversation_id)"
    )
    conn.execute(
        "CREATE UNIQUE INDEX handoffs_one_open ON handoffs (conversation_id) WHERE status != 'resolved'"
    )
    # the conversation's status is its open handoff's: stored once, on the handoff
    conn.execute("ALTER TABLE conversations DROP COLUMN status")
    conn.execute(
        "CREATE TABLE tickets (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, "
        "question TEXT NOT NULL, answer TEXT NOT NULL, lang TEXT NOT NULL, faq_id TEXT, "
        "resolved_at TEXT NOT NULL, handoff_id INTEGER REFERENCES handoffs (id))"
    )
    conn.execute(
        "CREATE TABLE api_tokens (id INTEGER PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, "
        "username TEXT NOT NULL REFERENCES agents (username), label TEXT NOT NULL, created_at TEXT NOT NULL, "
        "revoked_at TEXT)"
    )


@migrations()
def m005_identity_limits_idempotency(db: Database) -> None:
    """Customers' verified ids, client message ids (retries stored once), roles, limits, desk secrets."""
    for statement in M005:
        db.conn.execute(statement)


@migrations()
def m006_message_search(db: Database) -> None:
    """Full-text search over messages: FTS5 with the trigram tokenizer (substrings, so Chinese without
    word boundaries is found as well as English), kept in step by triggers."""
    conn = db.conn
    conn.execute(
        "CREATE VIRTUAL TABLE messages_fts USING fts5(text, content='messages', content_rowid='id', "
        "tokenize='trigram')"
    )
    conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')")
    conn.execute(
        "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN "
        "INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text); END"
    )
    conn.execute(
        "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN "
        "INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text); END"
    )
    conn.execute(
        "CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN "
        "INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text); "
        "INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text); END"
    )


@migrations()
def m007_channels_mail_sla_webhooks(db: Database) -> None:
    """Email channel (contact address, thread, outgoing queue, attachments), SLA breaches, webhooks."""
    for statement in m007_statements("id INTEGER PRIMARY KEY", "BLOB"):
        db.conn.execute(statement)


@migrations()
def m008_internal_notes(db: Database) -> None:
    """Agents' internal notes on a handoff."""
    for statement in m008_statements("id INTEGER PRIMARY KEY"):
        db.conn.execute(statement)


@migrations()
def m009_canned_replies(db: Database) -> None:
    """Canned replies in both languages."""
    for statement in m009_statements("id INTEGER PRIMARY KEY"):
        db.conn.execute(statement)


@migrations()
def m010_metrics_indexes(db: Database) -> None:
    """Indexes the outcome metrics aggregate over (measured on 1,000,000 conversations by bench/metrics.py)."""
    for statement in m010_statements("sqlite"):
        db.conn.execute(statement)


@migrations()
def m011_content_gaps(db: Database) -> None:
    """Review state of FAQ drafts and the publications of the content-gap loop."""
    for statement in m011_statements("id INTEGER PRIMARY KEY"):
        db.conn.execute(statement)


@migrations()
def m012_metrics_answers(db: Database) -> None:
    """Narrow rows the outcome metrics read (bot answers, per-conversation firsts and feedback), backfilled
    from the stored messages and handoffs (measured on 1,000,000 conversations by bench/metrics.py)."""
    for statement in m012_statements("sqlite", "INTEGER PRIMARY KEY"):
        db.conn.execute(statement)


@migrations()
def m013_incidents(db: Database) -> None:
    """Suspected incidents, their linked conversations and their timelines."""
    for statement in m013_statements("id INTEGER PRIMARY KEY"):
        db.conn.execute(statement)


@migrations()
def m014_incident_resolutions(db: Database) -> None:
    """The resolution notes of an incident (en, zh)."""
    for statement in M014:
        db.conn.execute(statement)


def pending(db: Database) -> list[str]:
    """Names of the migrations this database still needs; :class:`SchemaTooNew` when it has one this
    code does not know (a newer desk migrated it)."""
    known = {m.name for m in migrations._migrations}
    unknown = [m.name for m in migrations.applied(db) if m.name not in known]
    if unknown:
        raise SchemaTooNew(
            f"the database was migrated by a newer invoice-helpdesk (it has {', '.join(unknown)}); "
            "upgrade this installation before starting it on that database"
        )
    return [m.name for m in migrations.pending(db)]


def apply(db: Database) -> list[str]:
    """Apply pending migrations; return the names applied now."""
    names = pending(db)
    migrations.apply(db)
    return names
