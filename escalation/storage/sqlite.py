"""The embedded backend: one SQLite file under the data directory, through ``sqlite-utils``.

WAL journal; one connection shared by the service's threads and serialised by a lock, every write
in a ``BEGIN IMMEDIATE`` transaction; schema by ``sqlite-utils`` ``Migrations``
(:mod:`escalation.storage.sqlite_migrations`). Events go to the in-process bus after commit.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlite_utils import Database as SqliteUtilsDatabase

from escalation.events import Event, LocalBus
from escalation.storage import sqlite_migrations
from escalation.storage.database import Row
from escalation.storage.database import like_pattern as _like


class _SqliteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.events: list[Event] = []

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.conn.execute(sql, tuple(params)).rowcount

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        cur = self.conn.execute(sql, tuple(params))
        row = cur.fetchone()
        return None if row is None else dict(zip([c[0] for c in cur.description], row, strict=True))

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cur = self.conn.execute(sql, tuple(params))
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    def emit(self, event: Event) -> None:
        self.events.append(event)


class SqliteDatabase:
    backend = "sqlite"
    skip_locked = ""  # BEGIN IMMEDIATE already serialises writers

    def text_search(self, query: str) -> tuple[str, list[Any]]:
        if len(query) >= 3:  # the trigram index answers; shorter needles scan with LIKE
            phrase = '"' + query.replace('"', '""') + '"'
            return "m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)", [phrase]
        return "m.text LIKE ? ESCAPE '\\'", [_like(query)]

    def __init__(self, path: Path, bus: LocalBus | None = None, migrate: bool = True) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        self.db = SqliteUtilsDatabase(conn)
        self.path = path
        self.bus = bus or LocalBus()
        self._lock = threading.RLock()
        if migrate:
            self.migrate()

    @contextmanager
    def tx(self) -> Iterator[_SqliteTx]:
        with self._lock:
            conn = self.db.conn
            conn.execute("BEGIN IMMEDIATE")
            tx = _SqliteTx(conn)
            try:
                yield tx
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        for event in tx.events:
            self.bus.publish(event)

    def migrate(self) -> list[str]:
        with self._lock:
            return sqlite_migrations.apply(self.db)

    def pending(self) -> list[str]:
        with self._lock:
            return sqlite_migrations.pending(self.db)

    def close(self) -> None:
        with self._lock:
            self.db.conn.close()
