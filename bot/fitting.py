"""Fit a :class:`Calibration` on labelled dev questions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

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
from indexer.search import HybridWeights, Retrieval, Retriever

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
        cross_val_predict(model, x, y, cv=StratifiedKFold(folds, shuffle=True, random_state=0),
                          method="predict_proba")[:, 1]
        if folds >= 2
        else None
    )
    model.fit(x, y)
    fitted = Logistic(names, [float(v) for v in model.coef_[0]], float(model.intercept_[0]))
    return fitted, (oof if oof is not None else fitted.predict(x))


def fit_ranking(retrievals: Sequence[Retrieval], questions: Sequence[LabelledQuestion], signals: list[str]) -> HybridWeights:
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
    return HybridWeights({s: float(w) for s, w in zip(signals, model.coef_[0], strict=True)}, 0.0)


def fit_calibration(
    retriever: Retriever,
    questions: Sequence[LabelledQuestion],
    target_precision: float = 0.95,
    clarify_precision: float = 0.6,
    margin_quantile: float = 0.8,
) -> Calibration:
    models = [e.name for e in retriever.embedders]
    signals = [*models, "lexical"]
    texts = [q.question for q in questions]
    vectors = retriever.encode(texts)

    retriever.weights = default_weights(models)
    first = retriever.search_encoded(texts, vectors, CANDIDATES)
    weights = fit_ranking(first, questions, signals)
    retriever.weights = weights
    rs = retriever.search_encoded(texts, vectors, CANDIDATES)

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
        [1 if q.expected and r.candidates and r.candidates[0].entry_id == q.expected else 0
         for r, q in zip(rs, questions, strict=True)]
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
    clarify_t = lowest_threshold(oof_among[not_answered], y_among[not_answered], clarify_precision, min_support=5)
    thresholds = replace(provisional, answer=answer_t, clarify=clarify_t)

    answered = oof_top >= answer_t
    in_scope = np.array([q.expected is not None for q in questions])
    meta = {
        "fitted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "dev_questions": len(questions),
        "dev_in_scope": int(in_scope.sum()),
        "target_precision": target_precision,
        "clarify_precision": clarify_precision,
        "dev_cv_answer_precision": float(y_top[answered].mean()) if answered.any() else None,
        "dev_cv_coverage": float((answered & (y_top == 1)).sum() / max(1, in_scope.sum())),
        "dev_cv_ece": expected_calibration_error(oof_top, y_top),
    }
    return Calibration(models, weights, p_top, p_among, thresholds, meta)
