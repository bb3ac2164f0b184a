"""Content gaps: the questions the desk did not answer well, grouped by meaning, each group with a draft.

The questions are handoffs for want of an answer (low confidence, nothing close, "none of these",
"not what I asked") and answers customers marked not helpful (:meth:`ContentRepo.gap_questions`).
They are embedded with the desk's e5 (the query vectors the answer decision uses), centred on the
mean of the knowledge's own question vectors (e5's cosines are anisotropic: any two questions score
about 0.8) and grouped by :func:`indexer.clustering.communities` at the threshold chosen on
banking77 (``bench/gaps.py``). Groups are ranked by volume.

For each group the draft FAQ entry is extractive: its title is the group's most central question,
its alternative questions the other distinct ones, its answer the agents' resolution most like the
others (the medoid of the resolutions), every text with personal data replaced by placeholders
(:func:`knowledge.pii.redact`). Nothing is invented; an editor reviews and edits it before it is
published.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from bot.runtime import KnowledgeRuntime, Snapshot
from escalation.storage import Storage
from indexer.clustering import DEFAULT_THRESHOLD, communities
from indexer.search import Retriever
from knowledge.errors import FaqFormatError
from knowledge.faq import render_faq
from knowledge.lang import LANGS
from knowledge.pii import redact

MAX_QUESTIONS = 8  # alternative questions a draft lists
CACHE_SECONDS = 30.0
STOP = {
    "a", "an", "the", "i", "my", "me", "we", "our", "you", "your", "it", "is", "are", "do", "does", "did", "can",
    "could", "how", "what", "why", "when", "where", "which", "who", "to", "of", "in", "on", "for", "with", "and",
    "or", "be", "get", "there", "this", "that", "please", "hi", "hello", "not", "no", "any", "way", "at", "from",
    "by", "if", "as", "so", "am", "was", "will", "would", "should",
}


@dataclass(frozen=True)
class Decided:
    """What a retriever and calibration decide for one question."""

    kind: str  # answer | clarify | handoff
    entry_id: str | None  # the entry answered from
    confidence: float

    def public(self) -> dict[str, Any]:
        return {"kind": self.kind, "entry_id": self.entry_id, "confidence": round(self.confidence, 4)}


def decide_all(
    retriever: Retriever, snap: Snapshot, texts: Sequence[str], langs: Sequence[str], vectors: dict[str, np.ndarray]
) -> list[Decided]:
    """The answer decision for each text, as a customer asking it now would get it (no clarify round)."""
    if not texts:
        return []
    found = retriever.search_encoded(texts, vectors, k=10, langs=langs, weights=snap.calibration.ranking)
    out = []
    for text, lang, r in zip(texts, langs, found, strict=True):
        d = snap.calibration.decide(r, lang, exact=retriever.exact(text))
        entry = r.candidates[0].entry_id if d.kind == "answer" and r.candidates else None
        out.append(Decided(d.kind, entry, d.confidence))
    return out


def covers(d: Decided | None, rejected: str | None, linked: str | None = None) -> bool:
    """The desk answers the question, not with the answer the customer already rejected, and (when the
    agent linked the resolution to an FAQ entry) from that entry."""
    return d is not None and d.kind == "answer" and d.entry_id != rejected and linked in (None, d.entry_id)


@dataclass
class GapQuestion:
    key: str  # handoff:<id> | message:<id>
    text: str  # redacted
    lang: str
    reason: str
    channel: str
    created_at: str
    conversation_id: str
    handoff_id: int | None
    resolution: str | None  # the agent's answer, redacted
    rejected: str | None = None  # the entry whose answer the customer rejected
    linked: str | None = None  # the FAQ entry the agent linked the resolution to
    now: Decided | None = None  # what the desk would do with it today

    def public(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "text": self.text,
            "lang": self.lang,
            "reason": self.reason,
            "channel": self.channel,
            "created_at": self.created_at,
            "conversation_id": self.conversation_id,
            "handoff_id": self.handoff_id,
            "resolution": self.resolution,
            "rejected_entry": self.rejected,
            "now": self.now.public() if self.now else None,
            "linked_entry": self.linked,
            "covered": covers(self.now, self.rejected, self.linked),
        }


@dataclass
class DraftEntry:
    """A proposed FAQ entry (one language), in the fields of the markdown format."""

    id: str
    lang: str
    title: str
    questions: list[str]
    answer: str
    tags: list[str] = field(default_factory=list)

    def markdown(self) -> str | None:
        """The file as it would be published, or None while it would not load (e.g. no answer yet)."""
        try:
            return render_faq(self.id, self.lang, self.title, self.questions, self.answer, self.tags)
        except FaqFormatError:
            return None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "lang": self.lang,
            "title": self.title,
            "questions": self.questions,
            "answer": self.answer,
            "tags": self.tags,
            "markdown": self.markdown(),
        }


@dataclass
class GapCluster:
    key: str  # "g-" + hash of its earliest question's key
    questions: list[GapQuestion]  # the most central first
    draft: DraftEntry
    missing_lang: str | None

    @property
    def covered(self) -> int:
        return sum(1 for q in self.questions if covers(q.now, q.rejected, q.linked))

    def public(self, full: bool = True) -> dict[str, Any]:
        qs = self.questions
        resolutions = list(dict.fromkeys(q.resolution for q in qs if q.resolution))
        out: dict[str, Any] = {
            "key": self.key,
            "size": len(qs),
            "title": self.draft.title,
            "langs": dict(Counter(q.lang for q in qs)),
            "reasons": dict(Counter(q.reason for q in qs)),
            "channels": dict(Counter(q.channel for q in qs)),
            "first_seen": min(q.created_at for q in qs),
            "last_seen": max(q.created_at for q in qs),
            "covered_now": self.covered,
            "resolved": sum(1 for q in qs if q.resolution),
            "missing_lang": self.missing_lang,
        }
        if full:
            out["questions"] = [q.public() for q in qs]
            out["resolutions"] = resolutions
            out["draft"] = self.draft.public()
        return out


def slug(text: str, fallback: str) -> str:
    """An FAQ id from a question: its first content words, lowercase, dashed (ids are ASCII)."""
    words = [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOP and len(w) > 1]
    out = "-".join(words[:5])
    return out[:60].strip("-") or fallback


def _title(text: str) -> str:
    t = " ".join(text.split())
    t = t[:1].upper() + t[1:]
    if t and t[-1] not in "?？.。!！":
        t += "？" if any("\u4e00" <= c <= "\u9fff" for c in t) else "?"
    return t


def medoid(texts: Sequence[str], vectors: np.ndarray | None) -> int:
    """The row whose vector is on average closest to the others (the most typical text)."""
    if len(texts) <= 2 or vectors is None:
        return max(range(len(texts)), key=lambda i: len(texts[i]))  # of two, the fuller one
    sims = vectors @ vectors.T
    return int(np.argmax(sims.sum(axis=1)))


class ContentGaps:
    """Gap clusters of the recent past, computed on request and cached briefly."""

    def __init__(self, runtime: KnowledgeRuntime, storage: Storage, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.runtime = runtime
        self.storage = storage
        self.threshold = threshold
        self._lock = threading.Lock()
        self._cache: tuple[Any, float, list[GapCluster]] | None = None

    @property
    def model(self) -> str:
        """The embedding the clusters are cut in: e5 when the desk has it (the threshold is e5's)."""
        names = [e.name for e in self.runtime.index.embedders]
        return next((n for n in names if "e5" in n), names[0])

    def clusters(self, days: int = 30, limit: int = 1000) -> list[GapCluster]:
        since = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="microseconds")
        rows = self.storage.content.gap_questions(since, limit)
        snap = self.runtime.snapshot
        key = (days, limit, snap.kb.content_hash, id(snap.calibration), tuple(r["key"] for r in rows))
        with self._lock:
            if self._cache and self._cache[0] == key and time.monotonic() - self._cache[1] < CACHE_SECONDS:
                return self._cache[2]
        found = self._compute(rows, snap)
        with self._lock:
            self._cache = (key, time.monotonic(), found)
        return found

    def find(self, cluster_key: str, days: int = 30) -> GapCluster | None:
        return next((c for c in self.clusters(days) if c.key == cluster_key), None)

    def forget(self) -> None:
        with self._lock:
            self._cache = None

    def _compute(self, rows: list[dict[str, Any]], snap: Snapshot) -> list[GapCluster]:
        if not rows:
            return []
        qs = [
            GapQuestion(
                key=r["key"],
                text=redact(r["text"].strip()),
                lang=r["lang"] if r["lang"] in LANGS else "en",
                reason=r["reason"],
                channel=r["channel"] or "widget",
                created_at=r["created_at"],
                conversation_id=r["conversation_id"],
                handoff_id=int(r["handoff_id"]) if r["handoff_id"] is not None else None,
                resolution=redact(r["resolution"].strip()) if (r["resolution"] or "").strip() else None,
                rejected=r["rejected_entry"],
                linked=r["resolution_faq_id"],
            )
            for r in rows
        ]
        texts = [q.text for q in qs]
        vectors = snap.retriever.encode(texts)
        for q, d in zip(qs, decide_all(snap.retriever, snap, texts, [q.lang for q in qs], vectors), strict=True):
            q.now = d
        model = self.model
        faq_vectors = snap.retriever.store.faq.vectors(model)
        centre = faq_vectors.mean(axis=0) if len(faq_vectors) else None
        groups = communities(vectors[model], self.threshold, centre=centre)
        out = []
        for g in groups:
            members = [qs[i] for i in g.members]
            out.append(self._cluster(members))
        out.sort(key=lambda c: (-len(c.questions), c.covered, c.questions[0].created_at))
        return out

    def _cluster(self, members: list[GapQuestion]) -> GapCluster:
        # named by its earliest question: stable while that one stays in it (the most central one is
        # not: in a pair both are equally central, and a publication shifts the centre)
        first = min(members, key=lambda q: (q.created_at, q.key))
        key = "g-" + hashlib.sha256(first.key.encode()).hexdigest()[:12]
        lang = Counter(q.lang for q in members).most_common(1)[0][0]
        same = [q for q in members if q.lang == lang]
        title = _title(same[0].text)
        seen = {title.casefold()}
        alternatives = []
        for q in same[1:]:
            t = " ".join(q.text.split())
            if t.casefold() not in seen:
                seen.add(t.casefold())
                alternatives.append(t)
        resolutions = list(dict.fromkeys(q.resolution for q in same if q.resolution)) or list(
            dict.fromkeys(q.resolution for q in members if q.resolution)
        )
        answer = ""
        if resolutions:
            vecs = None
            if len(resolutions) > 2:
                vecs = self.runtime.snapshot.retriever.encode(resolutions)[self.model]
            answer = resolutions[medoid(resolutions, vecs)]
        english = next((q.text for q in members if q.lang == "en"), "")
        entry_id = slug(english or title, "faq-" + key[2:10])
        draft = DraftEntry(entry_id, lang, title, alternatives[:MAX_QUESTIONS] or [title.rstrip("?？")], answer)
        missing = next((x for x in LANGS if x != lang), None)  # a draft is one language; editors add the other
        return GapCluster(key, members, draft, missing)
