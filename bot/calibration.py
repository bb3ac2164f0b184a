"""Calibrated confidence and thresholds, fitted on labelled questions (``helpdesk calibrate``).

Three small models, all fitted on a dev split:

1. ranking weights: a logistic regression over candidate signals (each model's cosine and the
   lexical score) that says how much each signal counts when ranking entries;
2. ``p_top``: probability that the first candidate is right, from features of the retrieval
   (top score, margin to the runner-up, each signal's top value, agreement between signals,
   whether the best text is in the customer's language);
3. ``p_among``: probability that the right entry is among the close candidates offered in a
   "did you mean" question.

Thresholds are then chosen on cross-validated probabilities so that answer precision reaches
the target (default 95%).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bot.decision import ScoredCandidate, Thresholds, close_candidates
from indexer.search import HybridWeights, Retrieval, signal_names


def default_weights(models: Sequence[str]) -> HybridWeights:
    """Before calibration: the mean of the dense cosines plus half the lexical score."""
    w = {m: 1.0 / len(models) for m in models}
    w["lexical"] = 0.5
    return HybridWeights(w)


@dataclass(frozen=True)
class Logistic:
    features: list[str]
    coef: list[float]
    intercept: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        z = x @ np.asarray(self.coef) + self.intercept
        return 1.0 / (1.0 + np.exp(-z))


def feature_names(signals: Sequence[str]) -> list[str]:
    return (
        ["top", "margin"]
        + [f"{s}_top" for s in signals]
        + [f"{s}_margin" for s in signals]
        + [
            "agreement",
            "lang_match",
        ]
    )


def features(r: Retrieval, lang: str, signals: Sequence[str]) -> np.ndarray:
    """Features of one retrieval, in ``feature_names`` order."""
    c = r.candidates
    if not c:
        return np.zeros(len(feature_names(signals)))
    second = c[1] if len(c) > 1 else None
    top = [c[0].signals.get(s, 0.0) for s in signals]
    margins = [
        c[0].signals.get(s, 0.0) - max((x.signals.get(s, 0.0) for x in c[1:]), default=0.0) for s in signals
    ]
    return np.array(
        [
            c[0].score,
            c[0].score - (second.score if second else 0.0),
            *top,
            *margins,
            r.agreement,
            1.0 if c[0].doc.lang == lang else 0.0,
        ]
    )


@dataclass(frozen=True)
class Calibration:
    models: list[str]
    ranking: HybridWeights
    p_top: Logistic
    p_among: Logistic
    thresholds: Thresholds
    meta: dict[str, Any] = field(default_factory=dict)
    lexical: bool = True  # whether the character n-gram signal is used

    @property
    def signals(self) -> list[str]:
        return signal_names(self.models, self.lexical)

    def assess(self, r: Retrieval, lang: str) -> tuple[float, float, tuple[str, ...]]:
        """``(p_top, p_among, close candidate ids)`` for one retrieval."""
        if not r.candidates:
            return 0.0, 0.0, ()
        x = features(r, lang, self.signals)[None, :]
        close = close_candidates(scored(r), self.thresholds)
        return float(self.p_top.predict(x)[0]), float(self.p_among.predict(x)[0]), close

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibration:
        return cls(
            models=list(d["models"]),
            ranking=HybridWeights(**d["ranking"]),
            p_top=Logistic(**d["p_top"]),
            p_among=Logistic(**d["p_among"]),
            thresholds=Thresholds(**d["thresholds"]),
            meta=d.get("meta", {}),
            lexical=d.get("lexical", True),
        )

    @classmethod
    def load(cls, path: Path) -> Calibration:
        return cls.from_dict(json.loads(path.read_text()))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.to_json() + "\n")
        tmp.replace(path)


def scored(r: Retrieval) -> list[ScoredCandidate]:
    return [ScoredCandidate(c.entry_id, c.score) for c in r.candidates]


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Weighted mean gap between confidence and accuracy over equal-width bins."""
    p, y = np.asarray(p, dtype=float), np.asarray(y, dtype=float)
    if len(p) == 0:
        return 0.0
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            ece += m.mean() * abs(p[m].mean() - y[m].mean())
    return float(ece)


def lowest_threshold(p: np.ndarray, y: np.ndarray, target: float, min_support: int = 10) -> float:
    """Smallest t such that the items with probability >= t are right at least ``target`` of the time.

    Only cut points with at least ``min_support`` items count; if none reaches the target the
    threshold is set above every probability (never answer).
    """
    order = np.argsort(-p)
    ps, ys = p[order], y[order]
    hits = np.cumsum(ys)
    n = np.arange(1, len(ys) + 1)
    prec = hits / n
    best = 1.0 + 1e-9
    for i in range(len(ps)):
        # a cut is only valid after the last item with the same probability
        if i + 1 < len(ps) and ps[i + 1] == ps[i]:
            continue
        if n[i] >= min_support and prec[i] >= target:
            best = float(ps[i])
    return best
