"""Tune e5 on a knowledge base and calibrate the tuned model honestly (cross-fitting).

A model tuned on the knowledge's questions has seen every question a leave-one-out calibration
would ask, so its calibration would be optimistic. Instead the questions are split in two folds by
a hash of their text; for each fold a model is tuned without that fold's questions, and each
leave-one-out example is scored by the model that never saw it. The model that serves is tuned on
everything; the calibration fitted on the cross-fitted scores goes with it, valid for the
knowledge it was tuned on (its content hash is kept beside it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.calibration import augment
from bot.calibration.examples import Example, leave_one_out
from bot.calibration.fitting import ASSUMED_OOS_SHARE, fit
from bot.calibration.model import Calibration
from indexer.build import build_store
from indexer.cache import encode_cached
from indexer.embedders import E5_NAME, E5Embedder, Embedder
from indexer.lexical import Terms
from indexer.search import HybridWeights, Retriever, Scored
from indexer.tuning import TuneConfig, TuneReport, tune
from knowledge.corpus import QUESTION_KINDS, KnowledgeBase

FOLDS = 2
CALIBRATION_FILE = "calibration.json"
KNOWLEDGE_FILE = "knowledge.json"


def fold_of(text: str) -> int:
    return int(hashlib.sha1(text.encode("utf-8")).hexdigest(), 16) % FOLDS


@dataclass(frozen=True)
class TunedDesk:
    folder: Path  # the model that serves
    calibration: Calibration  # fitted on cross-fitted scores, for ``content_hash``
    content_hash: str
    reports: list[TuneReport]


def tune_and_calibrate(
    kb: KnowledgeBase,
    base: Path,
    others: Sequence[Embedder],
    out_dir: Path,
    config: TuneConfig | None = None,
    alpha: float = 0.05,
    delta: float = 0.05,
    oos_share: float = ASSUMED_OOS_SHARE,
    styles: Sequence[str] = augment.STYLES,
    cache: Path | None = None,
    progress: Callable[[str, int, int, float], None] | None = None,
    extra_examples: Sequence[Example] = (),
    reuse: bool = False,
) -> TunedDesk:
    """Tune ``FOLDS + 1`` models (one per fold, one on all) into ``out_dir`` and fit the calibration.

    ``others``: the other embedders of the desk (USE), used as they are. The e5 position in the
    desk's model list is second, as in the default settings. ``reuse``: keep the fold models and
    reuse any model already tuned into its folder (benchmarks rerun without tuning again).
    """
    config = config or TuneConfig()
    docs = kb.faq_docs
    reports: list[TuneReport] = []
    folders: dict[str, Path] = {}
    for name in [*(str(k) for k in range(FOLDS)), "all"]:
        train = [d for d in docs if name == "all" or d.kind not in QUESTION_KINDS or str(fold_of(d.text)) != name]
        folder = out_dir if name == "all" else out_dir.with_name(f"{out_dir.name}.fold{name}")
        step: Callable[[int, int, float], None] | None = None
        if progress is not None:

            def step(
                s: int, t: int, loss: float, n: str = name, report: Callable[..., None] = progress
            ) -> None:
                report(n, s, t, loss)

        if reuse and (folder / "tuning.json").exists():
            reports.append(TuneReport(**json.loads((folder / "tuning.json").read_text())))
        else:
            reports.append(tune(base, train, folder, config, step))
        folders[name] = folder
    retrievers: dict[str, Retriever] = {}
    terms = Terms(kb.key_terms())
    for name, folder in folders.items():
        embedders = [*others, E5Embedder(folder, tuned_name(folder))]
        retrievers[name] = Retriever(build_store(kb, embedders, cache), embedders, HybridWeights({}), terms=terms)
    final = retrievers["all"]
    examples = [*leave_one_out(final, styles, cross=True), *extra_examples]
    scored: list[Scored | None] = [None] * len(examples)
    for k in range(FOLDS):
        idx = [i for i, e in enumerate(examples) if fold_of(e.origin or e.text) == k]
        r = retrievers[str(k)]
        vecs = encode_cached(r.embedders, [examples[i].text for i in idx], cache)
        for i, s in zip(
            idx,
            r.score([examples[i].text for i in idx], vecs, [examples[i].lang for i in idx], [examples[i].exclusion for i in idx]),
            strict=True,
        ):
            scored[i] = s
    assert all(s is not None for s in scored)
    cal = fit(final, examples, alpha=alpha, delta=delta, oos_share=oos_share, prescored=scored)  # type: ignore[arg-type]
    cal.meta.update({"content_hash": kb.content_hash, "tuned": str(out_dir), "cross_fitted_folds": FOLDS})
    cal.save(out_dir / CALIBRATION_FILE)
    (out_dir / KNOWLEDGE_FILE).write_text(json.dumps({"content_hash": kb.content_hash}))
    for name, folder in folders.items():  # the fold models served their purpose
        if name != "all" and not reuse:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
    return TunedDesk(out_dir, cal, kb.content_hash, reports)


def tuned_name(folder: Path) -> str:
    """The model name a tuned e5 folder's vectors (and its calibration) go by."""
    return f"{E5_NAME}+{folder.name}"


def tuned_for(folder: Path) -> str | None:
    """The content hash of the knowledge a tuned model was tuned (and calibrated) on."""
    try:
        return str(json.loads((folder / KNOWLEDGE_FILE).read_text())["content_hash"])
    except (OSError, ValueError, KeyError):
        return None
