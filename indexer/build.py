"""Build the vector store for a knowledge base, written aside and swapped atomically."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from indexer.cache import EmbeddingCache
from indexer.embedders import Embedder
from indexer.store import (
    PARTITIONS,
    IndexLocation,
    IndexMismatch,
    Manifest,
    Partition,
    VectorStore,
    partition_of,
)
from knowledge.corpus import Doc, KnowledgeBase

Progress = Callable[[int], None]


def build_store(
    kb: KnowledgeBase,
    embedders: Sequence[Embedder],
    cache_folder: Path | None = None,
    progress: Progress | None = None,
) -> VectorStore:
    """Embed every doc of ``kb`` (reusing cached vectors) into an in-memory store."""
    started = time.perf_counter()
    by_part: dict[str, list[Doc]] = {p: [] for p in PARTITIONS}
    for d in kb.docs:
        by_part[partition_of(d)].append(d)
    partitions: dict[str, Partition] = {}
    for part, docs in by_part.items():
        vectors = {}
        for emb in embedders:
            cache = EmbeddingCache(cache_folder, emb.name, emb.dim) if cache_folder is not None else None
            texts = [d.text for d in docs]
            if cache is not None:
                vectors[emb.name] = cache.embed(emb, texts, progress=progress)
                cache.save()
            else:
                vectors[emb.name] = emb.encode(texts) if texts else _empty(emb)
                if progress:
                    progress(len(texts))
        partitions[part] = Partition.from_vectors(docs, vectors)
    manifest = Manifest(
        models=[{"name": e.name, "dim": e.dim} for e in embedders],
        counts={
            "docs": len(kb.docs),
            "entries": kb.entry_count,
            "entry_ids": len(kb.entries),
            "tickets": len(kb.tickets),
            "linked_ticket_docs": sum(1 for d in kb.docs if d.kind == "ticket" and d.entry_id),
        },
        content_hash=kb.content_hash,
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
        build_seconds=round(time.perf_counter() - started, 3),
    )
    return VectorStore(manifest, partitions)


def _empty(emb: Embedder) -> np.ndarray:
    return np.zeros((0, emb.dim), dtype=np.float32)


def total_work(kb: KnowledgeBase, embedders: Sequence[Embedder]) -> int:
    """Units the progress callback will receive in all: one per doc and model."""
    return len(kb.docs) * len(embedders)


def build_and_publish(
    kb: KnowledgeBase,
    embedders: Sequence[Embedder],
    location: IndexLocation,
    progress: Progress | None = None,
) -> VectorStore:
    """Build into a hidden folder, then swap it in. A failure leaves the current index serving."""
    tmp = location.new_build_folder()
    try:
        store = build_store(kb, embedders, location.cache, progress)
        store.save(tmp)
        final = location.publish(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    store.path = final
    return store


def load_current(location: IndexLocation, embedders: Sequence[Embedder]) -> VectorStore | None:
    """The current published store, or None when there is none or it was built with other models."""
    folder = location.current_folder()
    if folder is None:
        return None
    try:
        return VectorStore.load(folder, [e.name for e in embedders])
    except (IndexMismatch, OSError, ValueError):
        return None


def is_stale(store: VectorStore | None, kb: KnowledgeBase) -> bool:
    return store is None or store.manifest.content_hash != kb.content_hash
