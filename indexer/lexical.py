"""Lexical signals: what embeddings miss in invoice questions (error codes, menu names, 红字/数电票, typos).

- :class:`CharNgramIndex`: character 1-3-gram TF-IDF cosine per text (robust to inflection and
  small typos), fitted with scikit-learn; queries are scored without sklearn's per-call
  validation (which cost more than the embedding itself: 3.9 ms of a 10.9 ms question, see
  docs/benchmarks.md): the query's n-grams pick rows of the transposed document matrix directly.
- :class:`Bm25Index`: Okapi BM25 per FAQ entry over word terms: English words (Snowball-stemmed,
  product codes kept whole), Chinese words from jieba (with the knowledge base's own bold terms
  added to its dictionary) plus Chinese character bigrams, so a segmentation miss still matches.
  Query words that are not in the knowledge base's vocabulary are corrected to the closest word
  that is (``rapidfuzz``), which is what makes "invocie numbr" find "invoice number".
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

_SPACE = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """Lower-case, unify full-width punctuation and collapse whitespace."""
    text = text.lower().replace("？", "?").replace("，", ",").replace("：", ":").replace("（", "(")
    return _SPACE.sub(" ", text.replace("）", ")")).strip()


class CharNgramIndex:
    """Cosine similarity of character 1-3-gram TF-IDF vectors (word-bounded, sublinear tf, l2)."""

    def __init__(self, texts: Sequence[str]) -> None:
        self._vec = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, min_df=1, dtype=np.float32
        )
        self._n = len(texts)
        if not texts:
            return
        matrix = self._vec.fit_transform([normalise_text(t) for t in texts])
        self._by_ngram = matrix.T.tocsr()  # one row per n-gram: which docs contain it, with weight
        self._analyze = self._vec.build_analyzer()
        self._vocab: dict[str, int] = self._vec.vocabulary_
        self._idf = self._vec.idf_

    def query_vector(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        """Column ids and l2-normalised weights of ``query``'s n-grams that the index knows."""
        counts = Counter(self._vocab[g] for g in self._analyze(normalise_text(query)) if g in self._vocab)
        cols = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        if not counts:
            return cols, np.zeros(0)
        weights = np.array([(1.0 + math.log(c)) for c in counts.values()]) * self._idf[cols]
        return cols, weights / np.linalg.norm(weights)

    def scores(self, query: str) -> np.ndarray:
        """Similarity of ``query`` to every indexed text, in index order."""
        if self._n == 0:
            return np.zeros(0, dtype=np.float32)
        cols, weights = self.query_vector(query)
        if not len(cols):
            return np.zeros(self._n, dtype=np.float32)
        return np.asarray(self._by_ngram[cols].T @ weights, dtype=np.float32).ravel()

    def scores_many(self, queries: Sequence[str]) -> np.ndarray:
        """``scores`` for several queries at once: one row per query."""
        out = np.zeros((len(queries), self._n), dtype=np.float32)
        if self._n == 0:
            return out
        for i, q in enumerate(queries):
            out[i] = self.scores(q)
        return out

    def scores_reference(self, query: str) -> np.ndarray:
        """The same through scikit-learn's transform (kept for the equivalence test)."""
        q = self._vec.transform([normalise_text(query)])
        return np.asarray((self._by_ngram.T @ q.T).toarray(), dtype=np.float32).ravel()


