"""The replicated backend: PostgreSQL through ``psycopg`` 3 and its connection pool.

Chosen by ``HELPDESK_DATABASE_URL=postgresql://...``. Schema by versioned SQL migrations
(:mod:`escalation.storage.postgres_migrations`), applied under an advisory lock so replicas
starting together do not race. Events: each is sent with ``pg_notify`` inside the transaction that
caused it (PostgreSQL delivers notifications only on commit, in commit order), and a listener
thread per process hands every notification, from any replica, to the process's local bus.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from escalation.events import Event, EventKind, LocalBus
from escalation.storage.database import Row, SchemaTooNew
from escalation.storage.database import like_pattern as _like
from escalation.storage.postgres_migrations import MIGRATIONS

log = logging.getLogger("helpdesk.storage")
CHANNEL = "helpdesk_events"
_MIGRATION_LOCK = 7_270_001  # pg_advisory_xact_lock key of the schema


def _pg(sql: str) -> str:
    """The repositories' ``?`` placeholders in psycopg's style (no ``%`` appears in their SQL)."""
    return sql.replace("?", "%s")


class _PgTx:
    def __init__(self, conn: psycopg.Connection[Row]) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.conn.execute(_pg(sql), tuple(params)).rowcount

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        return self.conn.execute(_pg(sql), tuple(params)).fetchone()

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self.conn.execute(_pg(sql), tuple(params)).fetchall()

    def emit(self, event: Event) -> None:
        self.conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, event.to_json()))


class PostgresDatabase:
    backend = "postgresql"
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def text_search(self, query: str) -> tuple[str, list[Any]]:
        return "m.text ILIKE ?", [_like(query)]

    def __init__(
        self,
        url: str,
        bus: LocalBus | None = None,
        migrate: bool = True,
        min_size: int = 1,
        max_size: int = 16,
        listen: bool = True,
    ) -> None:
        self.url = url
        self.bus = bus or LocalBus()
        self.pool: ConnectionPool[psycopg.Connection[Row]] = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True, "row_factory": dict_row},
            open=False,
            name="helpdesk",
        )
        self.pool.open(wait=True, timeout=30)
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None
        self.listening = threading.Event()
        try:
            if migrate:
                self.migrate()
            if listen:
                self._listener = threading.Thread(target=self._listen, name="pg-listener", daemon=True)
                self._listener.start()
                self.listening.wait(10)
        except BaseException:
            self.pool.close()
            raise

    @contextmanager
    def tx(self) -> Iterator[_PgTx]:
        with self.pool.connection() as conn, conn.transaction():
            yield _PgTx(conn)

    # -- schema ------------------------------------------------------------------------------------

    def _applied(self, conn: psycopg.Connection[Row]) -> dict[int, str]:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        rows = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
        applied = {int(r["version"]): str(r["name"]) for r in rows}
        newest = max(v for v, _, _ in MIGRATIONS)
        if applied and max(applied) > newest:
            raise SchemaTooNew(
                f"the database is at schema version {max(applied)} ({applied[max(applied)]}); this "
                f"invoice-helpdesk knows up to {newest}: upgrade it before starting it on that database"
            )
        return applied

    def pending(self) -> list[str]:
        with self.tx() as tx:
            applied = self._applied(tx.conn)
        return [f"{v:04d}_{name}" for v, name, _ in MIGRATIONS if v not in applied]

    def migrate(self) -> list[str]:
        done: list[str] = []
        with self.tx() as tx:
            tx.conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            applied = self._applied(tx.conn)
            for version, name, sql in MIGRATIONS:
                if version in applied:
                    continue
                tx.conn.execute(sql)  # type: ignore[arg-type]  # our own literal DDL
                tx.conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name)
                )
                done.append(f"{version:04d}_{name}")
        return done

    # -- events ------------------------------------------------------------------------------------

    def _listen(self) -> None:
        """Hand every notification to the local bus; reconnect after a lost connection."""
        backoff = 0.2
        first = True
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    if not first:  # events may have been missed meanwhile: everyone re-reads
                        self.bus.publish(Event(EventKind.KNOWLEDGE_CHANGED))
                    first, backoff = False, 0.2
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            try:
                                event = Event.from_json(note.payload)
                            except (ValueError, KeyError):
                                log.warning("ignoring a malformed event: %r", note.payload[:200])
                                continue
                            self.bus.publish(event)
            except psycopg.Error as exc:
                if self._stop.is_set():
                    return
                log.warning("event listener lost its connection (%s); reconnecting", exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def close(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.join(timeout=5)
        self.pool.close()
