"""Pure decision logic: given scored candidates, answer, clarify or hand off?

No I/O, no models: everything it needs comes in as values, so it is tested with plain tables.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from escalation.models import HandoffReason


class ReplyKind(StrEnum):
    """What the desk does with a message; the widget and console read these values too."""

    ANSWER = "answer"
    CLARIFY = "clarify"
    HANDOFF = "handoff"
    INCIDENT_NOTE = "incident_note"  # the status note of a confirmed incident the question belongs to
    INCIDENT_RESOLVED = "incident_resolved"  # the notice that an incident the conversation was linked to is over


Kind = ReplyKind


@dataclass(frozen=True)
class Thresholds:
    """Fitted by the calibration for a target answer precision; never hard-coded in logic."""

    answer: float  # minimum P(top candidate is right) to answer
    clarify: float  # minimum P(right entry is among the suggestions) to ask "did you mean"
    clarify_margin: float  # suggestions are candidates whose score is within this of the top
    max_suggestions: int = 3
    overlap_margin: float = 0.0  # confusable entries this close to each other: ask, do not answer


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


def near_neighbours(
    candidates: Sequence[ScoredCandidate], th: Thresholds, confusable: Collection[tuple[str, str]]
) -> tuple[str, ...]:
    """The top candidate and the confusable entries scoring within ``overlap_margin`` of it, when any."""
    if len(candidates) < 2 or th.overlap_margin <= 0:
        return ()
    top = candidates[0]
    close = [
        c.entry_id
        for c in candidates[1:]
        if top.score - c.score <= th.overlap_margin and tuple(sorted((top.entry_id, c.entry_id))) in confusable
    ]
    return (top.entry_id, *close)[: th.max_suggestions] if close else ()


def decide(
    candidates: Sequence[ScoredCandidate],
    p_top: float,
    p_among: float,
    th: Thresholds,
    *,
    wants_human: bool = False,
    after_clarify: bool = False,
    confusable: Collection[tuple[str, str]] = (),
    risk: str | None = None,
    exact: str | None = None,
) -> Decision:
    """Choose the reply.

    ``p_top`` is the calibrated probability that the first candidate is right; ``p_among``
    that the right entry is among the close candidates. ``after_clarify`` is true when the
    previous bot turn already asked "did you mean": then a second miss goes to a person.
    ``confusable``: entry pairs (sorted) known to answer each other's questions; when the top two
    are such a pair and close, the bot asks which one is meant instead of answering.
    ``risk``: a reason the message must go to a person whatever the retrieval says (a request for
    someone else's data, a change of bank details, an attempt to instruct the bot).
    ``exact``: the one entry that has the message itself among its questions (an editor wrote it, or
    an agent linked it): the knowledge already decided that answer, so it is given.
    """
    if risk is not None:
        return Decision(ReplyKind.HANDOFF, risk, 0.0)
    if wants_human:
        return Decision(ReplyKind.HANDOFF, HandoffReason.CUSTOMER_REQUEST, p_top)
    if not candidates:
        return Decision(ReplyKind.HANDOFF, HandoffReason.MISSING_KNOWLEDGE, 0.0)
    if exact is not None and candidates[0].entry_id == exact:
        return Decision(ReplyKind.ANSWER, "exact_question", p_top)
    if p_top >= th.answer:
        siblings = () if after_clarify else near_neighbours(candidates, th, confusable)
        if len(siblings) >= 2:
            return Decision(ReplyKind.CLARIFY, "near_neighbours", p_top, siblings)
        return Decision(ReplyKind.ANSWER, "confident", p_top)
    suggestions = close_candidates(candidates, th)
    if not after_clarify and len(suggestions) >= 2 and p_among >= th.clarify:
        return Decision(ReplyKind.CLARIFY, "close_candidates", p_top, suggestions)
    return Decision(ReplyKind.HANDOFF, HandoffReason.LOW_CONFIDENCE, p_top)
