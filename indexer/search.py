"""Hybrid retrieval: per FAQ entry, dense similarity from each model over its questions and over its
answer passages, plus lexical signals (character n-grams, BM25 with typo correction).

Signals, each one number per entry (the best over the entry's texts):

- ``<model>``: cosine of the question to the entry's title, alternative questions and linked
  ticket questions; ``<model>~x`` the same over those texts in the *other* language only;
- ``<model>@p``: cosine to the entry's answer passages; ``<model>@p~x`` in the other language;
- ``lexical``: character 1-3-gram TF-IDF cosine to the questions; ``lexical@p`` to the passages;
- ``bm25``: BM25 of the question's words against all the entry's texts, normalised to [0, 1).

The FAQ partition is small (thousands of texts), so similarities are computed exactly for all its
texts at once, which also makes leave-one-out scoring (``Exclusion``) a matter of masking: the
calibration asks each alternative question with itself left out, or with its whole entry left out.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from indexer.embedders import Embedder
from indexer.lexical import Bm25Index, CharNgramIndex, Terms
from indexer.store import Partition, VectorStore
from knowledge.corpus import Doc
from knowledge.lang import detect_language

LEXICAL = "lexical"
BM25 = "bm25"
CROSS = "~x"  # suffix: the model's best similarity among texts in the *other* language
PASSAGE = "@p"  # suffix: over answer passages instead of questions
NEG = -1.0  # similarity of an entry with no text in a group (below every cosine in practice)
SCORE_CHUNK = 256  # questions scored together (memory: chunk x FAQ texts per model)


_NOT_WORD = re.compile(r"[\W_]+")


def _exact_key(text: str) -> str:
    return _NOT_WORD.sub(" ", text.lower()).strip()


def encode_all(embedders: Sequence[Embedder], texts: Sequence[str]) -> dict[str, np.ndarray]:
    return {e.name: e.encode(list(texts)) for e in embedders}


def signal_names(models: Sequence[str], lexical: bool = True, passages: bool = True) -> list[str]:
    """Ranking signals, in a fixed order."""
    names = [*models, *(m + CROSS for m in models)]
    if passages:
        names += [*(m + PASSAGE for m in models), *(m + PASSAGE + CROSS for m in models)]
    if lexical:
        names += [LEXICAL, *([LEXICAL + PASSAGE] if passages else []), BM25]
    return names


@dataclass(frozen=True)
class HybridWeights:
    """Linear weights of each signal in the ranking score (fitted by the calibration).

    ``cross``/``cross_bias``, when fitted, score entries that have no translation in the
    customer's language (only a cross-lingual match is possible for them); both scores are
    log-odds that the entry is the right one, so they compare directly.
    """

    weights: dict[str, float]
    bias: float = 0.0
    cross: dict[str, float] | None = None
    cross_bias: float = 0.0


@dataclass(frozen=True)
class Exclusion:
    """What to leave out when scoring one question (leave-one-out calibration)."""

    docs: tuple[int, ...] = ()  # FAQ texts left out, e.g. the alternative question being asked
    entry: str | None = None  # an entry left out entirely: the right answer is absent
    only_lang: str | None = None  # keep only texts in this language (an FAQ lacking the asker's)


@dataclass(frozen=True)
class Candidate:
    entry_id: str
    score: float  # hybrid ranking score
    signals: dict[str, float]  # each signal's value for this entry
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


@dataclass
class Scored:
    """Every signal for every entry, for one question (before ranking)."""

    signals: dict[str, np.ndarray]
    present: np.ndarray  # entries that may be ranked (not left out)
    has_lang: np.ndarray  # entries with a text in the asker's language
    best_doc: np.ndarray  # per entry, index of its best-matching text by the first model
    coverage: float = 1.0  # share of the question's terms found in the knowledge


class Retriever:
    """Ranks FAQ entries for a question. Thread-safe; new linked questions can be added live."""

    def __init__(
        self,
        store: VectorStore,
        embedders: Sequence[Embedder],
        weights: HybridWeights,
        encoder: Callable[[Sequence[str]], dict[str, np.ndarray]] | None = None,
        terms: Terms | None = None,
    ) -> None:
        """``terms``: the word splitter for BM25, knowing the knowledge's key terms (``Terms(kb.key_terms())``)."""
        self.store = store
        self.embedders = list(embedders)
        self.weights = weights
        self._encoder = encoder  # e.g. a MicroBatcher shared by concurrent requests
        self._lock = threading.RLock()
        self._terms = terms
        self._reindex_faq()

    def _reindex_faq(self) -> None:
        faq: Partition = self.store.faq
        docs = faq.docs
        self.entry_ids: list[str] = sorted({d.entry_id for d in docs if d.entry_id})
        self._pos = {e: i for i, e in enumerate(self.entry_ids)}
        n = len(self.entry_ids)
        self._doc_entry = np.array([self._pos[d.entry_id] for d in docs if d.entry_id], dtype=np.int64)
        if len(self._doc_entry) != len(docs):
            raise ValueError("every FAQ-partition text must belong to an entry")
        self._doc_lang = np.array([d.lang for d in docs])
        self._doc_passage = np.array([d.is_passage for d in docs], dtype=bool)
        self._vectors = {e.name: faq.vectors(e.name) for e in self.embedders if e.name in faq.indexes}
        self._entry_has = {
            lang: np.bincount(self._doc_entry[self._doc_lang == lang], minlength=n) > 0 for lang in ("en", "zh")
        }
        # one column order per group of texts, sorted by entry, for a vectorised max per entry
        self._groups: dict[tuple[bool, str | None], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for passage in (False, True):
            for lang in (None, "en", "zh"):
                mask = self._doc_passage == passage
                if lang is not None:
                    mask &= self._doc_lang == lang
                cols = np.flatnonzero(mask)
                cols = cols[np.argsort(self._doc_entry[cols], kind="stable")]
                ents = self._doc_entry[cols]
                starts = np.flatnonzero(np.r_[True, ents[1:] != ents[:-1]]) if len(ents) else ents
                self._groups[(passage, lang)] = (cols, ents[starts] if len(ents) else ents, starts)
        texts = [d.text for d in docs]
        owners: dict[str, set[str]] = {}
        for d in docs:
            if d.kind in ("title", "question", "ticket") and d.entry_id:
                owners.setdefault(_exact_key(d.text), set()).add(d.entry_id)
        self._exact = {k: next(iter(v)) for k, v in owners.items() if len(v) == 1}
        self._lexical = CharNgramIndex(texts)
        if self._terms is None:
            self._terms = Terms()
        self._bm25 = Bm25Index(texts, self._terms, self._doc_entry, self._doc_lang.tolist(), n)

    @property
    def signal_names(self) -> list[str]:
        return signal_names([e.name for e in self.embedders])

    def encode(self, queries: Sequence[str]) -> dict[str, np.ndarray]:
        if self._encoder is not None:
            return self._encoder(queries)
        return encode_all(self.embedders, queries)

    def search(
        self, query: str, k: int = 10, lang: str | None = None, weights: HybridWeights | None = None
    ) -> Retrieval:
        return self.search_encoded([query], self.encode([query]), k, [lang] if lang else None, weights=weights)[0]

    def search_encoded(
        self,
        queries: Sequence[str],
        vectors: dict[str, np.ndarray],
        k: int = 10,
        langs: Sequence[str] | None = None,
        exclusions: Sequence[Exclusion | None] | None = None,
        weights: HybridWeights | None = None,
    ) -> list[Retrieval]:
        langs = list(langs) if langs else [detect_language(q) for q in queries]
        with self._lock:
            scored = self._score(queries, vectors, langs, exclusions)
            return [self.rank(q, s, k, weights) for q, s in zip(queries, scored, strict=True)]

    # -- signals -----------------------------------------------------------------------------------

    def _max_per_entry(self, sims: np.ndarray, passage: bool, lang: str | None) -> np.ndarray:
        """``sims``: (queries, docs). Max per entry over the group's texts; NEG where it has none."""
        cols, ents, starts = self._groups[(passage, lang)]
        out = np.full((sims.shape[0], len(self.entry_ids)), NEG, dtype=np.float32)
        if len(cols):
            out[:, ents] = np.maximum.reduceat(sims[:, cols], starts, axis=1)
        return out

    def score(
        self,
        queries: Sequence[str],
        vectors: dict[str, np.ndarray],
        langs: Sequence[str],
        exclusions: Sequence[Exclusion | None] | None = None,
    ) -> list[Scored]:
        """All signals for all entries, for each question (vectorised over chunks of questions)."""
        out: list[Scored] = []
        excl = list(exclusions) if exclusions is not None else [None] * len(queries)
        for start in range(0, len(queries), SCORE_CHUNK):
            end = start + SCORE_CHUNK
            # the lock per chunk, not for the whole call: a calibration scoring thousands of
            # questions in the background must not make a customer's search wait for all of them
            with self._lock:
                out += self._score(
                    queries[start:end],
                    {name: v[start:end] for name, v in vectors.items()},
                    langs[start:end],
                    excl[start:end],
                )
            time.sleep(0)  # let a waiting request take the lock between chunks
        return out

    def _score(
        self,
        queries: Sequence[str],
        vectors: dict[str, np.ndarray],
        langs: Sequence[str],
        exclusions: Sequence[Exclusion | None] | None,
    ) -> list[Scored]:
        nq, n = len(queries), len(self.entry_ids)
        if n == 0:
            return [Scored({}, np.zeros(0, bool), np.zeros(0, bool), np.zeros(0, np.int64)) for _ in queries]
        excl = list(exclusions) if exclusions is not None else [None] * nq
        # which texts each question may see
        visible = np.ones((nq, len(self._doc_entry)), dtype=bool)
        present = np.ones((nq, n), dtype=bool)
        for i, ex in enumerate(excl):
            if ex is None:
                continue
            if ex.docs:
                visible[i, list(ex.docs)] = False
            if ex.entry is not None and ex.entry in self._pos:
                e = self._pos[ex.entry]
                visible[i, self._doc_entry == e] = False
                present[i, e] = False
            if ex.only_lang is not None:
                visible[i, self._doc_lang != ex.only_lang] = False
        lang_zh = np.array([lg == "zh" for lg in langs])
        other_lang = np.where(lang_zh[:, None], self._doc_lang[None, :] != "zh", self._doc_lang[None, :] == "zh")
        signals: dict[str, np.ndarray] = {}
        best_doc = np.zeros((nq, n), dtype=np.int64)
        for m_i, (name, docvecs) in enumerate(self._vectors.items()):
            sims = vectors[name] @ docvecs.T
            sims = np.where(visible, sims, NEG).astype(np.float32)
            cross = np.where(other_lang, sims, NEG).astype(np.float32)
            for passage, suffix in ((False, ""), (True, PASSAGE)):
                signals[name + suffix] = self._max_per_entry(sims, passage, None)
                signals[name + suffix + CROSS] = self._max_per_entry(cross, passage, None)
            if m_i == 0:
                best_doc = self._argmax_per_entry(sims)
        # an entry with no text in the other language has no cross-lingual similarity: in a knowledge
        # base where other entries have one, NEG would rank it below all of them (a positive weight on
        # ``~x`` times -1), so it takes its same-language value instead. Where no entry has the other
        # language (a monolingual FAQ), every entry has NEG alike and nothing changes.
        lacks = np.stack(
            [
                ~self._entry_has["en" if lang_zh[i] else "zh"]
                & bool(self._entry_has["en" if lang_zh[i] else "zh"].any())
                for i in range(nq)
            ]
        ) if nq and len(self.entry_ids) else np.zeros((nq, n), dtype=bool)
        if lacks.any():
            for name in list(signals):
                if name.endswith(CROSS):
                    signals[name] = np.where(lacks, signals[name[: -len(CROSS)]], signals[name])
        lex = np.where(visible, self._lexical.scores_many(queries), 0.0).astype(np.float32)
        signals[LEXICAL] = np.maximum(self._max_per_entry(lex, False, None), 0.0)
        signals[LEXICAL + PASSAGE] = np.maximum(self._max_per_entry(lex, True, None), 0.0)
        bm = np.zeros((nq, n), dtype=np.float32)
        coverage = np.zeros(nq)
        for i, q in enumerate(queries):
            ex = excl[i]
            held = ex.docs[0] if ex is not None and len(ex.docs) == 1 else None
            bm[i] = self._bm25.scores(q, held, ex.only_lang if ex is not None else None)
            coverage[i] = self._bm25.coverage(q)
        signals[BM25] = bm
        out = []
        for i in range(nq):
            ex = excl[i]
            if ex is not None and ex.only_lang is not None:
                has = np.zeros(n, dtype=bool) if ex.only_lang != langs[i] else self._entry_has[langs[i]]
            else:
                has = self._entry_has.get(langs[i], np.ones(n, dtype=bool))
            out.append(
                Scored({s: v[i] for s, v in signals.items()}, present[i], has, best_doc[i], float(coverage[i]))
            )
        return out

    def _argmax_per_entry(self, sims: np.ndarray) -> np.ndarray:
        order = np.argsort(self._doc_entry, kind="stable")
        ents = self._doc_entry[order]
        starts = np.flatnonzero(np.r_[True, ents[1:] != ents[:-1]])
        out = np.zeros((sims.shape[0], len(self.entry_ids)), dtype=np.int64)
        sorted_sims = sims[:, order]
        for j, s in enumerate(starts):
            end = starts[j + 1] if j + 1 < len(starts) else len(order)
            out[:, ents[s]] = order[s + np.argmax(sorted_sims[:, s:end], axis=1)]
        return out

    # -- ranking -----------------------------------------------------------------------------------

    def hybrid(self, s: Scored, weights: HybridWeights | None = None) -> np.ndarray:
        w = weights or self.weights
        hybrid = np.full(len(self.entry_ids), w.bias, dtype=np.float32)
        for name, vals in s.signals.items():
            hybrid += w.weights.get(name, 0.0) * vals
        if w.cross is not None:
            cross = np.full(len(self.entry_ids), w.cross_bias, dtype=np.float32)
            for name, vals in s.signals.items():
                cross += w.cross.get(name, 0.0) * vals
            hybrid = np.where(s.has_lang, hybrid, cross)
        return np.where(s.present, hybrid, -np.inf)

    def rank(self, query: str, s: Scored, k: int = 10, weights: HybridWeights | None = None) -> Retrieval:
        if not len(self.entry_ids):
            return Retrieval(query, [])
        hybrid = self.hybrid(s, weights)
        order = np.argsort(-hybrid)
        top = [int(e) for e in order[: min(k, int(s.present.sum()))]]
        docs = self.store.faq.docs
        cands = [
            Candidate(
                entry_id=self.entry_ids[e],
                score=float(hybrid[e]),
                signals={name: float(v[e]) for name, v in s.signals.items()},
                doc=docs[int(s.best_doc[e])],
            )
            for e in top
        ]
        if not cands:
            return Retrieval(query, [])
        winners = [
            int(np.argmax(np.where(s.present, v, -np.inf))) for n, v in s.signals.items() if not n.endswith(CROSS)
        ]
        agreement = sum(1 for x in winners if x == top[0]) / max(1, len(winners))
        return Retrieval(query, cands, agreement, {"coverage": s.coverage})

    def exact(self, text: str) -> str | None:
        """The one entry having ``text`` itself (case, spacing and punctuation aside) among its questions."""
        return self._exact.get(_exact_key(text))

    def words(self, text: str) -> list[tuple[str, str]]:
        """``(word as written, term)`` pairs of ``text``, as the lexical signal splits it."""
        return self._bm25.terms.words(text)

    def rarity(self, term: str) -> float:
        return self._bm25.rarity(term)

    def doc_index(self) -> list[Doc]:
        return self.store.faq.docs

    # -- tickets and learning ----------------------------------------------------------------------

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
        from indexer.build import embed_docs

        vectors = embed_docs(docs, self.embedders)
        linked = [i for i, d in enumerate(docs) if d.entry_id]
        unlinked = [i for i, d in enumerate(docs) if not d.entry_id]
        with self._lock:
            if linked:
                self.store.faq.add([docs[i] for i in linked], {n: v[linked] for n, v in vectors.items()})
                self._reindex_faq()
            if unlinked:
                first = self.embedders[0].name
                self.store.tickets.add([docs[i] for i in unlinked], {first: vectors[first][unlinked]})

