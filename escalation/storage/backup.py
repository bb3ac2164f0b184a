"""Backups of the desk's database, taken while the service runs, and restores of them.

SQLite: SQLite's online backup API copies the live file (WAL included) from a fresh read
connection in one step, so the copy is one consistent snapshot while the server keeps writing;
the copy is a self-contained file (rollback journal, not WAL) that ``PRAGMA integrity_check``
passes. A restore checks the backup the same way, then copies it into the target with the same
API (readers never see half a database), and migrates it to this version's schema.

PostgreSQL: ``pg_dump --format=custom`` of an exported snapshot (the counts reported are read in
that very snapshot) and ``pg_restore --clean --if-exists --no-owner --single-transaction``. The
password is handed to them in ``PGPASSWORD``, never on a command line.
"""

from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from escalation.storage.database import SchemaTooNew

COUNTED = ("conversations", "messages", "handoffs", "tickets")


class BackupError(RuntimeError):
    """A backup or restore that cannot be done; the message says why (and never holds a password)."""


class RestoreRefused(BackupError):
    """The target already holds a database and ``force`` was not given."""


@dataclass
class BackupInfo:
    path: Path
    backend: str  # "sqlite" | "postgresql"
    bytes: int
    counts: dict[str, int]
    seconds: float
    integrity: str = "ok"  # SQLite: PRAGMA integrity_check of the copy; PostgreSQL: pg_dump succeeded


@dataclass
class RestoreInfo:
    source: Path
    target: str  # the SQLite file, or the redacted URL
    backend: str
    counts: dict[str, int]
    seconds: float
    applied: list[str] = field(default_factory=list)  # migrations applied after the restore
    integrity: str = "ok"


def backend_of(url: str | None) -> str:
    """``"sqlite"`` or ``"postgresql"`` for a ``HELPDESK_DATABASE_URL`` (``None``: the SQLite file)."""
    from escalation.storage import redact_url

    if not url or url.startswith("sqlite:///"):
        return "sqlite"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql"
    raise ValueError(
        f"HELPDESK_DATABASE_URL {redact_url(url)!r} is neither sqlite:///<path> nor postgresql://..."
    )


def sqlite_path(url: str | None, data_dir: Path) -> Path:
    """The SQLite file ``open_database`` uses for ``url``."""
    return Path(url.removeprefix("sqlite:///")) if url else data_dir / "helpdesk.sqlite"


def backup(url: str | None, data_dir: Path, out: Path) -> BackupInfo:
    """Write a consistent backup of the live database to ``out`` (which must not exist yet)."""
    if out.exists():
        raise BackupError(f"{out} exists already; choose another file or delete it first")
    if backend_of(url) == "sqlite":
        return _sqlite_backup(sqlite_path(url, data_dir), out)
    assert url is not None
    return _pg_backup(url, out)


def restore(url: str | None, data_dir: Path, src: Path, force: bool = False) -> RestoreInfo:
    """Replace the database with backup ``src``, then migrate it to this version's schema.

    Refused (:class:`RestoreRefused`) when the target already holds a database, unless ``force``."""
    if not src.is_file():
        raise BackupError(f"no backup file {src}")
    started = time.perf_counter()
    if backend_of(url) == "sqlite":
        target = sqlite_path(url, data_dir)
        _sqlite_restore(src, target, force)
        where = str(target)
    else:
        assert url is not None
        from escalation.storage import redact_url

        _pg_restore(url, src, force)
        where = redact_url(url)
    applied = _migrate(url, data_dir)
    counts, integrity = _counts_after_restore(url, data_dir)
    return RestoreInfo(
        src, where, backend_of(url), counts, time.perf_counter() - started, applied, integrity
    )


# -- SQLite ----------------------------------------------------------------------------------------


def _read_only(path: Path) -> sqlite3.Connection:
    """A fresh connection that cannot create or change ``path``."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)


def _integrity(conn: sqlite3.Connection) -> str:
    rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check").fetchall()]
    return "ok" if rows == ["ok"] else "; ".join(rows[:5])


def _sqlite_counts(conn: sqlite3.Connection) -> dict[str, int]:
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return {t: int(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in COUNTED if t in tables}


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sqlite_backup(live: Path, out: Path) -> BackupInfo:
    if not live.is_file():
        raise BackupError(f"no database at {live}: nothing to back up (wrong --data-dir?)")
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    part = out.with_name(out.name + ".part")
    part.unlink(missing_ok=True)
    try:
        src = _read_only(live)
        try:
            dst = sqlite3.connect(part, isolation_level=None)
            try:
                src.backup(dst)  # all pages in one step: one read transaction, one snapshot
                dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
                integrity = _integrity(dst)
                counts = _sqlite_counts(dst)
            finally:
                dst.close()
        finally:
            src.close()
        if integrity != "ok":
            raise BackupError(f"the copy of {live} fails its integrity check: {integrity}")
        _fsync(part)
        os.replace(part, out)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot back up {live}: {exc}") from None
    finally:
        part.unlink(missing_ok=True)
    return BackupInfo(out, "sqlite", out.stat().st_size, counts, time.perf_counter() - started, integrity)


def _sqlite_restore(src: Path, target: Path, force: bool) -> None:
    try:
        check = _read_only(src)
        try:
            integrity = _integrity(check)
            tables = {r[0] for r in check.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            check.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{src} is not a SQLite backup of the desk: {exc}") from None
    if integrity != "ok":
        raise BackupError(f"{src} fails its integrity check ({integrity}); nothing was restored")
    if target.exists() and target.resolve() == src.resolve():
        raise BackupError(f"{src} is the database itself; restore from a backup file")
    if "conversations" not in tables:
        raise BackupError(f"{src} is a SQLite file but not a backup of the desk (no conversations table)")
    if target.exists() and target.stat().st_size > 0 and not force:
        raise RestoreRefused(f"{target} exists already; pass --force to replace it with {src}")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        source = _read_only(src)
        try:
            dst = sqlite3.connect(target, timeout=30, isolation_level=None)
            try:
                source.backup(dst)  # under the target's write lock: other connections see old or new
            finally:
                dst.close()
        finally:
            source.close()
    except sqlite3.Error as exc:
        raise BackupError(f"cannot restore {src} into {target}: {exc}") from None


# -- PostgreSQL ------------------------------------------------------------------------------------


def pg_tool(name: str) -> str:
    """``pg_dump`` / ``pg_restore``: on PATH, else the newest of Debian's /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: [int(x) for x in Path(p).parent.parent.name.split(".") if x.isdigit()],
    )
    if candidates:
        return candidates[-1]
    raise BackupError(
        f"{name} not found on PATH nor in /usr/lib/postgresql/*/bin: install PostgreSQL's client tools "
        f"(apt-get install postgresql-client), at least the server's version"
    )


