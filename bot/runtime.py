"""The live knowledge: knowledge base + index + retriever + calibration, rebuilt in the background.

Answering never waits for indexing or calibrating: a rebuild embeds only changed texts (embedding
cache), is written aside and swapped in one assignment; a broken FAQ file is reported while the
previous knowledge keeps serving. After each swap the calibration of the new knowledge is fitted
in a background thread (leave-one-out over its own questions, seconds) and swapped in the same way;
until then the previous calibration keeps deciding, and ``/api/health`` says so.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import watchfiles

from bot.calibration.auto import Calibrator
from bot.calibration.model import Calibration, default_weights
from indexer.batching import MicroBatcher
from indexer.build import build_and_publish, is_stale, load_current, total_work
from indexer.embedders import Embedder
from indexer.lexical import Terms
from indexer.search import Retriever, encode_all
from indexer.store import IndexLocation
from knowledge.corpus import Doc, KnowledgeBase, TicketSet, load_knowledge, load_ticket_set
from knowledge.errors import FormatProblem
from knowledge.tickets import Ticket

log = logging.getLogger("helpdesk.runtime")
WATCH_DEBOUNCE_MS = 150  # file events closer than this are one change (an editor's save is several)
OUTCOME_INTERVAL = 60.0  # seconds between recalibrations triggered by feedback alone


@dataclass(frozen=True)
class Snapshot:
    """What answers are computed from; replaced whole, never mutated in place (except learning)."""

    kb: KnowledgeBase
    retriever: Retriever
    calibration: Calibration
    loaded_at: float
    calibrated_for: str | None = None  # content hash the calibration was fitted on


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


def uncalibrated(models: Sequence[str]) -> Calibration:
    """Before any calibration exists: rank by default weights and never answer."""
    from bot.calibration.model import Logistic, feature_names
    from bot.decision import Thresholds
    from indexer.search import signal_names

    names = feature_names(signal_names(models))
    zero = Logistic(names, [0.0] * len(names), -5.0)
    return Calibration(
        list(models),
        default_weights(models),
        zero,
        zero,
        Thresholds(answer=1.01, clarify=1.01, clarify_margin=0.0),
        {"source": "none", "guarantee_text": "not calibrated yet: every question goes to a person"},
    )


class KnowledgeRuntime:
    def __init__(
        self,
        faq_dir: Path,
        ticket_dirs: Sequence[Path],
        index_dir: Path,
        embedders: Sequence[Embedder],
        calibrator: Calibrator | None = None,
        fixed_calibration: Calibration | None = None,
        progress: Callable[[int, int], None] | None = None,
        max_batch: int = 1,
        batch_wait: float = 0.004,
        db_tickets: TicketSource | None = None,
    ) -> None:
        self.faq_dir = faq_dir
        self.ticket_dirs = list(ticket_dirs)
        self.db_tickets = db_tickets
        self._wake = threading.Event()  # set by the file watcher and by knowledge.changed events
        self._watcher: threading.Thread | None = None
        self.location = IndexLocation(index_dir)
        self.embedders = list(embedders)
        self.calibrator = calibrator
        self.fixed_calibration = fixed_calibration
        # a tuned model's calibration holds for the knowledge it was tuned on only
        self.fixed_is_for_content = False
        self._progress = progress
        self._reload_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._calibrate_wanted = threading.Event()
        self._calibration_thread: threading.Thread | None = None
        self._urgent = False
        self.calibrating = False
        self.calibration_error: str | None = None
        self.calibrations = 0
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
        snap = self._load(None)
        self.snapshot = self._calibrated(snap)

    # -- loading -----------------------------------------------------------------------------------

    def _terms_for(self, kb: KnowledgeBase) -> Terms:
        key = tuple(sorted(set(kb.key_terms())))
        if self._terms is None or self._terms[0] != key:
            self._terms = (key, Terms(key))
        return self._terms[1]

    def _load(self, previous: Snapshot | None, tickets_changed: bool = True) -> Snapshot:
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
        calibration = previous.calibration if previous else uncalibrated([e.name for e in self.embedders])
        retriever = Retriever(store, self.embedders, calibration.ranking, encoder, self._terms_for(kb))
        return Snapshot(kb, retriever, calibration, time.time(), previous.calibrated_for if previous else None)

    def _calibrated(self, snap: Snapshot) -> Snapshot:
        """``snap`` with the calibration of its knowledge (cached, else fitted now)."""
        if self.fixed_calibration is not None:
            cal = self.fixed_calibration
        elif self.calibrator is not None:
            cal = self.calibrator.calibrate(snap.kb.content_hash, snap.retriever)
            self.calibrations += 1
        else:
            return snap
        snap.retriever.weights = cal.ranking
        return replace(snap, calibration=cal, calibrated_for=snap.kb.content_hash)

    def _fingerprints(self) -> tuple[object, object]:
        db = self.db_tickets.version() if self.db_tickets is not None else None
        return folder_fingerprint([self.faq_dir]), (folder_fingerprint(self.ticket_dirs), db)

    def reload(
        self, calibrate_now: bool = False, fingerprints: tuple[object, object] | None = None
    ) -> Snapshot:
        """Re-read what changed and swap in the new knowledge; on failure keep the old one.

        The new knowledge answers at once with the previous calibration; its own calibration is
        fitted in the background (``calibrate_now``: here, before returning). ``fingerprints``: the
        folders' and database's state the caller just read, so it is not read twice.
        """
        with self._reload_lock:
            faq_fp, tickets_fp = fingerprints or self._fingerprints()
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
        if calibrate_now:
            self.recalibrate()
        else:
            self.request_calibration()
        return self.snapshot

    # -- calibration -------------------------------------------------------------------------------

    @property
    def calibration_current(self) -> bool:
        snap = self.snapshot
        if self.fixed_calibration is not None:
            fitted_for = self.fixed_calibration.meta.get("content_hash") if self.fixed_is_for_content else None
            return fitted_for is None or fitted_for == snap.kb.content_hash
        return snap.calibrated_for == snap.kb.content_hash

    def recalibrate(self) -> Snapshot:
        """Fit the calibration of the current knowledge now and swap it in (unless it changed meanwhile)."""
        snap = self.snapshot
        self.calibrating = True
        try:
            new = self._calibrated(snap)
            self.calibration_error = None
        except Exception as exc:  # the previous calibration keeps deciding
            self.calibration_error = f"{type(exc).__name__}: {exc}"
            log.exception("calibration failed; the previous calibration keeps deciding")
            return self.snapshot
        finally:
            self.calibrating = False
        with self._reload_lock:
            if self.snapshot.kb is snap.kb:
                self.snapshot = new
        return self.snapshot

    def request_calibration(self, urgent: bool = True) -> None:
        """Recalibrate in the background; requests coalesce. ``urgent``: the knowledge changed (fit
        now); otherwise new outcomes arrived (fit at most every ``OUTCOME_INTERVAL`` seconds)."""
        if self.calibrator is None or self.fixed_calibration is not None:
            return
        if urgent:
            self._urgent = True
        self._calibrate_wanted.set()
        if self._calibration_thread is None:

            def loop() -> None:
                last = 0.0
                while not self._stop.is_set():
                    if not self._calibrate_wanted.wait(0.5):
                        continue
                    if not self._urgent and time.monotonic() - last < OUTCOME_INTERVAL:
                        self._stop.wait(0.5)
                        continue
                    self._calibrate_wanted.clear()
                    self._urgent = False
                    try:
                        self.recalibrate()
                    except Exception:  # the worker must never die
                        log.exception("calibration worker error")
                    last = time.monotonic()

            self._calibration_thread = threading.Thread(target=loop, name="calibrator", daemon=True)
            self._calibration_thread.start()

    @property
    def problems(self) -> list[FormatProblem]:
        return self.snapshot.kb.problems

    def similar_tickets(self, question: str, k: int = 5) -> list[tuple[Ticket, float]]:
        """Resolved tickets closest to ``question`` in the current knowledge, with their scores."""
        snap = self.snapshot
        found = []
        for t in snap.retriever.similar_tickets(question, k=k):
            ticket = snap.kb.tickets_by_id.get(t.ticket_id)
            if ticket is not None:
                found.append((ticket, t.score))
        return found

    def learn(self, doc: Doc) -> None:
        """Make a newly linked question answerable at once, without a rebuild."""
        self.snapshot.retriever.add_docs([doc])

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

        if folders:
            self._watcher = threading.Thread(target=watch, name="knowledge-files", daemon=True)
            self._watcher.start()
        self._thread = threading.Thread(target=loop, name="knowledge-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self.batcher is not None:
            self.batcher.close()
            self.batcher = None
        for t in (self._thread, self._calibration_thread, self._watcher):
            if t is not None:
                t.join(timeout=5)
        self._thread = None
        self._calibration_thread = None
        self._watcher = None
