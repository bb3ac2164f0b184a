"""Storage: repositories per aggregate over SQLite (embedded default) or PostgreSQL (replicas).

``open_storage(url, data_dir)`` picks the backend from ``HELPDESK_DATABASE_URL`` the way txtai picks
its database backends: nothing (or ``sqlite:///path``) is the SQLite file under the data directory;
``postgresql://user:pass@host:port/db`` is PostgreSQL. Nothing outside this package writes SQL.
"""

from __future__ import annotations

from pathlib import Path

from escalation.events import LocalBus
from escalation.storage.database import Database, SchemaTooNew
from escalation.storage.delivery import MailRepo, SlaRepo, WebhookRepo
from escalation.storage.repos import (
    AccountRepo,
    CannedRepo,
    ContentRepo,
    ConversationRepo,
    DraftRepo,
    HandoffRepo,
    IncidentRepo,
    MetricsRepo,
    RateLimitRepo,
    SecretRepo,
    TicketRepo,
)

__all__ = ["Database", "SchemaTooNew", "Storage", "open_database", "open_storage", "redact_url"]


class Storage:
    """The desk's repositories over one database, and the bus its committed events reach."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.bus: LocalBus = db.bus
        self.conversations = ConversationRepo(db)
        self.handoffs = HandoffRepo(db)
        self.tickets = TicketRepo(db)
        self.accounts = AccountRepo(db)
        self.drafts = DraftRepo(db)
        self.rate_limits = RateLimitRepo(db)
        self.secrets = SecretRepo(db)
        self.mail = MailRepo(db)
        self.webhooks = WebhookRepo(db)
        self.sla = SlaRepo(db)
        self.canned = CannedRepo(db)
        self.metrics = MetricsRepo(db)
        self.content = ContentRepo(db)
        self.incidents = IncidentRepo(db)

    @property
    def backend(self) -> str:
        return self.db.backend

    def close(self) -> None:
        self.db.close()


def redact_url(url: str) -> str:
    """``url`` without its password, for logs and /api/health."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}" if ":" in creds else url
    return url


def open_database(url: str | None, data_dir: Path, migrate: bool = True, listen: bool = True) -> Database:
    if not url:
        from escalation.storage.sqlite import SqliteDatabase

        return SqliteDatabase(data_dir / "helpdesk.sqlite", migrate=migrate)
    if url.startswith("sqlite:///"):
        from escalation.storage.sqlite import SqliteDatabase

        return SqliteDatabase(Path(url.removeprefix("sqlite:///")), migrate=migrate)
    if url.startswith(("postgresql://", "postgres://")):
        from escalation.storage.postgres import PostgresDatabase

        return PostgresDatabase(url, migrate=migrate, listen=listen)
    raise ValueError(
        f"HELPDESK_DATABASE_URL {redact_url(url)!r} is neither sqlite:///<path> nor postgresql://..."
    )


def open_storage(url: str | None, data_dir: Path, migrate: bool = True, listen: bool = True) -> Storage:
    return Storage(open_database(url, data_dir, migrate, listen))
