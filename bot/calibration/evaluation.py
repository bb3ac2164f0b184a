"""Score a retriever + calibration on labelled questions: the metrics of docs/benchmarks.md."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

from bot.calibration.evalset import LabelledQuestion
from bot.calibration.model import Calibration, expected_calibration_error
from bot.flow import guard
from indexer.search import Retriever


@dataclass(frozen=True)
class Outcome:
    question: LabelledQuestion
    top: str | None
    kind: str
    p_top: float
    suggestions: tuple[str, ...]

    @property
    def in_scope(self) -> bool:
        return self.question.expected is not None

    @property
    def top_right(self) -> bool:
        return self.in_scope and self.top == self.question.expected


def run(
    retriever: Retriever,
    cal: Calibration,
    questions: Sequence[LabelledQuestion],
    vectors: dict[str, np.ndarray] | None = None,
) -> list[Outcome]:
    """Answer every question as the service would (guard, ranking weights, confidence, thresholds of ``cal``)."""
    texts = [q.question for q in questions]
    retriever.weights = cal.ranking
    rs = retriever.search_encoded(
        texts,
        vectors if vectors is not None else retriever.encode(texts),
        k=10,
        langs=[q.lang for q in questions],
    )
    out = []
    for r, q in zip(rs, questions, strict=True):
        p_top = cal.assess(r, q.lang)[0]
        d = cal.decide(r, q.lang, exact=retriever.exact(q.question), risk=guard.risk(q.question))
        top = r.candidates[0].entry_id if r.candidates else None
        out.append(Outcome(q, top, d.kind, p_top, d.suggestions))
    return out


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC of ``scores`` for ``labels`` (1 = right); NaN when only one class is present."""
    if len(set(np.asarray(labels).tolist())) < 2:
        return float("nan")
    return float(roc_auc_score(labels, scores))


def metrics(outcomes: Sequence[Outcome]) -> dict[str, float]:
    ins = [o for o in outcomes if o.in_scope]
    oos = [o for o in outcomes if not o.in_scope]
    answers = [o for o in outcomes if o.kind == "answer"]
    clar = [o for o in ins if o.kind == "clarify"]
    p = np.array([o.p_top for o in outcomes])
    y = np.array([1 if o.top_right else 0 for o in outcomes])
    return {
        "n_in": len(ins),
        "n_oos": len(oos),
        "top1": float(np.mean([o.top_right for o in ins])) if ins else float("nan"),
        "answer_rate": len(answers) / max(1, len(outcomes)),
        "answer_precision": float(np.mean([o.top_right for o in answers])) if answers else float("nan"),
        "coverage": sum(1 for o in ins if o.kind == "answer" and o.top_right) / max(1, len(ins)),
        "clarify_rate": len(clar) / max(1, len(ins)),
        "clarify_hit": float(np.mean([o.question.expected in o.suggestions for o in clar]))
        if clar
        else float("nan"),
        "oos_handoff": sum(1 for o in oos if o.kind == "handoff") / max(1, len(oos)) if oos else float("nan"),
        "auc": roc_auc(p, y),
        "ece": expected_calibration_error(p, y),
    }
