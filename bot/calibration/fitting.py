"""Fit a :class:`Calibration` from examples: ranking weights, confidence models, guaranteed threshold.

1. Every example is scored once (all signals for all entries, ``Retriever.score``); ranking again
   with other weights is cheap.
2. Ranking weights: logistic regression over the candidates' signals of the ``present`` (and
   labelled) examples, entry right or not; separate cross-lingual weights from the ``cross`` ones.
3. Overlaps: FAQ entries answer some questions twice (year-end close also explains the yearly
   number reset). An entry scoring within ``overlap_margin`` of a question's own entry answers it
   too; such pairs are *confusable* (the bot asks "did you mean" between them), and an ``absent``
   example answered by an entry that overlaps it counts neither as right nor as wrong.
4. ``p_top`` and ``p_among``: logistic regressions over retrieval features, out-of-scope examples
   weighted to the assumed share of out-of-scope questions, with out-of-fold predictions (folds
   grouped by entry, so no entry is judged by a model that saw its questions).
5. The answer threshold: the lowest one whose out-of-fold answers keep the error rate at most
   ``alpha`` for the assumed mix, with confidence ``1 - delta`` (``bot/calibration/guarantee.py``).
6. The clarify threshold: "did you mean" when the right entry is among the close candidates often
   enough, while out-of-scope examples still go to a person at ``oos_handoff_target``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from bot.calibration.examples import Example
from bot.calibration.guarantee import choose_threshold_mixture, point_threshold
from bot.calibration.model import (
    Calibration,
    Logistic,
    cross_default,
    default_weights,
    expected_calibration_error,
    feature_names,
    features,
    lowest_threshold,
    scored,
)
from bot.flow.decision import Thresholds, close_candidates
from indexer.search import HybridWeights, Retrieval, Retriever, Scored, signal_names

CANDIDATES = 20
RANKING_SOURCES = ("present", "labelled")
CROSS_SOURCES = ("cross", "cross-absent")
ABSENT_SOURCES = ("absent", "cross-absent")
# log-odds of the ranking score: within a factor e of the question's own entry. At run time two
# confusable entries within half of it of each other are asked about ("did you mean"), not answered.
OVERLAP_MARGIN = 1.0
ASSUMED_OOS_SHARE = 0.2


def _fit_logistic(x: np.ndarray, y: np.ndarray, names: list[str], weight: np.ndarray | None = None) -> Logistic:
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    if len(set(y.tolist())) < 2:
        const = float(np.clip(y.mean() if len(y) else 0.0, 1e-3, 1 - 1e-3))
        return Logistic(names, [0.0] * len(names), float(np.log(const / (1 - const))))
    model = LogisticRegression(C=1.0, max_iter=5000).fit((x - mean) / scale, y, sample_weight=weight)
    return Logistic(
        names, [float(v) for v in model.coef_[0]], float(model.intercept_[0]), mean.tolist(), scale.tolist()
    )


def logistic_with_oof(
    x: np.ndarray,
    y: np.ndarray,
    groups: Sequence[str],
    names: list[str],
    weight: np.ndarray | None = None,
    folds: int = 5,
) -> tuple[Logistic, np.ndarray]:
    """Fit on all rows; also out-of-fold probabilities (grouped folds) for choosing thresholds honestly."""
    fitted = _fit_logistic(x, y, names, weight)
    n_groups = len(set(groups))
    if n_groups < 2 or len(set(y.tolist())) < 2:
        return fitted, fitted.predict(x)
    oof = np.zeros(len(y))
    for train, test in GroupKFold(min(folds, n_groups)).split(x, y, groups):
        w = weight[train] if weight is not None else None
        oof[test] = _fit_logistic(x[train], y[train], names, w).predict(x[test])
    return fitted, oof


def fit_ranking(
    retriever: Retriever,
    scored_: Sequence[Scored],
    examples: Sequence[Example],
    signals: list[str],
    base: HybridWeights,
) -> HybridWeights:
    rows, labels = [], []
    for s, ex in zip(scored_, examples, strict=True):
        if ex.expected is None:
            continue
        r = retriever.rank(ex.text, s, CANDIDATES, base)
        if ex.expected not in {c.entry_id for c in r.candidates}:
            continue
        for c in r.candidates:
            rows.append([c.signals.get(k, 0.0) for k in signals])
            labels.append(1 if c.entry_id == ex.expected else 0)
    if len(set(labels)) < 2:
        raise ValueError(
            "calibration needs questions whose entry is retrieved; give every FAQ entry at least one question"
        )
    model = LogisticRegression(C=10.0, max_iter=5000).fit(np.array(rows), np.array(labels))
    return HybridWeights(
        {k: float(w) for k, w in zip(signals, model.coef_[0], strict=True)}, float(model.intercept_[0])
    )


def respect_oos_handoff(
    p_among: np.ndarray,
    eligible: np.ndarray,
    answered: np.ndarray,
    oos: np.ndarray,
    clarify_t: float,
    target: float,
) -> float:
    """Raise the clarify threshold until out-of-scope examples are handed off at ``target``.

    A "did you mean" on an out-of-scope question is not a wrong answer, but it delays the person
    the customer needs; so clarifying may only use what the answer threshold leaves of the budget.
    """
    if not oos.any():
        return clarify_t
    for t in sorted({clarify_t, *p_among[eligible & oos].tolist()}):
        if t < clarify_t:
            continue
        kept = ~answered & ~(eligible & (p_among >= t))
        if kept[oos].mean() >= target:
            return float(t) if t == clarify_t else float(np.nextafter(t, 2.0))
    return 1.0 + 1e-9


def is_correct(r: Retrieval, ex: Example) -> bool | None:
    """Whether the top candidate is right; None when unknown (a rejected answer the bot no longer gives)."""
    top = r.candidates[0].entry_id if r.candidates else None
    if ex.rejected is not None:
        if top == ex.rejected:
            return False
        return None if ex.expected is None else top == ex.expected
    return ex.expected is not None and top == ex.expected


def overlaps(
    rs: Sequence[Retrieval], examples: Sequence[Example], margin: float
) -> dict[tuple[str, str], set[str]]:
    """Per question (text, entry): the other entries scoring within ``margin`` of its own entry."""
    out: dict[tuple[str, str], set[str]] = {}
    for r, ex in zip(rs, examples, strict=True):
        if ex.source not in ("present", "cross") or ex.expected is None:
            continue
        own = next((c.score for c in r.candidates if c.entry_id == ex.expected), None)
        if own is None:
            continue
        close = {c.entry_id for c in r.candidates if c.entry_id != ex.expected and c.score >= own - margin}
        out.setdefault((ex.text, ex.expected), set()).update(close)
    return out


def confusable_pairs(covered: dict[tuple[str, str], set[str]], min_share: float = 0.25) -> list[list[str]]:
    """Entry pairs that overlap for at least ``min_share`` of one entry's questions (either way round)."""
    per_entry: dict[str, int] = {}
    hits: dict[tuple[str, str], int] = {}
    for (_text, entry), others in covered.items():
        per_entry[entry] = per_entry.get(entry, 0) + 1
        for o in others:
            hits[(entry, o)] = hits.get((entry, o), 0) + 1
    pairs = {tuple(sorted(k)) for k, n in hits.items() if n / max(1, per_entry[k[0]]) >= min_share}
    return [list(p) for p in sorted(pairs)]


