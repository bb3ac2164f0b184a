"""The one small interface both backends implement: transactions of parameterised SQL.

Repositories (:mod:`escalation.storage.repos`) are written once against it, in the SQL both engines
share (``?`` placeholders, ``RETURNING``, ``ON CONFLICT``, partial unique indexes); each backend
adds what its engine does best (SQLite: one serialised writer, WAL; PostgreSQL: a connection pool,
``FOR UPDATE SKIP LOCKED``, ``LISTEN/NOTIFY`` for events).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from escalation.events import Event, LocalBus

Row = dict[str, Any]


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer version of the desk than this one."""


class Tx(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""
        ...

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...
    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    def emit(self, event: Event) -> None:
        """Publish ``event`` when (and only if) this transaction commits."""
        ...


def placeholders(n: int) -> str:
    """``?, ?, ?`` for an ``IN (...)`` of ``n`` values."""
    return ", ".join("?" * n)


def like_pattern(text: str) -> str:
    """``text`` as a LIKE / ILIKE substring pattern, its wildcards escaped (escape character ``\\``)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class Database(Protocol):
    backend: str  # "sqlite" | "postgresql"
    bus: LocalBus  # where this process's subscribers hear every committed event
    skip_locked: str  # row-locking clause for "take the next free row" queries ("" where writers are serialised)

    def text_search(self, query: str) -> tuple[str, list[Any]]:
        """A ``WHERE`` condition on ``m.text`` (messages aliased ``m``) finding ``query`` as a substring,
        with its parameters: FTS5 on SQLite, a trigram index on PostgreSQL."""
        ...

    def tx(self) -> AbstractContextManager[Tx]: ...
    def migrate(self) -> list[str]:
        """Apply pending migrations; the names applied now. Raises :class:`SchemaTooNew`."""
        ...

    def pending(self) -> list[str]: ...
    def close(self) -> None: ...
