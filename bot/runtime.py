"""The live knowledge: knowledge base + index + retriever, rebuilt in the background and swapped.

Answering never waits for indexing: a rebuild embeds only changed texts (embedding cache),
is written aside and swapped in one assignment; a broken FAQ file is reported while the
previous knowledge keeps serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from indexer.batching import MicroBatcher
from indexer.build import build_and_publish, is_stale, load_current, total_work
from indexer.embedders import Embedder
from indexer.search import HybridWeights, Retriever, encode_all
from indexer.store import IndexLocation
from knowledge.corpus import Doc, KnowledgeBase, load_knowledge
from knowledge.errors import FormatProblem

log = logging.getLogger("helpdesk.runtime")


@dataclass(frozen=True)
class Snapshot:
    """What answers are computed from; replaced whole, never mutated in place (except learning)."""

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


class KnowledgeRuntime:
    def __init__(
        self,
        faq_dir: Path,
        ticket_dirs: Sequence[Path],
        index_dir: Path,
        embedders: Sequence[Embedder],
        weights: HybridWeights,
        progress: Callable[[int, int], None] | None = None,
        max_batch: int = 1,
        batch_wait: float = 0.004,
    ) -> None:
        self.faq_dir = faq_dir
        self.ticket_dirs = list(ticket_dirs)
        self.location = IndexLocation(index_dir)
        self.embedders = list(embedders)
        self.weights = weights
        self._progress = progress
        self._reload_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None
        self.reloads = 0
        self._fingerprint = self._fingerprints()
        embedders_ = self.embedders
        self.batcher = (
            MicroBatcher(lambda texts: encode_all(embedders_, texts), max_batch, batch_wait)
            if max_batch > 1
            else None
        )
        self.snapshot = self._load(None)

    # -- loading -----------------------------------------------------------------------------------

    def _load(self, previous: Snapshot | None, tickets_changed: bool = True) -> Snapshot:
        """Read knowledge and bring the index up to date.

        At start (no ``previous``) the published index is loaded from disk and rebuilt only if
        stale. On a reload the previous in-memory store is the base: unchanged tickets are not
        read again, their partition is reused, and only changed FAQ texts are embedded.
        """
        kb = load_knowledge(
            self.faq_dir,
            self.ticket_dirs,
            previous.kb if previous else None,
            tickets=None if (previous is None or tickets_changed) else previous.kb.ticket_set,
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
        return Snapshot(kb, Retriever(store, self.embedders, self.weights, encoder), time.time())

    def _fingerprints(self) -> tuple[object, object]:
        return folder_fingerprint([self.faq_dir]), folder_fingerprint(self.ticket_dirs)

    def reload(self) -> Snapshot:
        """Re-read what changed and swap in the new knowledge; on failure keep the old one."""
        with self._reload_lock:
            faq_fp, tickets_fp = self._fingerprints()
            tickets_changed = tickets_fp != self._fingerprint[1]
            self._fingerprint = (faq_fp, tickets_fp)
            try:
                snap = self._load(self.snapshot, tickets_changed)
            except Exception as exc:  # keep serving the old knowledge, report why
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("knowledge reload failed; the previous knowledge keeps serving")
                return self.snapshot
            self.last_error = None
            self.snapshot = snap
            self.reloads += 1
            return snap

    @property
    def problems(self) -> list[FormatProblem]:
        return self.snapshot.kb.problems

    def learn(self, doc: Doc) -> None:
        """Make a newly linked question answerable at once, without a rebuild."""
        self.snapshot.retriever.add_docs([doc])

    # -- watching ----------------------------------------------------------------------------------

    def changed(self) -> bool:
        return self._fingerprints() != self._fingerprint

    def start_watching(self, interval: float) -> None:
        if self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    if self.changed():
                        self.reload()
                except Exception:  # the watcher must never die
                    log.exception("watcher error")

        self._thread = threading.Thread(target=loop, name="knowledge-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self.batcher is not None:
            self.batcher.close()
            self.batcher = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
