"""Embedding cache keyed by text hash, so a rebuild embeds only texts it has not seen."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from indexer.embedders import Embedder, vectors_key


def text_key(text: str, passage: bool = False) -> str:
    """Cache key of one text; a passage is embedded differently from a question (e5's prefixes)."""
    return hashlib.sha1((("passage\x1f" if passage else "") + text).encode("utf-8")).hexdigest()


class EmbeddingCache:
    def __init__(self, folder: Path, model: str, dim: int) -> None:
        self.path = folder / f"{model}.npz"
        self.dim = dim
        self._vectors: dict[str, np.ndarray] = {}
        if self.path.exists():
            try:
                with np.load(self.path) as data:
                    keys, vecs = data["keys"], data["vectors"]
                if vecs.shape[1] == dim:
                    self._vectors = {str(k): v for k, v in zip(keys, vecs, strict=True)}
            except (OSError, ValueError, KeyError):
                self._vectors = {}  # a damaged cache only costs time
        self.added = 0

    def embed(
        self,
        embedder: Embedder,
        texts: Sequence[str],
        batch_size: int = 64,
        progress: Callable[[int], None] | None = None,
        passage: bool = False,
    ) -> np.ndarray:
        """Vectors for ``texts``; only texts missing from the cache are encoded, in batches."""
        keys = [text_key(t, passage) for t in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in self._vectors))
        by_key = {k: t for k, t in zip(keys, texts, strict=True)}
        done = len(keys) - len(missing)
        if progress and done:
            progress(done)
        for start in range(0, len(missing), batch_size):
            chunk = missing[start : start + batch_size]
            vecs = embedder.encode([by_key[k] for k in chunk], passage=passage)
            for k, v in zip(chunk, vecs, strict=True):
                self._vectors[k] = v
            self.added += len(chunk)
            if progress:
                progress(len(chunk))
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vectors[k] for k in keys]).astype(np.float32)

    def save(self) -> None:
        if not self.added:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(self._vectors), dtype="U40")
        vecs = np.stack(list(self._vectors.values())).astype(np.float32)
        tmp = self.path.with_suffix(f".tmp-{os.getpid()}.npz")
        np.savez(tmp, keys=keys, vectors=vecs)
        os.replace(tmp, self.path)
        self.added = 0


def encode_cached(embedders: Sequence[Embedder], texts: Sequence[str], folder: Path | None) -> dict[str, np.ndarray]:
    """Question vectors of ``texts`` per model, from (and into) the cache in ``folder`` when given."""
    out = {}
    for e in embedders:
        if folder is None:
            out[e.name] = e.encode(list(texts))
            continue
        cache = EmbeddingCache(folder, vectors_key(e), e.dim)
        out[e.name] = cache.embed(e, texts)
        cache.save()
    return out
