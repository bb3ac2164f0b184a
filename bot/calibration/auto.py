"""Calibrate a knowledge base from itself, cached by what the calibration depends on.

The running desk calls :meth:`Calibrator.calibrate` at start and after every knowledge change (in
the background, like the index): leave-one-out examples of the knowledge's own questions, the
outcomes conversations produced so far (agent resolutions, "not what I asked"), and optionally
labelled questions (``HELPDESK_CALIBRATION_QUESTIONS``, dev split only). The result is written to
``<data-dir>/calibration/<key>.json``; the key hashes the knowledge, the models, the settings of
the guarantee, the outcomes and this module's version, so an unchanged desk starts without fitting.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.calibration import augment
from bot.calibration.evalset import load_questions
from bot.calibration.examples import Example, from_outcomes, leave_one_out
from bot.calibration.fitting import ASSUMED_OOS_SHARE, fit
from bot.calibration.model import Calibration
from indexer.cache import encode_cached
from indexer.embedders import vectors_key
from indexer.search import Retriever

log = logging.getLogger("helpdesk.calibration")

VERSION = 7  # bump when examples or fitting change: cached calibrations are then fitted again
Outcome = tuple[str, str, str | None, str | None]  # question, lang, right entry, rejected entry


@dataclass(frozen=True)
class CalibrationSettings:
    target_precision: float = 0.95
    confidence: float = 0.95  # of the guarantee
    assumed_oos_share: float = ASSUMED_OOS_SHARE
    styles: tuple[str, ...] = augment.STYLES
    labelled: Path | None = None  # labelled questions (JSON lines); their dev split is used


class Calibrator:
    def __init__(
        self,
        folder: Path,
        settings: CalibrationSettings = CalibrationSettings(),
        outcomes: Callable[[], Sequence[Outcome]] = lambda: (),
        embedding_cache: Path | None = None,
    ) -> None:
        self.folder = folder
        self.settings = settings
        self.outcomes = outcomes
        self.embedding_cache = embedding_cache
        self.last_seconds: float | None = None

    def key(self, content_hash: str, retriever: Retriever, outcomes: Sequence[Outcome]) -> str:
        h = hashlib.sha256(f"v{VERSION}\x1f{content_hash}\x1f{[vectors_key(e) for e in retriever.embedders]}".encode())
        h.update(json.dumps({**self.settings.__dict__, "labelled": str(self.settings.labelled)}, sort_keys=True).encode())
        if self.settings.labelled is not None and self.settings.labelled.exists():
            h.update(self.settings.labelled.read_bytes())
        for o in outcomes:
            h.update(json.dumps(o, ensure_ascii=False).encode())
        return h.hexdigest()[:20]

    def examples(self, retriever: Retriever, outcomes: Sequence[Outcome]) -> list[Example]:
        exs = leave_one_out(retriever, self.settings.styles, cross=True)
        exs += from_outcomes(outcomes)
        if self.settings.labelled is not None:
            for q in load_questions(self.settings.labelled, "dev"):
                if q.expected is None or q.expected in retriever.entry_ids:
                    exs.append(Example(q.question, q.lang, q.expected, "labelled", f"labelled-{q.qid}", "customer"))
        return exs

    def calibrate(self, content_hash: str, retriever: Retriever) -> Calibration:
        """The calibration for this knowledge: from the cache, else fitted now (seconds) and cached."""
        outcomes = list(self.outcomes())
        key = self.key(content_hash, retriever, outcomes)
        path = self.folder / f"{key}.json"
        if path.exists():
            try:
                return Calibration.load(path)
            except (OSError, ValueError, KeyError, TypeError):
                log.warning("calibration %s is unreadable; fitting it again", path)
        started = time.perf_counter()
        exs = self.examples(retriever, outcomes)
        vectors = encode_cached(retriever.embedders, [e.text for e in exs], self.embedding_cache)
        s = self.settings
        cal = fit(
            retriever,
            exs,
            vectors,
            alpha=1 - s.target_precision,
            delta=1 - s.confidence,
            oos_share=s.assumed_oos_share,
        )
        self.last_seconds = round(time.perf_counter() - started, 2)
        cal.meta.update(
            {"content_hash": content_hash, "key": key, "fit_seconds": self.last_seconds, "outcomes": len(outcomes)}
        )
        cal.save(path)
        self._prune(keep=path)
        log.info("calibrated in %.1f s: %s", self.last_seconds, cal.meta["guarantee_text"])
        return cal

    def _prune(self, keep: Path, count: int = 5) -> None:
        files = sorted(self.folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for p in files[count:]:
            if p != keep:
                with contextlib.suppress(OSError):
                    os.remove(p)
