"""The desk's live knowledge: the live index (``indexer.live``) plus the calibration that decides with it.

After each swap of the index the calibration of the new knowledge is fitted in a background
thread (leave-one-out over its own questions, seconds) and swapped in the same way; until then the
previous calibration keeps deciding, and ``/api/health`` says so. Answers read one
:class:`Snapshot` (knowledge, retriever and calibration together), never a mix of two versions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bot.calibration.auto import Calibrator
from bot.calibration.model import Calibration, default_weights
from indexer.batching import MicroBatcher
from indexer.embedders import Embedder
from indexer.live import IndexSnapshot, LiveIndex, TicketSource
from indexer.search import Retriever
from knowledge.corpus import Doc, KnowledgeBase
from knowledge.errors import FormatProblem
from knowledge.tickets import Ticket

log = logging.getLogger("helpdesk.runtime")
OUTCOME_INTERVAL = 60.0  # seconds between recalibrations triggered by feedback alone


@dataclass(frozen=True)
class Snapshot:
    """What answers are computed from; replaced whole, never mutated in place (except learning)."""

    kb: KnowledgeBase
    retriever: Retriever
    calibration: Calibration
    loaded_at: float
    calibrated_for: str | None = None  # content hash the calibration was fitted on


def uncalibrated(models: Sequence[str]) -> Calibration:
    """Before any calibration exists: rank by default weights and never answer."""
    from bot.calibration.model import Logistic, feature_names
    from bot.flow.decision import Thresholds
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
        db_files: Sequence[Path] = (),
    ) -> None:
        self.calibrator = calibrator
        self.fixed_calibration = fixed_calibration
        # a tuned model's calibration holds for the knowledge it was tuned on only
        self.fixed_is_for_content = False
        self._swap_lock = threading.Lock()
        self._calibrate_wanted = threading.Event()
        self._calibration_thread: threading.Thread | None = None
        self._urgent = False
        self.calibrating = False
        self.calibration_error: str | None = None
        self.calibrations = 0
        self._inline = False  # reload(calibrate_now=True) is under way: no background fit
        start = uncalibrated([e.name for e in embedders])
        self.index = LiveIndex(
            faq_dir, ticket_dirs, index_dir, embedders, start.ranking, self._swapped,
            progress, max_batch, batch_wait, db_tickets, db_files,
        )
        first = self.index.current
        self.snapshot = self._calibrated(Snapshot(first.kb, first.retriever, start, first.loaded_at))

    # -- the index's versions ----------------------------------------------------------------------

    def _swapped(self, new: IndexSnapshot, previous: IndexSnapshot | None) -> None:
        """A new index version: it answers at once with the previous calibration (called under the index lock)."""
        with self._swap_lock:
            old = self.snapshot
            new.retriever.weights = old.calibration.ranking
            self.snapshot = Snapshot(new.kb, new.retriever, old.calibration, new.loaded_at, old.calibrated_for)
        if not self._inline:
            self.request_calibration()

    def reload(self, calibrate_now: bool = False) -> Snapshot:
        """Re-read what changed and swap in the new knowledge; on failure keep the old one.

        Its own calibration is fitted in the background (``calibrate_now``: here, before returning).
        """
        self._inline = calibrate_now
        try:
            self.index.reload()
        finally:
            self._inline = False
        if calibrate_now:
            self.recalibrate()
        return self.snapshot

    @property
    def batcher(self) -> MicroBatcher | None:
        return self.index.batcher

    @property
    def last_error(self) -> str | None:
        return self.index.last_error

    @property
    def reloads(self) -> int:
        return self.index.reloads

    @property
    def problems(self) -> list[FormatProblem]:
        return self.snapshot.kb.problems

    def similar_tickets(self, question: str, k: int = 5) -> list[tuple[Ticket, float]]:
        return self.index.similar_tickets(question, k)

    def learn(self, doc: Doc) -> None:
        """Make a newly linked question answerable at once, without a rebuild."""
        self.snapshot.retriever.add_docs([doc])

    def knowledge_changed(self) -> None:
        self.index.knowledge_changed()

    def start_watching(self, interval: float) -> None:
        """Watch the knowledge; each new version is then calibrated in the background."""
        self.index.start_watching(interval)

    # -- status (what /api/health and /api/knowledge/status show) -----------------------------------

    def shown_path(self, path: Path) -> str:
        """A knowledge file as editors name it: relative to its folder, never the server's absolute path."""
        for root in (self.index.faq_dir, *self.index.ticket_dirs):
            try:
                return str(Path(root.name) / path.relative_to(root))
            except ValueError:
                continue
        return path.name

    def index_status(self) -> dict[str, Any]:
        snap = self.snapshot
        m = snap.retriever.store.manifest
        return {
            "knowledge": {
                "entries": len(snap.kb.entries),
                "translations": snap.kb.entry_count,
                "tickets": len(snap.kb.tickets),
                "problems": len(snap.kb.problems),
                "content_hash": snap.kb.content_hash,
            },
            "index": {"models": m.model_names, "counts": m.counts, "built_at": m.built_at},
        }

    def knowledge_status(self) -> dict[str, Any]:
        snap = self.snapshot
        kb = snap.kb
        return {
            "ok": not kb.problems and self.last_error is None,
            "problems": [
                {"path": self.shown_path(p.path), "line": p.line, "message": p.message} for p in kb.problems
            ],
            "kept_previous_version": [self.shown_path(p) for p in kb.kept_stale],
            "reload_error": self.last_error,
            "reloads": self.reloads,
            "loaded_at": snap.loaded_at,
            "content_hash": kb.content_hash,
        }

    def calibration_status(self) -> dict[str, Any]:
        """What the answer decision rests on: how many examples, what it guarantees, whether it is current."""
        cal = self.snapshot.calibration
        meta = cal.meta
        g = meta.get("guarantee") or {}
        return {
            "source": "file" if self.fixed_calibration is not None else meta.get("source", "knowledge"),
            "current": self.calibration_current,
            "fitting": self.calibrating,
            "error": self.calibration_error,
            "fitted_at": meta.get("fitted_at"),
            "examples": meta.get("examples"),
            "examples_by_source": meta.get("examples_by_source"),
            "guarantee": meta.get("guarantee_text"),
            "target_precision": 1 - g["alpha"] if g else None,
            "confidence": 1 - g["delta"] if g else None,
            "precision_lower_bound": g.get("precision_lower_bound"),
            "assumed_oos_share": g.get("oos_share"),
            "thresholds": cal.thresholds.__dict__,
            "confusable_pairs": len(cal.confusable),
        }

    def faq_titles(self) -> list[tuple[str, dict[str, str]]]:
        """Every FAQ entry id with its title per language, sorted by id."""
        kb = self.snapshot.kb
        return [(eid, {lang: e.title for lang, e in tr.items()}) for eid, tr in sorted(kb.entries.items())]

    def has_entry(self, entry_id: str) -> bool:
        return entry_id in self.snapshot.kb.entries

    # -- calibration -------------------------------------------------------------------------------

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
        with self._swap_lock:
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
            stop = self.index.stopping

            def loop() -> None:
                last = 0.0
                while not stop.is_set():
                    if not self._calibrate_wanted.wait(0.5):
                        continue
                    if not self._urgent and time.monotonic() - last < OUTCOME_INTERVAL:
                        stop.wait(0.5)
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

    def stop(self) -> None:
        self.index.stop()
        if self._calibration_thread is not None:
            self._calibration_thread.join(timeout=5)
        self._calibration_thread = None
