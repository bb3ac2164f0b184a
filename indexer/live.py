"""The live index: knowledge + FAISS store + retriever, rebuilt in the background and swapped whole.

Answering never waits for indexing: a rebuild embeds only changed texts (embedding cache), is
written aside and swapped in one assignment; a broken FAQ file is reported while the previous
knowledge keeps serving. The folders are watched with ``watchfiles``; a change elsewhere (a ticket
resolved on any replica) arrives through :meth:`LiveIndex.knowledge_changed`. Whoever decides with
the index (the bot's calibration) hears of each swap through ``on_swap``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import watchfiles

from indexer.batching import MicroBatcher
from indexer.build import build_and_publish, is_stale, load_current, total_work
from indexer.embedders import Embedder
from indexer.lexical import Terms
from indexer.search import HybridWeights, Retriever, encode_all
from indexer.store import IndexLocation
from knowledge.corpus import Doc, KnowledgeBase, TicketSet, load_knowledge, load_ticket_set
from knowledge.errors import FormatProblem
from knowledge.tickets import Ticket

log = logging.getLogger("helpdesk.index")
WATCH_DEBOUNCE_MS = 150  # file events closer than this are one change (an editor's save is several)


@dataclass(frozen=True)
class IndexSnapshot:
    """One version of the knowledge and its index; replaced whole, never mutated (except learning)."""

    kb: KnowledgeBase
    retriever: Retriever
    loaded_at: float


def folder_fingerprint(folders: Sequence[Path]) -> tuple[tuple[str, int, int], ...]:
    items = []
    for folder in folders:
        if folder.is_dir():
            for p in sorted(folder.rglob("*")):
                if p.is_file() and p.suffix in (".md", ".jsonl"):
                    st = p.stat()
                    items.append((str(p), st.st_mtime_ns, st.st_size))
    return tuple(items)


class TicketSource(Protocol):
    """Resolved tickets kept in the database (every replica reads the same ones)."""

    def all(self) -> list[Ticket]: ...
    def version(self) -> tuple[int, int]: ...


def desk_tickets(ticket_dirs: Sequence[Path], db_tickets: TicketSource | None) -> TicketSet:
    """The shipped ticket files, then the database's resolved tickets (a file's id wins)."""
    found = load_ticket_set(ticket_dirs)
    if db_tickets is None:
        return found
    seen = set(found.by_id)
    extra = [t for t in db_tickets.all() if t.id not in seen]
    return TicketSet(found.tickets + extra, found.problems) if extra else found


def desk_knowledge(faq_dir: Path, ticket_dirs: Sequence[Path], db_tickets: TicketSource | None) -> KnowledgeBase:
    """What a desk answers from: FAQ files, shipped tickets and resolved tickets in the database."""
    return load_knowledge(faq_dir, tickets=desk_tickets(ticket_dirs, db_tickets))


class LiveIndex:
    """The current :class:`IndexSnapshot`, kept up to date with the folders and the database."""

    def __init__(
        self,
        faq_dir: Path,
        ticket_dirs: Sequence[Path],
        index_dir: Path,
        embedders: Sequence[Embedder],
        weights: HybridWeights,
        on_swap: Callable[[IndexSnapshot, IndexSnapshot | None], None] | None = None,
        progress: Callable[[int, int], None] | None = None,
        max_batch: int = 1,
        batch_wait: float = 0.004,
        db_tickets: TicketSource | None = None,
        db_files: Sequence[Path] = (),
    ) -> None:
        """``db_files``: a database file whose writes may be new tickets (an SQLite file other processes
        write to); a change to it wakes the check as a folder change does."""
        self.db_files = list(db_files)
        self.faq_dir = faq_dir
        self.ticket_dirs = list(ticket_dirs)
        self.db_tickets = db_tickets
        self.location = IndexLocation(index_dir)
        self.embedders = list(embedders)
        self.weights = weights  # ranking weights the first retriever starts with
        self.on_swap = on_swap
        self._progress = progress
        self._wake = threading.Event()  # set by the file watcher and by knowledge_changed()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._db_watcher: threading.Thread | None = None
        self._thread: threading.Thread | None = None
        self.lock = threading.Lock()  # held while a new version is built and swapped in
        self.last_error: str | None = None
        self.reloads = 0
        self._terms: tuple[tuple[str, ...], Terms] | None = None
        self._fingerprint = self._fingerprints()
        embedders_ = self.embedders
        self.batcher = (
            MicroBatcher(lambda texts: encode_all(embedders_, texts), max_batch, batch_wait)
            if max_batch > 1
            else None
        )
        self.current = self._load(None)

    # -- loading -----------------------------------------------------------------------------------

    def _terms_for(self, kb: KnowledgeBase) -> Terms:
        key = tuple(sorted(set(kb.key_terms())))
        if self._terms is None or self._terms[0] != key:
            self._terms = (key, Terms(key))
        return self._terms[1]

    def _load(self, previous: IndexSnapshot | None, tickets_changed: bool = True) -> IndexSnapshot:
        """Read knowledge and bring the index up to date.

        At start (no ``previous``) the published index is loaded from disk and rebuilt only if
        stale. On a reload the previous in-memory store is the base: unchanged tickets are not
        read again, their partition is reused, and only changed FAQ texts are embedded.
        """
        reuse = previous.kb.ticket_set if previous is not None and not tickets_changed else None
        kb = load_knowledge(
            self.faq_dir,
            previous=previous.kb if previous else None,
            tickets=reuse if reuse is not None else desk_tickets(self.ticket_dirs, self.db_tickets),
        )
        for p in kb.problems:
            log.warning("knowledge problem: %s", p)
        store = previous.retriever.store if previous else load_current(self.location, self.embedders, kb)
        if is_stale(store, kb):
            total = total_work(kb, self.embedders)
            done = [0]

            def tick(n: int) -> None:
                done[0] += n
                if self._progress:
                    self._progress(done[0], total)

            store = build_and_publish(kb, self.embedders, self.location, tick, previous=store)
        assert store is not None
        encoder = self.batcher.encode if self.batcher is not None else None
        weights = previous.retriever.weights if previous else self.weights
        retriever = Retriever(store, self.embedders, weights, encoder, self._terms_for(kb))
        return IndexSnapshot(kb, retriever, time.time())

    def _fingerprints(self) -> tuple[object, object]:
        db = self.db_tickets.version() if self.db_tickets is not None else None
        return folder_fingerprint([self.faq_dir]), (folder_fingerprint(self.ticket_dirs), db)

    def reload(self, fingerprints: tuple[object, object] | None = None) -> IndexSnapshot:
        """Re-read what changed and swap in the new version; on failure keep the old one.

        ``fingerprints``: the folders' and database's state the caller just read, so it is not read twice.
        """
        with self.lock:
            faq_fp, tickets_fp = fingerprints or self._fingerprints()
            tickets_changed = tickets_fp != self._fingerprint[1]
            self._fingerprint = (faq_fp, tickets_fp)
            previous = self.current
            try:
                snap = self._load(previous, tickets_changed)
            except Exception as exc:  # keep serving the old knowledge, report why
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("knowledge reload failed; the previous knowledge keeps serving")
                return previous
            self.last_error = None
            self.current = snap
            self.reloads += 1
            if self.on_swap is not None:
                self.on_swap(snap, previous)
        return snap

    @property
    def problems(self) -> list[FormatProblem]:
        return self.current.kb.problems

    def similar_tickets(self, question: str, k: int = 5) -> list[tuple[Ticket, float]]:
        """Resolved tickets closest to ``question`` in the current knowledge, with their scores."""
        snap = self.current
        found = []
        for t in snap.retriever.similar_tickets(question, k=k):
            ticket = snap.kb.tickets_by_id.get(t.ticket_id)
            if ticket is not None:
                found.append((ticket, t.score))
        return found

    def learn(self, doc: Doc) -> None:
        """Make a newly linked question answerable at once, without a rebuild."""
        self.current.retriever.add_docs([doc])

    # -- watching ----------------------------------------------------------------------------------

    def knowledge_changed(self) -> None:
        """Something outside the folders changed (a ticket resolved on any replica): reload soon."""
        self._wake.set()

    def start_watching(self, interval: float) -> None:
        """Reload when a watched folder changes (``watchfiles``) or :meth:`knowledge_changed` is called.

        Without a working file watcher (no folder yet, no change notifications) the folders are
        checked every ``interval`` seconds instead; with one, every 30 s as a safety net."""
        if self._thread is not None:
            return
        folders = [p for p in [self.faq_dir, *self.ticket_dirs] if p.is_dir()]

        def watch() -> None:
            try:
                for _ in watchfiles.watch(
                    *folders, stop_event=self._stop, debounce=WATCH_DEBOUNCE_MS, step=20, yield_on_timeout=False
                ):
                    self._wake.set()
            except Exception:  # fall back to the periodic check below
                log.exception("file watcher stopped; checking the folders every %.1f s instead", interval)

        def loop() -> None:
            while not self._stop.is_set():
                watching = self._watcher is not None and self._watcher.is_alive()
                self._wake.wait(30.0 if watching else interval)
                self._wake.clear()
                if self._stop.is_set():
                    return
                try:
                    now = self._fingerprints()
                    if now != self._fingerprint:
                        self.reload(fingerprints=now)
                except Exception:  # the watcher must never die
                    log.exception("watcher error")

        def watch_db() -> None:
            names = {p.name for p in self.db_files} | {p.name + "-wal" for p in self.db_files}
            parents = sorted({p.parent for p in self.db_files if p.parent.is_dir()})
            try:
                for _ in watchfiles.watch(
                    *parents,
                    watch_filter=lambda _change, path: Path(path).name in names,
                    recursive=False,
                    stop_event=self._stop,
                    debounce=WATCH_DEBOUNCE_MS,
                    step=50,
                    yield_on_timeout=False,
                ):
                    self._wake.set()
            except Exception:  # the 30 s re-read still notices
                log.exception("database file watcher stopped")

        if folders:
            self._watcher = threading.Thread(target=watch, name="knowledge-files", daemon=True)
            self._watcher.start()
        if self.db_files:
            self._db_watcher = threading.Thread(target=watch_db, name="database-file", daemon=True)
            self._db_watcher.start()
        self._thread = threading.Thread(target=loop, name="knowledge-watcher", daemon=True)
        self._thread.start()

    @property
    def stopping(self) -> threading.Event:
        return self._stop

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self.batcher is not None:
            self.batcher.close()
            self.batcher = None
        for t in (self._thread, self._watcher, self._db_watcher):
            if t is not None:
                t.join(timeout=5)
        self._thread = None
        self._watcher = None
        self._db_watcher = None
