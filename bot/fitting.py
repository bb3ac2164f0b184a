"""Fit a :class:`Calibration` on labelled dev questions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from bot.calibration import (
    Calibration,
    Logistic,
    default_weights,
    expected_calibration_error,
    feature_names,
    features,
    lowest_threshold,
    scored,
)
from bot.decision import Thresholds, close_candidates
from bot.evalset import LabelledQuestion
from indexer.build import build_store
from indexer.embedders import Embedder
from indexer.search import HybridWeights, Retrieval, Retriever, signal_names
from knowledge.corpus import KnowledgeBase

CANDIDATES = 20


def _logistic(x: np.ndarray, y: np.ndarray, names: list[str]) -> tuple[Logistic, np.ndarray]:
    """Fit on all rows; also return out-of-fold probabilities for choosing thresholds honestly."""
    model = LogisticRegression(C=1.0, max_iter=2000)
    if len(set(y.tolist())) < 2:
        const = float(np.clip(y.mean() if len(y) else 0.0, 1e-3, 1 - 1e-3))
        logit = float(np.log(const / (1 - const)))
        return Logistic(names, [0.0] * len(names), logit), np.full(len(y), const)
    folds = min(5, int(min(np.bincount(y.astype(int)))))
    oof = (
        cross_val_predict(
            model, x, y, cv=StratifiedKFold(folds, shuffle=True, random_state=0), method="predict_proba"
        )[:, 1]
        if folds >= 2
        else None
    )
    model.fit(x, y)
    fitted = Logistic(names, [float(v) for v in model.coef_[0]], float(model.intercept_[0]))
    return fitted, (oof if oof is not None else fitted.predict(x))


def fit_ranking(
    retrievals: Sequence[Retrieval], questions: Sequence[LabelledQuestion], signals: list[str]
) -> HybridWeights:
    rows, labels = [], []
    for r, q in zip(retrievals, questions, strict=True):
        if q.expected is None or q.expected not in {c.entry_id for c in r.candidates}:
            continue
        for c in r.candidates:
            rows.append([c.signals.get(s, 0.0) for s in signals])
            labels.append(1 if c.entry_id == q.expected else 0)
    if len(set(labels)) < 2:
        raise ValueError("calibration needs in-scope questions whose entry is retrieved; check the eval file")
    model = LogisticRegression(C=10.0, max_iter=2000).fit(np.array(rows), np.array(labels))
    return HybridWeights(
        {s: float(w) for s, w in zip(signals, model.coef_[0], strict=True)}, float(model.intercept_[0])
    )


def respect_oos_handoff(
    p_among: np.ndarray,
    eligible: np.ndarray,
    y_top: np.ndarray,
    answered: np.ndarray,
    oos: np.ndarray,
    clarify_t: float,
    target: float,
) -> float:
    """Raise the clarify threshold until out-of-scope dev questions are handed off at ``target``.

    A "did you mean" on an out-of-scope question is not a wrong answer, but it delays the person
    the customer needs; so clarifying may only use what the answer threshold leaves of the budget.
    """
    if not oos.any():
        return clarify_t
    candidates = sorted({clarify_t, *p_among[eligible & oos].tolist()})
    for t in candidates:
        if t < clarify_t:
            continue
        kept = ~answered & ~(eligible & (p_among >= t))
        if kept[oos].mean() >= target:
            return float(t) if t == clarify_t else float(np.nextafter(t, 2.0))
    return 1.0 + 1e-9


@dataclass(frozen=True)
class Condition:
    """Questions asked against one retriever (e.g. the full FAQ, or only the other language's)."""

    retriever: Retriever
    questions: Sequence[LabelledQuestion]
    vectors: dict[str, np.ndarray]


def cross_lingual_conditions(
    kb: KnowledgeBase,
    embedders: Sequence[Embedder],
    questions: Sequence[LabelledQuestion],
    vectors: dict[str, np.ndarray],
    cache: Path | None,
) -> list[Condition]:
    """Every question asked again against an FAQ holding only the other language.

    Shipped entries all have both translations, so without this the fit would never see a
    Chinese question that must match an English-only entry (or the reverse).
    """
    out = []
    for lang, other in (("en", "zh"), ("zh", "en")):
        idx = [
            i
            for i, q in enumerate(questions)
            if q.lang == lang and (q.expected is None or q.expected in kb.entries)
        ]
        part = kb.only(other)
        if not idx or not part.entries:
            continue
        keep = [i for i in idx if questions[i].expected is None or questions[i].expected in part.entries]
        store = build_store(part, embedders, cache)
        out.append(
            Condition(
                Retriever(store, embedders, HybridWeights({})),
                [questions[i] for i in keep],
                {n: v[keep] for n, v in vectors.items()},
            )
        )
    return out


def fit_calibration(
    retriever: Retriever,
    questions: Sequence[LabelledQuestion],
    target_precision: float = 0.95,
    clarify_precision: float = 0.6,
    margin_quantile: float = 0.8,
    lexical: bool = True,
    vectors: dict[str, np.ndarray] | None = None,
    extra: Sequence[Condition] = (),
    oos_handoff_target: float = 0.9,
) -> Calibration:
    """Fit on ``questions`` (a dev split), pooled with the ``extra`` conditions.

    ``vectors`` may hold the questions' embeddings already.
    """
    models = [e.name for e in retriever.embedders]
    signals = signal_names(models, lexical)
    if vectors is None:
        vectors = retriever.encode([q.question for q in questions])
    conditions = [Condition(retriever, questions, vectors), *extra]
    questions = [q for c in conditions for q in c.questions]

    def search_all(weights: HybridWeights) -> list[Retrieval]:
        found: list[Retrieval] = []
        for c in conditions:
            c.retriever.weights = weights
            found += c.retriever.search_encoded(
                [q.question for q in c.questions], c.vectors, CANDIDATES, [q.lang for q in c.questions]
            )
        return found

    first = search_all(default_weights(models) if lexical else HybridWeights({m: 1.0 for m in models}))
    n_main = len(conditions[0].questions)
    weights = fit_ranking(first[:n_main], questions[:n_main], signals)
    if extra:  # entries lacking the customer's language get their own, cross-lingual weights
        cross = fit_ranking(first[n_main:], questions[n_main:], signals)
        weights = replace(weights, cross=cross.weights, cross_bias=cross.bias)
    rs = search_all(weights)

    # how far below the top the right entry sits when it is 2nd or 3rd: the "close" margin
    gaps = [
        r.candidates[0].score - next(c.score for c in r.candidates if c.entry_id == q.expected)
        for r, q in zip(rs, questions, strict=True)
        if q.expected and q.expected in [c.entry_id for c in r.candidates[1:3]]
    ]
    margin = float(np.quantile(gaps, margin_quantile)) if gaps else 0.05
    provisional = Thresholds(answer=1.0, clarify=1.0, clarify_margin=margin)

    x = np.array([features(r, q.lang, signals) for r, q in zip(rs, questions, strict=True)])
    y_top = np.array(
        [
            1 if q.expected and r.candidates and r.candidates[0].entry_id == q.expected else 0
            for r, q in zip(rs, questions, strict=True)
        ]
    )
    closes = [close_candidates(scored(r), provisional) for r in rs]
    y_among = np.array(
        [1 if q.expected and q.expected in c else 0 for c, q in zip(closes, questions, strict=True)]
    )
    names = feature_names(signals)
    p_top, oof_top = _logistic(x, y_top, names)
    p_among, oof_among = _logistic(x, y_among, names)

    answer_t = lowest_threshold(oof_top, y_top, target_precision)
    not_answered = (oof_top < answer_t) & np.array([len(c) >= 2 for c in closes])
    clarify_t = lowest_threshold(
        oof_among[not_answered], y_among[not_answered], clarify_precision, min_support=5
    )
    clarify_t = respect_oos_handoff(
        oof_among[:n_main],
        not_answered[:n_main],
        y_top[:n_main],
        oof_top[:n_main] >= answer_t,
        np.array([q.expected is None for q in questions[:n_main]]),
        clarify_t,
        oos_handoff_target,
    )
    thresholds = replace(provisional, answer=answer_t, clarify=clarify_t)

    answered = oof_top >= answer_t
    in_scope = np.array([q.expected is not None for q in questions])
    meta = {
        "fitted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "dev_questions": len(conditions[0].questions),
        "fit_rows": len(questions),
        "dev_in_scope": int(in_scope.sum()),
        "target_precision": target_precision,
        "clarify_precision": clarify_precision,
        "dev_cv_answer_precision": float(y_top[answered].mean()) if answered.any() else None,
        "dev_cv_coverage": float((answered & (y_top == 1)).sum() / max(1, in_scope.sum())),
        "dev_cv_ece": expected_calibration_error(oof_top, y_top),
    }
    return Calibration(models, weights, p_top, p_among, thresholds, meta, lexical)
