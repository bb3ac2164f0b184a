"""Character n-gram TF-IDF: the lexical signal for invoice numbers, tax and error codes, menu names."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

_SPACE = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """Lower-case, unify full-width punctuation and collapse whitespace."""
    text = text.lower().replace("？", "?").replace("，", ",").replace("：", ":").replace("（", "(")
    return _SPACE.sub(" ", text.replace("）", ")")).strip()


class CharNgramIndex:
    """Cosine similarity of character 1-3-gram TF-IDF vectors (word-bounded)."""

    def __init__(self, texts: Sequence[str]) -> None:
        self._vec = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, min_df=1, dtype=np.float32
        )
        self._matrix = self._vec.fit_transform([normalise_text(t) for t in texts]) if texts else None

    def scores(self, query: str) -> np.ndarray:
        """Similarity of ``query`` to every indexed text, in index order."""
        if self._matrix is None:
            return np.zeros(0, dtype=np.float32)
        q = self._vec.transform([normalise_text(query)])
        return np.asarray((self._matrix @ q.T).toarray()).ravel()
