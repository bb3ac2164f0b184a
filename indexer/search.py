"""Hybrid retrieval: dense similarity from each model plus a character n-gram signal, per FAQ entry."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from indexer.embedders import Embedder
from indexer.lexical import CharNgramIndex
from indexer.store import Partition, VectorStore
from knowledge.corpus import Doc
from knowledge.lang import detect_language

LEXICAL = "lexical"
CROSS = "~x"  # suffix: the model's best similarity among texts in the *other* language


def encode_all(embedders: Sequence[Embedder], texts: Sequence[str]) -> dict[str, np.ndarray]:
    return {e.name: e.encode(list(texts)) for e in embedders}


def signal_names(models: Sequence[str], lexical: bool = True) -> list[str]:
    """Ranking signals: per model the best cosine over all texts and over other-language texts."""
    return [*models, *(m + CROSS for m in models), *([LEXICAL] if lexical else [])]


DENSE_DEPTH = 512  # docs fetched per model before aggregating per entry


@dataclass(frozen=True)
class HybridWeights:
    """Linear weights of each signal in the ranking score (fitted by ``helpdesk calibrate``).

    ``cross``/``cross_bias``, when fitted, score entries that have no translation in the
    customer's language (only a cross-lingual match is possible for them); both scores are
    log-odds that the entry is the right one, so they compare directly.
    """

    weights: dict[str, float]
    bias: float = 0.0
    cross: dict[str, float] | None = None
    cross_bias: float = 0.0


@dataclass(frozen=True)
class Candidate:
    entry_id: str
    score: float  # hybrid ranking score
    signals: dict[str, float]  # per model cosine and lexical similarity, best over the entry's texts
    doc: Doc  # the entry's text that matched best (by the first model)


@dataclass(frozen=True)
class SimilarTicket:
    ticket_id: str
    score: float
    entry_id: str | None


@dataclass
class Retrieval:
    query: str
    candidates: list[Candidate]
    agreement: float = 0.0  # share of signals whose own best entry is the top candidate
    extra: dict[str, float] = field(default_factory=dict)


class Retriever:
    """Ranks FAQ entries for a question. Thread-safe; new linked questions can be added live."""

    def __init__(
        self,
        store: VectorStore,
        embedders: Sequence[Embedder],
        weights: HybridWeights,
        encoder: Callable[[Sequence[str]], dict[str, np.ndarray]] | None = None,
    ) -> None:
        self.store = store
        self.embedders = list(embedders)
        self.weights = weights
        self._encoder = encoder  # e.g. a MicroBatcher shared by concurrent requests
        self._lock = threading.RLock()
        self._reindex_faq()

    def _reindex_faq(self) -> None:
        faq: Partition = self.store.faq
        self.entry_ids: list[str] = sorted({d.entry_id for d in faq.docs if d.entry_id})
        pos = {e: i for i, e in enumerate(self.entry_ids)}
        self._doc_entry = np.array([pos[d.entry_id] for d in faq.docs if d.entry_id], dtype=np.int64)
        self._doc_zh = np.array([d.lang == "zh" for d in faq.docs], dtype=bool)
        # which entries have a text (title, question or linked ticket) in each language
        self._entry_has = {
            lang: np.isin(np.arange(len(self.entry_ids)), self._doc_entry[[d.lang == lang for d in faq.docs]])
            for lang in ("en", "zh")
        }
        self._lexical = CharNgramIndex([d.text for d in faq.docs])

    @property
    def signal_names(self) -> list[str]:
        return signal_names([e.name for e in self.embedders])

    def encode(self, queries: Sequence[str]) -> dict[str, np.ndarray]:
        if self._encoder is not None:
            return self._encoder(queries)
        return encode_all(self.embedders, queries)

    def search(self, query: str, k: int = 10, lang: str | None = None) -> Retrieval:
        return self.search_encoded([query], self.encode([query]), k, [lang] if lang else None)[0]

    def search_many(self, queries: Sequence[str], k: int = 10) -> list[Retrieval]:
        return self.search_encoded(queries, self.encode(queries), k)

    def search_encoded(
        self,
        queries: Sequence[str],
        vectors: dict[str, np.ndarray],
        k: int = 10,
        langs: Sequence[str] | None = None,
    ) -> list[Retrieval]:
        langs = langs or [detect_language(q) for q in queries]
        with self._lock:
            return [
                self._rank(q, {n: v[i : i + 1] for n, v in vectors.items()}, k, langs[i])
                for i, q in enumerate(queries)
            ]

    @staticmethod
    def _best_per_entry(
        ents: np.ndarray, s: np.ndarray, i: np.ndarray, n: int, floor: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Max score per entry (hits arrive sorted by score, so an entry's first hit is its best)."""
        agg = np.full(n, floor, dtype=np.float32)
        arg = np.full(n, -1, dtype=np.int64)
        order = np.unique(ents, return_index=True)[1]
        agg[ents[order]] = s[order]
        arg[ents[order]] = i[order]
        return agg, arg

    def _rank(self, query: str, vectors: dict[str, np.ndarray], k: int, lang: str) -> Retrieval:
        faq = self.store.faq
        n_entries = len(self.entry_ids)
        if n_entries == 0:
            return Retrieval(query, [])
        per_signal: dict[str, np.ndarray] = {}
        best_doc: dict[str, np.ndarray] = {}
        for name, vec in vectors.items():
            scores, ids = faq.search(name, vec, DENSE_DEPTH)
            s, i = scores[0], ids[0]
            keep = i >= 0
            s, i = s[keep], i[keep]
            floor = float(s.min()) if len(s) else 0.0
            ents = self._doc_entry[i]
            per_signal[name], best_doc[name] = self._best_per_entry(ents, s, i, n_entries, floor)
            other = self._doc_zh[i] != (lang == "zh")
            per_signal[name + CROSS] = self._best_per_entry(
                ents[other], s[other], i[other], n_entries, floor
            )[0]
        lex_docs = self._lexical.scores(query)
        lex = np.zeros(n_entries, dtype=np.float32)
        np.maximum.at(lex, self._doc_entry, lex_docs.astype(np.float32))
        per_signal[LEXICAL] = lex

        w = self.weights
        hybrid = np.full(n_entries, w.bias, dtype=np.float32)
        for name, vals in per_signal.items():
            hybrid += w.weights.get(name, 0.0) * vals
        if w.cross is not None:
            cross = np.full(n_entries, w.cross_bias, dtype=np.float32)
            for name, vals in per_signal.items():
                cross += w.cross.get(name, 0.0) * vals
            has = self._entry_has.get(lang)
            if has is not None:
                hybrid = np.where(has, hybrid, cross)
        top = np.argsort(-hybrid)[:k]
        first = self.embedders[0].name
        cands = []
        for e in top:
            doc_i = int(best_doc[first][e])
            if doc_i < 0:
                doc_i = int(np.flatnonzero(self._doc_entry == e)[0])
            cands.append(
                Candidate(
                    entry_id=self.entry_ids[e],
                    score=float(hybrid[e]),
                    signals={n: float(v[e]) for n, v in per_signal.items()},
                    doc=faq.docs[doc_i],
                )
            )
        winners = [int(np.argmax(v)) for n, v in per_signal.items() if not n.endswith(CROSS)]
        agreement = sum(1 for x in winners if x == top[0]) / len(winners)
        return Retrieval(query, cands, agreement)

    def similar_tickets(self, query: str, k: int = 5) -> list[SimilarTicket]:
        """Past resolved tickets close to ``query`` (linked or not), for agents only."""
        first = self.embedders[0]  # tickets are embedded with the first model only
        name, vec = first.name, first.encode([query])
        found: list[SimilarTicket] = []
        with self._lock:
            for part in (self.store.faq, self.store.tickets):
                scores, ids = part.search(name, vec, max(k * 8, 32))
                for s, i in zip(scores[0], ids[0], strict=True):
                    d = part.docs[int(i)] if i >= 0 else None
                    if d is not None and d.kind == "ticket" and d.ticket_id:
                        found.append(SimilarTicket(d.ticket_id, float(s), d.entry_id))
        found.sort(key=lambda t: -t.score)
        return found[:k]

    def add_docs(self, docs: Sequence[Doc]) -> None:
        """Make new texts (e.g. a question an agent linked to an entry) answerable now, without a rebuild."""
        if not docs:
            return
        vectors = {e.name: e.encode([d.text for d in docs]) for e in self.embedders}
        linked = [i for i, d in enumerate(docs) if d.entry_id]
        unlinked = [i for i, d in enumerate(docs) if not d.entry_id]
        with self._lock:
            if linked:
                self.store.faq.add([docs[i] for i in linked], {n: v[linked] for n, v in vectors.items()})
                self._reindex_faq()
            if unlinked:
                self.store.tickets.add(
                    [docs[i] for i in unlinked], {n: v[unlinked] for n, v in vectors.items()}
                )
