"""Character n-gram TF-IDF: the lexical signal for invoice numbers, tax and error codes, menu names.

Fitted with scikit-learn; queries are scored without sklearn's per-call validation (which cost
more than the embedding itself: 3.9 ms of a 10.9 ms question, see docs/benchmarks.md): the
query's n-grams pick rows of the transposed document matrix directly.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
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

    def scores(self, query: str) -> np.ndarray:
        """Similarity of ``query`` to every indexed text, in index order."""
        if self._n == 0:
            return np.zeros(0, dtype=np.float32)
        counts = Counter(self._vocab[g] for g in self._analyze(normalise_text(query)) if g in self._vocab)
        if not counts:
            return np.zeros(self._n, dtype=np.float32)
        cols = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        weights = np.array([(1.0 + math.log(c)) for c in counts.values()]) * self._idf[cols]
        weights /= np.linalg.norm(weights)
        return np.asarray(self._by_ngram[cols].T @ weights, dtype=np.float32).ravel()

    def scores_reference(self, query: str) -> np.ndarray:
        """The same through scikit-learn's transform (kept for the equivalence test)."""
        q = self._vec.transform([normalise_text(query)])
        return np.asarray((self._by_ngram.T @ q.T).toarray(), dtype=np.float32).ravel()
