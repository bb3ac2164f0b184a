"""`helpdesk backup` / `helpdesk restore`, for real: a backup taken while a real `helpdesk serve`
keeps storing chat messages, restored into a fresh data directory; and a pg_dump round trip
between two PostgreSQL databases."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from bench.server import running_server
from bot.cli import main
from escalation.models import HandoffReason
from escalation.storage import Storage, open_storage
from knowledge.tickets import Ticket
from tests.support import FAQ

NO_URL: dict[str, str | None] = {"HELPDESK_DATABASE_URL": None}  # the SQLite file of --data-dir
NO_LIMITS = json.dumps({"chat_ip": "0/minute", "chat_conversation": "0/minute", "conversation_ip": "0/minute"})


@pytest.mark.parametrize("command", [["backup"], ["restore"]])
def test_help_has_an_example(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0 and "Example:" in result.output


@dataclass(frozen=True)
class Ack:
    text: str
    conversation_id: str
    customer_message_id: int
    bot_message_id: int | None
    sent: float  # monotonic: request sent
    acked: float  # monotonic: 200 received


class Poster(threading.Thread):
    """Keeps asking the desk (a new conversation every 10 messages) until stopped; records every 200."""

    def __init__(self, base: str, tag: str) -> None:
        super().__init__(name=f"poster-{tag}", daemon=True)
        self.base = base
        self.tag = tag
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acks: list[Ack] = []
        self.sent: list[tuple[str, float]] = []  # every request: its text and when it was sent
        self.failures: list[str] = []

    def snapshot(self) -> list[Ack]:
        with self.lock:
            return list(self.acks)

    def run(self) -> None:
        cid: str | None = None
        headers: dict[str, str] = {}  # the conversation's credential, once it has one
        with httpx.Client(base_url=self.base, timeout=30) as c:
            i = 0
            while not self.stop.is_set() and len(self.failures) < 5:
                text = f"How do I issue a credit note? (backup probe {self.tag}{i})"
                sent = time.monotonic()
                with self.lock:
                    self.sent.append((text, sent))
                try:
                    r = c.post("/api/chat", json={"message": text, "conversation_id": cid}, headers=headers)
                except httpx.HTTPError as exc:
                    self.failures.append(f"{text}: {exc!r}")
                    i += 1
                    continue
                if r.status_code == 200:
                    body = r.json()
                    ack = Ack(text, body["conversation_id"], body["customer_message_id"], body["message_id"], sent,
                              time.monotonic())
                    with self.lock:
                        self.acks.append(ack)
                    if i % 10 == 9:
                        cid, headers = None, {}
                    else:
                        cid = body["conversation_id"]
                        if body.get("conversation_token"):
                            headers = {"X-Conversation-Token": body["conversation_token"]}
                elif r.status_code == 429:  # rate limited all the same: back off, it is not a failure
                    self.stop.wait(min(float(r.headers.get("Retry-After", "1")), 5))
                else:
                    self.failures.append(f"{text}: {r.status_code} {r.text[:200]}")
                i += 1


def acks_of(posters: list[Poster]) -> list[Ack]:
    return [a for p in posters for a in p.snapshot()]


def failures_of(posters: list[Poster]) -> list[str]:
    return [f for p in posters for f in p.failures]


def wait_for(what: str, ok, posters: list[Poster], timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not ok():
        assert not failures_of(posters), failures_of(posters)[:5]
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(0.05)


def all_messages(storage: Storage) -> list[tuple[int, str, str, str]]:
    with storage.db.tx() as tx:
        rows = tx.all("SELECT id, conversation_id, role, text FROM messages ORDER BY id")
    return [(int(r["id"]), r["conversation_id"], r["role"], r["text"]) for r in rows]


def test_sqlite_backup_while_serving_restores_every_acknowledged_message(tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "backups" / "desk.sqlite"
    with running_server(data_dir, FAQ, HELPDESK_RATE_LIMITS=NO_LIMITS) as base:
        posters = [Poster(base, tag) for tag in "abc"]  # three customers writing at once
        for p in posters:
            p.start()
        try:
            wait_for("30 acknowledged messages", lambda: len(acks_of(posters)) >= 30, posters)
            before = acks_of(posters)  # every one of these got its 200 before the backup started
            started = time.monotonic()
            result = CliRunner().invoke(main, ["backup", "--out", str(out), "--data-dir", str(data_dir)], env=NO_URL)
            finished = time.monotonic()
            assert result.exit_code == 0, result.output
            # the desk keeps storing after the backup, as during it
            wait_for(
                "10 messages sent after the backup",
                lambda: sum(a.sent > finished for a in acks_of(posters)) >= 10,
                posters,
            )
        finally:
            for p in posters:
                p.stop.set()
            for p in posters:
                p.join(60)
        assert not any(p.is_alive() for p in posters)
    assert not failures_of(posters), failures_of(posters)[:5]
    acks = acks_of(posters)
    during = [a for a in acks if started < a.acked and a.sent < finished]
    after = [a for a in acks if a.sent > finished]
    assert "integrity ok" in result.output and f"wrote {out}" in result.output
    size = out.stat().st_size
    print(
        f"\nbackup of a live desk: {size:,} bytes in {finished - started:.3f} s (CLI); {len(before)} messages "
        f"acknowledged before it, {len(during)} while it ran, {len(after)} after; {result.output.strip()}"
    )

    # the file is a self-contained, sound SQLite database (no -wal beside it needed)
    assert not out.with_name(out.name + "-wal").exists()
    with sqlite3.connect(f"{out.as_uri()}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()

    fresh = tmp_path / "restored"
    restored = CliRunner().invoke(main, ["restore", str(out), "--data-dir", str(fresh)], env=NO_URL)
    assert restored.exit_code == 0, restored.output
    assert "integrity ok" in restored.output and "schema up to date" in restored.output
    again = CliRunner().invoke(main, ["restore", str(out), "--data-dir", str(fresh)], env=NO_URL)
    assert again.exit_code == 1 and "--force" in again.output and "Traceback" not in again.output

    storage = open_storage(None, fresh, listen=False)
    try:
        backed_up = all_messages(storage)
        by_text: dict[str, list[tuple[int, str, str, str]]] = {}
        for m in backed_up:
            if m[2] == "customer":
                by_text.setdefault(m[3], []).append(m)
        for a in before:  # acknowledged before the backup: there, exactly once, under the id the API gave
            assert [m[0] for m in by_text.get(a.text, [])] == [a.customer_message_id], a
            stored = storage.conversations.get_message(a.customer_message_id)
            assert (stored.conversation_id, stored.role, stored.text) == (a.conversation_id, "customer", a.text)
            if a.bot_message_id is not None:
                assert storage.conversations.get_message(a.bot_message_id).role == "bot"
        for a in after:  # sent once the backup was written: cannot be in it
            assert a.text not in by_text, a
    finally:
        storage.close()
    assert len(set(m[0] for m in backed_up)) == len(backed_up)

    # one snapshot: the backup is exactly the live history up to its last message, nothing torn
    live = open_storage(None, data_dir, listen=False)
    try:
        history = all_messages(live)
    finally:
        live.close()
    last = backed_up[-1][0]
    assert backed_up == [m for m in history if m[0] <= last]
    assert len(history) > len(backed_up)
    with sqlite3.connect(f"{(fresh / 'helpdesk.sqlite').as_uri()}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()
    print(
        f"restored into a fresh data dir: {len(backed_up)} messages; all {len(before)} acknowledged before the "
        f"backup found exactly once; none of the {len(after)} sent after it; {restored.output.strip()}"
    )


def test_sqlite_restore_refuses_what_is_not_a_backup(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database" * 100)
    result = CliRunner().invoke(main, ["restore", str(junk), "--data-dir", str(tmp_path / "d")], env=NO_URL)
    assert result.exit_code == 1 and "not a SQLite backup" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "d" / "helpdesk.sqlite").exists()
    nothing = CliRunner().invoke(main, ["backup", "--data-dir", str(tmp_path / "empty")], env=NO_URL)
    assert nothing.exit_code == 1 and "no database at" in nothing.output


def fill(storage: Storage) -> dict[str, object]:
    """A few conversations, messages, handoffs (one claimed and answered) and tickets."""
    cids = []
    for n in range(5):
        conv = storage.conversations.create("en" if n % 2 else "zh")
        for k in range(3):
            storage.conversations.add_message(conv.id, "customer", f"question {k} of conversation {n}")
            storage.conversations.add_message(conv.id, "bot", f"answer {k}", meta={"kind": "answer", "n": k})
        cids.append(conv.id)
    hid_open, _ = storage.handoffs.open(cids[0], HandoffReason.CUSTOMER_REQUEST, "zh", "人工", [])
    hid_claimed, _ = storage.handoffs.open(cids[1], HandoffReason.LOW_CONFIDENCE, "en", "refund?", [{"id": "x"}])
    storage.handoffs.claim(hid_claimed.id, "alice")
    storage.handoffs.reply(hid_claimed.id, "alice", "Hi, Alice here.")
    storage.tickets.add_many(
        Ticket(f"T-{n}", f"ticket question {n}", f"ticket answer {n}", "en", "2026-01-01T00:00:00Z") for n in range(4)
    )
    return {"conversations": cids, "handoffs": [hid_open.id, hid_claimed.id]}


def snapshot(storage: Storage, made: dict[str, object]) -> dict[str, object]:
    cids: list[str] = made["conversations"]  # type: ignore[assignment]
    hids: list[int] = made["handoffs"]  # type: ignore[assignment]
    return {
        "conversations": [storage.conversations.get(c) for c in cids],
        "messages": {c: storage.conversations.messages(c) for c in cids},
        "handoffs": [storage.handoffs.get(h) for h in hids],
        "tickets": storage.tickets.all(),
    }


def counts(storage: Storage) -> dict[str, int]:
    with storage.db.tx() as tx:
        return {
            t: int(tx.one(f"SELECT COUNT(*) AS n FROM {t}")["n"])  # type: ignore[index]
            for t in ("conversations", "messages", "handoffs", "tickets")
        }


def test_postgresql_backup_and_restore_into_another_database(
    tmp_path: Path, postgres_server: str, postgres_url: str
) -> None:
    from tests.postgres import new_database

    other = new_database(postgres_server)
    with_password = postgres_url.replace("postgres@", "postgres:not-to-be-shown@", 1)  # trust auth ignores it
    source = open_storage(postgres_url, tmp_path, listen=False)
    try:
        made = fill(source)
        expected, expected_counts = snapshot(source, made), counts(source)
    finally:
        source.close()

    out = tmp_path / "desk.pgdump"
    result = CliRunner().invoke(main, ["backup", "--out", str(out)], env={"HELPDESK_DATABASE_URL": with_password})
    assert result.exit_code == 0, result.output
    assert "not-to-be-shown" not in result.output
    assert _counts_in(result.output) == expected_counts
    assert out.stat().st_size > 0
    print(f"\npg_dump backup: {result.output.strip()}")

    source = open_storage(postgres_url, tmp_path, listen=False)
    try:  # the source moves on after the backup
        later = source.conversations.add_message(made["conversations"][0], "customer", "after the backup")  # type: ignore[index]
    finally:
        source.close()

    restored = CliRunner().invoke(main, ["restore", str(out)], env={"HELPDESK_DATABASE_URL": other})
    assert restored.exit_code == 0, restored.output
    assert _counts_in(restored.output) == expected_counts and "schema up to date" in restored.output
    target = open_storage(other, tmp_path, listen=False)
    try:
        assert counts(target) == expected_counts
        assert snapshot(target, made) == expected
        # sequences came along: new rows get fresh ids, not ones already used
        new = target.conversations.add_message(made["conversations"][2], "customer", "new after restore")  # type: ignore[index]
        assert new.id > max(m.id for ms in expected["messages"].values() for m in ms)  # type: ignore[attr-defined]
    finally:
        target.close()

    # a database that has tables is not replaced without --force, and is left as it was
    refused = CliRunner().invoke(main, ["restore", str(out)], env={"HELPDESK_DATABASE_URL": with_password})
    assert refused.exit_code == 1 and "--force" in refused.output and "Traceback" not in refused.output
    assert "not-to-be-shown" not in refused.output
    source = open_storage(postgres_url, tmp_path, listen=False)
    try:
        assert source.conversations.get_message(later.id).text == "after the backup"
    finally:
        source.close()
    forced = CliRunner().invoke(main, ["restore", str(out), "--force"], env={"HELPDESK_DATABASE_URL": postgres_url})
    assert forced.exit_code == 0, forced.output
    source = open_storage(postgres_url, tmp_path, listen=False)
    try:  # back to the backup: what came after it is gone
        assert counts(source) == expected_counts and snapshot(source, made) == expected
    finally:
        source.close()

    not_a_dump = tmp_path / "junk.pgdump"
    not_a_dump.write_bytes(b"not a pg_dump archive" * 100)
    bad = CliRunner().invoke(main, ["restore", str(not_a_dump), "--force"], env={"HELPDESK_DATABASE_URL": other})
    assert bad.exit_code == 1 and "as a pg_dump archive failed" in bad.output and "Traceback" not in bad.output
    target = open_storage(other, tmp_path, listen=False)
    try:  # checked before anything was dropped
        assert counts(target)["messages"] == expected_counts["messages"] + 1
    finally:
        target.close()


def _counts_in(output: str) -> dict[str, int]:
    """The counts a `helpdesk backup` / `restore` line ends with: '...: 5 conversations, 31 messages, ...'."""
    tail = output.strip().rsplit(": ", 1)[1]
    return {name: int(n) for n, name in (part.split(" ") for part in tail.split(", "))}