# -- word terms ------------------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+(?:[-_.][a-z0-9]+)*|[\u3400-\u4dbf\u4e00-\u9fff]+")
_HAN_RUN = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff]+$")
_CODE = re.compile(r"[a-z]*\d[a-z0-9-]*")
_STOP_EN = frozenset(
    ["a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "at", "for", "from", "by", "with", "about", "as", "into", "is", "are", "was", "were", "be", "been", "being", "do", "does", "did", "done", "have", "has", "had", "i", "me", "my", "we", "our", "us", "you", "your", "it", "its", "this", "that", "these", "those", "there", "here", "what", "which", "who", "whom", "how", "why", "when", "where", "can", "could", "should", "would", "will", "shall", "may", "might", "must", "not", "no", "so", "than", "then", "too", "very", "just", "also", "any", "some", "all", "each", "more", "most", "other", "such", "only", "own", "same", "up", "down", "out", "over", "again", "once", "please", "thanks", "thank", "hi", "hello", "hey", "get", "got"]  # noqa: SIM905
)
_STOP_ZH = frozenset(
    ["的", "了", "吗", "呢", "吧", "啊", "呀", "我", "我们", "你", "你们", "他", "她", "它", "是", "在", "有", "和", "与", "及", "就", "都", "也", "还", "要", "把", "被", "让", "给", "这", "那", "这个", "那个", "怎么", "怎么办", "怎样", "如何", "什么", "为什么", "哪里", "哪儿", "可以", "能", "能不能", "会", "不", "没", "没有", "一个", "一下", "请问", "请", "谢谢", "您好", "你好", "麻烦"]  # noqa: SIM905
)


class Terms:
    """Turns text into BM25 terms. ``extra_words``: terms jieba must keep whole (the KB's bold terms)."""

    _jieba_lock = threading.Lock()

    def __init__(self, extra_words: Iterable[str] = ()) -> None:
        import jieba
        import snowballstemmer

        self._stem = snowballstemmer.stemmer("english").stemWord
        jieba.setLogLevel(60)
        self._jieba = jieba.Tokenizer()
        words = {w for w in extra_words if 2 <= len(w) <= 12 and _HAN_RUN.match(w)}
        with self._jieba_lock:
            self._jieba.initialize()
            for w in sorted(words):
                self._jieba.add_word(w, freq=2000)
        self._cache: dict[str, str] = {}

    def _en(self, word: str) -> str:
        if _CODE.fullmatch(word):
            return word  # E2310, inv-0455, mt940: kept whole
        got = self._cache.get(word)
        if got is None:
            got = self._cache[word] = self._stem(word)
        return got

    def words(self, text: str) -> list[tuple[str, str]]:
        """``(word as written, term)`` pairs; Chinese character bigrams are terms starting with ``~``."""
        out: list[tuple[str, str]] = []
        for m in _WORD.finditer(normalise_text(text)):
            w = m.group(0)
            if _HAN_RUN.match(w):
                out.extend((t, t) for t in self._jieba.lcut(w, HMM=False) if t not in _STOP_ZH)
                out.extend(("", "~" + w[i : i + 2]) for i in range(len(w) - 1))  # character bigrams
            elif w not in _STOP_EN:
                out.append((w, self._en(w)))
        return out

    def terms(self, text: str) -> list[str]:
        return [t for _, t in self.words(text)]


class Bm25Index:
    """Okapi BM25 of a query against each entry: the entry's texts form one document.

    Scores are divided by the best score the query's terms could reach (each term's
    ``idf * (k1 + 1)``), so they lie in [0, 1) and compare across queries. ``exclude_doc`` leaves one
    text out of its entry (leave-one-out calibration); ``lang`` restricts to texts in that language.
    """

    def __init__(
        self,
        doc_texts: Sequence[str],
        terms: Terms,
        doc_entry: np.ndarray,
        doc_lang: Sequence[str],
        n_entries: int,
        k1: float = 1.2,
        b: float = 0.75,
        correct_typos: bool = True,
    ) -> None:
        self.k1, self.b = k1, b
        self.n_entries = n_entries
        self.correct_typos = correct_typos
        self.terms = terms
        vocab: dict[str, int] = {}
        spelled: dict[str, str] = {}  # English words as written in the knowledge -> their term
        rows, cols, vals = [], [], []
        for i, text in enumerate(doc_texts):
            pairs = terms.words(text)
            for raw, t in pairs:
                if raw and raw.isascii() and len(raw) >= 4 and not _CODE.fullmatch(raw):
                    spelled.setdefault(raw, t)
            for t, c in Counter(t for _, t in pairs).items():
                rows.append(i)
                cols.append(vocab.setdefault(t, len(vocab)))
                vals.append(c)
        self.vocab = vocab
        n_docs = len(doc_texts)
        self.doc_counts = sparse.csr_matrix(
            (np.array(vals, dtype=np.float32), (rows, cols)), shape=(n_docs, max(1, len(vocab)))
        )
        self.doc_entry = np.asarray(doc_entry, dtype=np.int64)
        self.doc_lang = np.array(list(doc_lang))
        self.doc_len = np.asarray(self.doc_counts.sum(axis=1)).ravel()
        langs = self.doc_lang
        self._entry_counts: dict[str | None, sparse.csc_matrix] = {}
        self._entry_len: dict[str | None, np.ndarray] = {}
        for lang in (None, "en", "zh"):
            mask = np.ones(n_docs, dtype=bool) if lang is None else langs == lang
            assign = sparse.csr_matrix(
                (np.ones(int(mask.sum()), dtype=np.float32), (self.doc_entry[mask], np.flatnonzero(mask))),
                shape=(n_entries, n_docs),
            )
            counts = (assign @ self.doc_counts).tocsc()
            self._entry_counts[lang] = counts
            self._entry_len[lang] = np.asarray(counts.sum(axis=1)).ravel()
        df = np.asarray((self._entry_counts[None] > 0).sum(axis=0)).ravel()
        self.idf = np.log(1.0 + (n_entries - df + 0.5) / (df + 0.5)).astype(np.float64)
        self._spelled = spelled
        self._spellings = list(spelled)

    def _correct(self, raw: str, term: str) -> str | None:
        """The term itself when the knowledge has it, else the term of the closest written word."""
        if term in self.vocab:
            return term
        if not self.correct_typos or len(raw) < 4 or not raw.isascii() or _CODE.fullmatch(raw):
            return None
        from rapidfuzz import fuzz, process

        hit = process.extractOne(raw, self._spellings, scorer=fuzz.ratio, score_cutoff=80)
        return self._spelled[hit[0]] if hit else None

    def query_columns(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        counts: Counter[int] = Counter()
        for raw, t in self.terms.words(text):
            c = self._correct(raw, t)
            if c is not None:
                counts[self.vocab[c]] += 1
        cols = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        return cols, np.fromiter(counts.values(), dtype=np.float64, count=len(counts))

    def coverage(self, text: str) -> float:
        """Share of the question's terms the knowledge knows (after typo correction): low for off-topic."""
        pairs = self.terms.words(text)
        if not pairs:
            return 0.0
        return sum(1 for raw, t in pairs if self._correct(raw, t) is not None) / len(pairs)

    def rarity(self, term: str) -> float:
        """The term's idf; unknown terms count as rarest."""
        i = self.vocab.get(term)
        return float(self.idf[i]) if i is not None else float(self.idf.max(initial=1.0)) + 1.0

    def scores(self, text: str, exclude_doc: int | None = None, lang: str | None = None) -> np.ndarray:
        cols, qtf = self.query_columns(text)
        if not len(cols):
            return np.zeros(self.n_entries, dtype=np.float32)
        tf = self._entry_counts[lang][:, cols].toarray().astype(np.float64)
        length = self._entry_len[lang].astype(np.float64).copy()
        if exclude_doc is not None and (lang is None or self.doc_lang[exclude_doc] == lang):
            e = self.doc_entry[exclude_doc]
            tf[e] -= self.doc_counts[exclude_doc, cols].toarray().ravel()
            length[e] -= self.doc_len[exclude_doc]
        avg = max(1e-9, float(length.mean()))
        idf = self.idf[cols]
        k = self.k1 * (1 - self.b + self.b * length / avg)
        weight = np.minimum(qtf, 3.0)  # a word repeated in the question counts a little more, not unboundedly
        s = ((tf * (self.k1 + 1)) / (tf + k[:, None] + 1e-12)) @ (idf * weight)
        best = float((idf * weight).sum() * (self.k1 + 1))
        return (s / best).astype(np.float32) if best > 0 else np.zeros(self.n_entries, dtype=np.float32)
