"""Pure decision logic: given scored candidates, answer, clarify or hand off?

No I/O, no models: everything it needs comes in as values, so it is tested with plain tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["answer", "clarify", "handoff"]


@dataclass(frozen=True)
class Thresholds:
    """Fitted by ``helpdesk calibrate`` for a target answer precision; never hard-coded in logic."""

    answer: float  # minimum P(top candidate is right) to answer
    clarify: float  # minimum P(right entry is among the suggestions) to ask "did you mean"
    clarify_margin: float  # suggestions are candidates whose score is within this of the top
    max_suggestions: int = 3


@dataclass(frozen=True)
class ScoredCandidate:
    entry_id: str
    score: float


@dataclass(frozen=True)
class Decision:
    kind: Kind
    reason: str
    confidence: float
    suggestions: tuple[str, ...] = field(default_factory=tuple)


def close_candidates(candidates: Sequence[ScoredCandidate], th: Thresholds) -> tuple[str, ...]:
    if not candidates:
        return ()
    top = candidates[0].score
    close = [c.entry_id for c in candidates if top - c.score <= th.clarify_margin]
    return tuple(close[: th.max_suggestions])


def decide(
    candidates: Sequence[ScoredCandidate],
    p_top: float,
    p_among: float,
    th: Thresholds,
    *,
    wants_human: bool = False,
    after_clarify: bool = False,
) -> Decision:
    """Choose the reply.

    ``p_top`` is the calibrated probability that the first candidate is right; ``p_among``
    that the right entry is among the close candidates. ``after_clarify`` is true when the
    previous bot turn already asked "did you mean": then a second miss goes to a person.
    """
    if wants_human:
        return Decision("handoff", "customer_request", p_top)
    if not candidates:
        return Decision("handoff", "missing_knowledge", 0.0)
    if p_top >= th.answer:
        return Decision("answer", "confident", p_top)
    suggestions = close_candidates(candidates, th)
    if not after_clarify and len(suggestions) >= 2 and p_among >= th.clarify:
        return Decision("clarify", "close_candidates", p_top, suggestions)
    return Decision("handoff", "low_confidence", p_top)
