"""A calibration: how entries are ranked, how sure the bot is, and when it may answer.

Three small models plus thresholds, fitted per knowledge base (``bot/calibration/fitting.py``):

1. ranking weights: a logistic regression over each candidate's signals (each model's cosine to
   the entry's questions and passages, the lexical scores);
2. ``p_top``: probability that the first candidate is right, from features of the retrieval (top
   score, margin to the runner-up, each signal's top value and margin, agreement between
   signals, whether the best text is in the customer's language, how much of the question the
   knowledge's vocabulary covers);
3. ``p_among``: probability that the right entry is among the close candidates offered in a "did
   you mean" question.

The answer threshold comes with a finite-sample guarantee (``bot/calibration/guarantee.py``); what
it rests on is kept in ``meta["guarantee"]`` and shown by ``helpdesk calibrate`` and ``/api/health``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bot.flow.decision import Decision, ScoredCandidate, Thresholds, close_candidates, decide
from indexer.search import BM25, CROSS, LEXICAL, PASSAGE, HybridWeights, Retrieval, signal_names

FORMAT = 2


def default_weights(models: Sequence[str]) -> HybridWeights:
    """Before calibration: the mean of the dense cosines (questions and passages) plus the lexical scores."""
    w: dict[str, float] = {}
    for m in models:
        w[m] = 0.6 / len(models)
        w[m + PASSAGE] = 0.4 / len(models)
    w[LEXICAL] = 0.3
    w[LEXICAL + PASSAGE] = 0.1
    w[BM25] = 0.3
    return HybridWeights(w)


def cross_default(weights: HybridWeights) -> HybridWeights:
    """Default weights for an entry lacking the customer's language: the cross-lingual cosines count."""
    w = dict(weights.weights)
    for k in list(w):
        if k in (LEXICAL, LEXICAL + PASSAGE, BM25) or k.endswith(CROSS):
            continue
        w[k + CROSS] = w.pop(k)
    return HybridWeights(weights.weights, weights.bias, w, weights.bias)


@dataclass(frozen=True)
class Logistic:
    features: list[str]
    coef: list[float]
    intercept: float
    mean: list[float] | None = None  # standardisation applied before the coefficients
    scale: list[float] | None = None

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.mean is not None and self.scale is not None:
            x = (x - np.asarray(self.mean)) / np.asarray(self.scale)
        z = x @ np.asarray(self.coef) + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def feature_names(signals: Sequence[str]) -> list[str]:
    return (
        ["top", "margin", "margin3"]
        + [f"{s}_top" for s in signals]
        + [f"{s}_margin" for s in signals]
        + ["agreement", "lang_match", "coverage", "log_len"]
    )


def features(r: Retrieval, lang: str, signals: Sequence[str]) -> np.ndarray:
    """Features of one retrieval, in ``feature_names`` order."""
    c = r.candidates
    if not c:
        return np.zeros(len(feature_names(signals)))
    second = c[1].score if len(c) > 1 else c[0].score - 10.0
    third = c[2].score if len(c) > 2 else second - 10.0
    top = [c[0].signals.get(s, 0.0) for s in signals]
    margins = [
        c[0].signals.get(s, 0.0) - max((x.signals.get(s, 0.0) for x in c[1:]), default=-1.0) for s in signals
    ]
    return np.array(
        [
            c[0].score,
            min(c[0].score - second, 10.0),
            min(c[0].score - third, 10.0),
            *top,
            *margins,
            r.agreement,
            1.0 if c[0].doc.lang == lang else 0.0,
            r.extra.get("coverage", 1.0),
            float(np.log1p(len(r.query))),
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
    lexical: bool = True  # whether the lexical signals are used
    passages: bool = True  # whether answer passages are used
    confusable: list[list[str]] = field(default_factory=list)  # entry pairs that answer each other's questions
    format: int = FORMAT

    @property
    def confusable_pairs(self) -> frozenset[tuple[str, str]]:
        return frozenset((a, b) for a, b in self.confusable)

    @property
    def signals(self) -> list[str]:
        return signal_names(self.models, self.lexical, self.passages)

    def assess(self, r: Retrieval, lang: str) -> tuple[float, float, tuple[str, ...]]:
        """``(p_top, p_among, close candidate ids)`` for one retrieval."""
        if not r.candidates:
            return 0.0, 0.0, ()
        x = features(r, lang, self.signals)[None, :]
        close = close_candidates(scored(r), self.thresholds)
        return float(self.p_top.predict(x)[0]), float(self.p_among.predict(x)[0]), close

    def decide(
        self,
        r: Retrieval,
        lang: str,
        *,
        wants_human: bool = False,
        after_clarify: bool = False,
        risk: str | None = None,
        exact: str | None = None,
    ) -> Decision:
        p_top, p_among, _ = self.assess(r, lang)
        return decide(
            scored(r),
            p_top,
            p_among,
            self.thresholds,
            wants_human=wants_human,
            after_clarify=after_clarify,
            confusable=self.confusable_pairs,
            risk=risk,
            exact=exact,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibration:
        if d.get("format") != FORMAT:
            raise ValueError(
                f"calibration format {d.get('format')} is not {FORMAT}; run `helpdesk calibrate` to fit it again"
            )
        return cls(
            models=list(d["models"]),
            ranking=HybridWeights(**d["ranking"]),
            p_top=Logistic(**d["p_top"]),
            p_among=Logistic(**d["p_among"]),
            thresholds=Thresholds(**d["thresholds"]),
            meta=d.get("meta", {}),
            lexical=d.get("lexical", True),
            passages=d.get("passages", True),
            confusable=[list(p) for p in d.get("confusable", [])],
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
    """Smallest t such that the items with probability >= t are right at least ``target`` of the time
    (a point estimate; used for baselines and the clarify threshold, not for answering).

    Only cut points with at least ``min_support`` items count; if none reaches the target the
    threshold is set above every probability.
    """
    order = np.argsort(-p)
    ps, ys = p[order], y[order]
    hits = np.cumsum(ys)
    n = np.arange(1, len(ys) + 1)
    prec = hits / n
    best = 1.0 + 1e-9
    for i in range(len(ps)):
        if i + 1 < len(ps) and ps[i + 1] == ps[i]:
            continue
        if n[i] >= min_support and prec[i] >= target:
            best = float(ps[i])
    return best
