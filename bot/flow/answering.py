"""Turn a retrieval into a reply: curated answer text with its source, "did you mean", or hand-off."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from bot.flow import guard, phrases
from bot.flow.decision import Decision, ReplyKind
from bot.runtime import KnowledgeRuntime, Snapshot
from escalation.models import HandoffReason
from indexer.search import Retrieval
from knowledge.corpus import KnowledgeBase


@dataclass(frozen=True)
class Reply:
    kind: str
    text: str
    confidence: float
    reason: str
    sources: list[dict[str, Any]] = field(default_factory=list)
    suggestions: list[dict[str, Any]] = field(default_factory=list)
    candidates: list[dict[str, Any]] = field(default_factory=list)  # for the agent, on handoff
    # the question's query vectors per model, when it was retrieved (the spike detector reuses them)
    vectors: dict[str, np.ndarray] | None = field(default=None, compare=False, repr=False)
    incident_id: int | None = None  # kind incident_note: the confirmed incident whose status note this is

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "text": self.text,
            "confidence": round(self.confidence, 4),
            "sources": self.sources,
            "suggestions": self.suggestions,
        }
        if self.incident_id is not None:
            out["incident_id"] = self.incident_id
        return out


def candidate_rows(
    kb: KnowledgeBase, r: Retrieval | None, lang: str, p_top: float, k: int = 5
) -> list[dict[str, Any]]:
    """The bot's top candidates with their scores, as recorded on a handoff for the agent."""
    if r is None:
        return []
    rows = []
    for i, c in enumerate(r.candidates[:k]):
        if c.entry_id not in kb.entries:
            continue
        rows.append(
            {
                "id": c.entry_id,
                "title": kb.title(c.entry_id, lang),
                "score": round(c.score, 4),
                "signals": {s: round(v, 4) for s, v in c.signals.items()},
                "matched": c.doc.text,
                "confidence": round(p_top, 4) if i == 0 else None,
            }
        )
    return rows


class Answerer:
    def __init__(self, runtime: KnowledgeRuntime) -> None:
        self.runtime = runtime

    def retrieve(self, text: str, lang: str | None = None) -> Retrieval:
        return self.retrieve_encoded(text, lang)[0]

    def retrieve_encoded(
        self, text: str, lang: str | None = None, snap: Snapshot | None = None
    ) -> tuple[Retrieval, dict[str, np.ndarray]]:
        """The retrieval of ``text`` and its query vectors (encoded once, for the decision and the detector)."""
        snap = snap or self.runtime.snapshot
        vectors = snap.retriever.encode([text])
        found = snap.retriever.search_encoded(
            [text], vectors, k=10, langs=[lang] if lang else None, weights=snap.calibration.ranking
        )
        return found[0], vectors

    def respond(
        self,
        text: str,
        lang: str,
        *,
        wants_human: bool,
        after_clarify: bool,
        retrieval: Retrieval | None = None,
    ) -> Reply:
        snap = self.runtime.snapshot
        kb = snap.kb
        risk = guard.risk(text)
        if risk is not None:  # never answered from the FAQ, whatever the retrieval says
            return self.handoff(kb, Decision(ReplyKind.HANDOFF, risk, 0.0), None, lang)
        vectors: dict[str, np.ndarray] | None = None
        r = retrieval
        if r is None and not wants_human:
            r, vectors = self.retrieve_encoded(text, lang, snap)
        if r is None:
            return self.handoff(kb, Decision(ReplyKind.HANDOFF, HandoffReason.CUSTOMER_REQUEST, 0.0), None, lang)
        return replace(self._decide(snap, text, lang, r, wants_human, after_clarify), vectors=vectors)

    def _decide(
        self, snap: Snapshot, text: str, lang: str, r: Retrieval, wants_human: bool, after_clarify: bool
    ) -> Reply:
        kb = snap.kb
        decision = snap.calibration.decide(
            r, lang, wants_human=wants_human, after_clarify=after_clarify, exact=snap.retriever.exact(text)
        )
        p_top = decision.confidence
        if decision.kind == "answer":
            top = r.candidates[0]
            return self.answer(kb, top.entry_id, lang, p_top, top.score, decision.reason)
        if decision.kind == "clarify":
            return Reply(
                "clarify",
                phrases.text("clarify", lang),
                p_top,
                decision.reason,
                suggestions=[{"id": e, "title": kb.title(e, lang)} for e in decision.suggestions],
                candidates=candidate_rows(kb, r, lang, p_top),
            )
        return self.handoff(kb, decision, r, lang)

    def candidates_for(self, kb: KnowledgeBase, r: Retrieval, lang: str) -> list[dict[str, Any]]:
        p_top = self.runtime.snapshot.calibration.assess(r, lang)[0]
        return candidate_rows(kb, r, lang, p_top)

    def answer(
        self, kb: KnowledgeBase, entry_id: str, lang: str, confidence: float, score: float, reason: str
    ) -> Reply:
        entry, translated = kb.entry(entry_id, lang)
        body = entry.answer if translated else phrases.text("untranslated", lang) + entry.answer
        return Reply(
            "answer",
            body,
            confidence,
            reason,
            sources=[{"id": entry.id, "title": entry.title, "lang": entry.lang, "score": round(score, 4)}],
        )

    def handoff(
        self,
        kb: KnowledgeBase,
        decision: Decision,
        r: Retrieval | None,
        lang: str,
        candidates: list[dict[str, Any]] | None = None,
    ) -> Reply:
        """Hand off; the agent sees ``candidates`` (default: the retrieval's top entries with scores)."""
        key = phrases.HANDOFF_TEXT.get(decision.reason, "handoff_low_confidence")
        return Reply(
            "handoff",
            phrases.text(key, lang),
            decision.confidence,
            decision.reason,
            candidates=candidates
            if candidates is not None
            else candidate_rows(kb, r, lang, decision.confidence),
        )