def _pg_args(url: str) -> tuple[str, dict[str, str]]:
    """A conninfo without the password, and the environment that carries it (``PGPASSWORD``)."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from escalation.storage import redact_url

    try:
        params: dict[str, Any] = conninfo_to_dict(url)
    except ProgrammingError:
        raise BackupError(f"cannot parse the database URL {redact_url(url)!r}") from None
    env = dict(os.environ)
    password = params.pop("password", None)
    if password:
        env["PGPASSWORD"] = str(password)
    return make_conninfo(**params), env


def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    from escalation.storage import redact_url

    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [redact_url(x) for x in (proc.stderr or proc.stdout).strip().splitlines() if x.strip()]
        detail = "; ".join(lines[-3:]) or f"exit status {proc.returncode}"
        raise BackupError(f"{what} failed: {detail}")


def _pg_connect(url: str) -> Any:
    import psycopg

    from escalation.storage import redact_url

    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise BackupError(f"cannot connect to {redact_url(url)}: {str(exc).strip().splitlines()[0]}") from None


def _pg_counts(conn: Any) -> dict[str, int]:
    present = {
        r[0]
        for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
    }
    return {t: int(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in COUNTED if t in present}


def _pg_backup(url: str, out: Path) -> BackupInfo:
    import psycopg

    dump = pg_tool("pg_dump")
    conninfo, env = _pg_args(url)
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    part = out.with_name(out.name + ".part")
    part.unlink(missing_ok=True)
    conn = _pg_connect(url)
    try:
        # the dump and the counts read the same snapshot, exported by this transaction
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        counts = _pg_counts(conn)
        _run(
            [dump, "--format=custom", f"--snapshot={snapshot}", f"--file={part}", f"--dbname={conninfo}"],
            env,
            "pg_dump",
        )
        conn.execute("COMMIT")
        _fsync(part)
        os.replace(part, out)
    except psycopg.Error as exc:
        raise BackupError(f"backup failed: {str(exc).strip().splitlines()[0]}") from None
    finally:
        conn.close()
        part.unlink(missing_ok=True)
    return BackupInfo(out, "postgresql", out.stat().st_size, counts, time.perf_counter() - started)


def _pg_restore(url: str, src: Path, force: bool) -> None:
    from escalation.storage import redact_url

    tool = pg_tool("pg_restore")
    conninfo, env = _pg_args(url)
    _run([tool, "--list", str(src)], env, f"reading {src} as a pg_dump archive")  # before touching the target
    conn = _pg_connect(url)
    try:
        tables = conn.execute(
            "SELECT COUNT(*) FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchone()[0]
    finally:
        conn.close()
    if tables and not force:
        raise RestoreRefused(
            f"{redact_url(url)} already has {tables} tables; pass --force to replace them with {src}"
        )
    _run(
        [
            tool,
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",  # all or nothing: a failed restore leaves the target as it was
            f"--dbname={conninfo}",
            str(src),
        ],
        env,
        "pg_restore",
    )


# -- both ------------------------------------------------------------------------------------------


def _migrate(url: str | None, data_dir: Path) -> list[str]:
    """The restored database brought to this version's schema, the way ``helpdesk migrate`` does."""
    from escalation.storage import open_database

    errors: tuple[type[Exception], ...] = (sqlite3.Error, OSError)
    if backend_of(url) == "postgresql":
        import psycopg

        errors = (*errors, psycopg.Error)
    try:
        db = open_database(url, data_dir, migrate=False, listen=False)
        try:
            return db.migrate()
        finally:
            db.close()
    except SchemaTooNew as exc:
        raise BackupError(f"restored, but the backup comes from a newer invoice-helpdesk: {exc}") from None
    except errors as exc:
        raise BackupError(f"restored, but migrating the restored database failed: {exc}") from None


def _counts_after_restore(url: str | None, data_dir: Path) -> tuple[dict[str, int], str]:
    if backend_of(url) == "sqlite":
        conn = _read_only(sqlite_path(url, data_dir))
        try:
            return _sqlite_counts(conn), _integrity(conn)
        finally:
            conn.close()
    assert url is not None
    conn = _pg_connect(url)
    try:
        return _pg_counts(conn), "ok"
    finally:
        conn.close()