def never_answer(
    models: list[str], weights: HybridWeights, why: str, examples: int, lexical: bool, passages: bool
) -> Calibration:
    """A calibration that hands every question to a person, saying why."""
    names = feature_names(signal_names(models, lexical, passages))
    zero = Logistic(names, [0.0] * len(names), -5.0)
    text = f"cannot calibrate from {examples} examples ({why}): every question goes to a person"
    meta: dict[str, Any] = {
        "fitted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "examples": examples,
        "guarantee_text": text,
        "guarantee": {"threshold": 1.01, "alpha": 0.05, "delta": 0.05, "precision_lower_bound": 0.0},
    }
    return Calibration(models, weights, zero, zero, Thresholds(1.01, 1.01, 0.0), meta, lexical, passages)


def fit(
    retriever: Retriever,
    examples: Sequence[Example],
    vectors: dict[str, np.ndarray] | None = None,
    alpha: float = 0.05,
    delta: float = 0.05,
    oos_share: float = ASSUMED_OOS_SHARE,
    clarify_precision: float = 0.6,
    margin_quantile: float = 0.8,
    lexical: bool = True,
    passages: bool = True,
    oos_handoff_target: float = 0.9,
    cross_in_threshold: bool | None = None,
    overlap_margin: float = OVERLAP_MARGIN,
    diagnostics: dict[str, Any] | None = None,
    prescored: Sequence[Scored] | None = None,
) -> Calibration:
    """Fit on ``examples``; ``vectors`` (per model, one row per example) may hold their embeddings.

    ``prescored``: the examples' signals computed already (then ``vectors`` is not used).
    ``oos_share``: the share of customer questions assumed to be out of scope, each as hard as a
    question whose entry was left out. ``cross_in_threshold``: whether cross-lingual examples count
    for confidence and thresholds (default: only when some entry lacks a language).
    """
    models = [e.name for e in retriever.embedders]
    signals = signal_names(models, lexical, passages)
    texts = [ex.text for ex in examples]
    if prescored is not None:  # scored elsewhere, e.g. each example by a model that never saw it
        scored_all = list(prescored)
    else:
        if vectors is None:
            vectors = retriever.encode(texts)
        scored_all = retriever.score(texts, vectors, [ex.lang for ex in examples], [ex.exclusion for ex in examples])
    if not lexical or not passages:
        for s in scored_all:
            s.signals = {k: v for k, v in s.signals.items() if k in signals}

    base = default_weights(models)
    base = HybridWeights({k: v for k, v in base.weights.items() if k in signals})
    main = [i for i, ex in enumerate(examples) if ex.source in RANKING_SOURCES]
    try:
        weights = fit_ranking(retriever, [scored_all[i] for i in main], [examples[i] for i in main], signals, base)
    except ValueError as exc:
        return never_answer(models, base, str(exc), len(examples), lexical, passages)
    cross_idx = [i for i, ex in enumerate(examples) if ex.source == "cross"]
    if cross_idx:
        try:
            cw = fit_ranking(
                retriever,
                [scored_all[i] for i in cross_idx],
                [examples[i] for i in cross_idx],
                signals,
                cross_default(base),
            )
            weights = replace(weights, cross=cw.weights, cross_bias=cw.bias)
        except ValueError:
            pass  # too few cross-lingual examples: entries lacking a language use the main weights
    if cross_in_threshold is None:  # can a customer meet an entry lacking their language at all?
        cross_in_threshold = any(
            not s.has_lang.all() for s, ex in zip(scored_all, examples, strict=True) if ex.source not in CROSS_SOURCES
        )
    rs = [retriever.rank(ex.text, s, CANDIDATES, weights) for ex, s in zip(examples, scored_all, strict=True)]
    correct = [is_correct(r, ex) for r, ex in zip(rs, examples, strict=True)]
    covered = overlaps(rs, examples, overlap_margin)
    for i, (r, ex) in enumerate(zip(rs, examples, strict=True)):
        if ex.source in ABSENT_SOURCES and r.candidates and r.candidates[0].entry_id in covered.get((ex.text, ex.group), ()):
            correct[i] = None  # answered by an entry that answers it anyway: neither right nor wrong
    use = [
        i
        for i, ex in enumerate(examples)
        if correct[i] is not None and (cross_in_threshold or ex.source not in CROSS_SOURCES)
    ]
    ex_u = [examples[i] for i in use]
    rs_u = [rs[i] for i in use]
    y_top = np.array([1 if correct[i] else 0 for i in use])
    groups = [ex.group for ex in ex_u]
    oos = np.array([ex.expected is None for ex in ex_u])
    n_oos, n_in = int(oos.sum()), int((~oos).sum())
    # out-of-scope examples weighted to the assumed traffic mix
    weight = np.where(oos, (oos_share / (1 - oos_share)) * n_in / max(1, n_oos), 1.0) if n_oos else None

    # how far below the top the right entry sits when it is 2nd or 3rd: the "close" margin
    gaps = [
        r.candidates[0].score - next(c.score for c in r.candidates if c.entry_id == ex.expected)
        for r, ex in zip(rs_u, ex_u, strict=True)
        if ex.expected and ex.expected in [c.entry_id for c in r.candidates[1:3]]
    ]
    margin = float(np.quantile(gaps, margin_quantile)) if gaps else overlap_margin
    provisional = Thresholds(answer=1.0, clarify=1.0, clarify_margin=margin, overlap_margin=overlap_margin / 2)
    x = np.array([features(r, ex.lang, signals) for r, ex in zip(rs_u, ex_u, strict=True)])
    closes = [close_candidates(scored(r), provisional) for r in rs_u]
    y_among = np.array([1 if ex.expected and ex.expected in c else 0 for c, ex in zip(closes, ex_u, strict=True)])
    names = feature_names(signals)
    p_top, oof_top = logistic_with_oof(x, y_top, groups, names, weight)
    p_among, oof_among = logistic_with_oof(x, y_among, groups, names, weight)

    origin = np.array([ex.origin or ex.group for ex in ex_u])
    guarantee = choose_threshold_mixture(
        oof_top[~oos], y_top[~oos] == 1, oof_top[oos], oos_share, alpha, delta, origin_in=origin[~oos], origin_oos=origin[oos]
    )
    answer_t = guarantee.threshold
    answered = oof_top >= answer_t
    not_answered = ~answered & np.array([len(c) >= 2 for c in closes])
    clarify_t = lowest_threshold(oof_among[not_answered], y_among[not_answered], clarify_precision, min_support=5)
    clarify_t = respect_oos_handoff(oof_among, not_answered, answered, oos, clarify_t, oos_handoff_target)
    thresholds = replace(provisional, answer=answer_t, clarify=clarify_t)
    if diagnostics is not None:
        diagnostics.update(examples=ex_u, oof_top=oof_top, y_top=y_top, retrievals=rs_u, x=x)

    sources: dict[str, int] = {}
    for ex in ex_u:
        sources[ex.source] = sources.get(ex.source, 0) + 1
    meta: dict[str, Any] = {
        "fitted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "examples": len(ex_u),
        "examples_by_source": sources,
        "left_out_as_overlap": sum(1 for i, ex in enumerate(examples) if ex.source in ABSENT_SOURCES and correct[i] is None),
        "entries": len(retriever.entry_ids),
        "guarantee": asdict(guarantee),
        "guarantee_text": guarantee.describe(),
        "cv_answer_precision_in_scope": float(y_top[answered & ~oos].mean()) if (answered & ~oos).any() else None,
        "cv_coverage": float((answered & (y_top == 1)).sum() / max(1, n_in)),
        "cv_oos_answered": float(answered[oos].mean()) if n_oos else None,
        "cv_ece": expected_calibration_error(oof_top, y_top),
        # for comparison only: where a point estimate (no guarantee) would put the threshold
        "point_threshold": point_threshold(oof_top[~oos], y_top[~oos] == 1, oof_top[oos], oos_share, alpha),
    }
    return Calibration(models, weights, p_top, p_among, thresholds, meta, lexical, passages, confusable_pairs(covered))
