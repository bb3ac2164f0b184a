"""Build the vector store for a knowledge base, written aside and swapped atomically.

Incremental: FAQ texts come from the embedding cache unless new; the tickets partition of the
previous store is reused when the tickets did not change, and extended when tickets were only
appended (the usual case: agents resolve handoffs).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from indexer.cache import EmbeddingCache
from indexer.embedders import Embedder, vectors_key
from indexer.store import IndexLocation, IndexMismatch, Manifest, Partition, VectorStore
from knowledge.corpus import Doc, KnowledgeBase

Progress = Callable[[int], None]
TICKET_BATCH = 256


def _faq_partition(
    docs: list[Doc], embedders: Sequence[Embedder], cache_folder: Path | None, progress: Progress | None
) -> Partition:
    # always exact: retrieval scores every FAQ text (see indexer/search.py)
    return Partition.from_vectors(docs, embed_docs(docs, embedders, cache_folder, progress), approx_threshold=1 << 62)


def embed_docs(
    docs: Sequence[Doc],
    embedders: Sequence[Embedder],
    cache_folder: Path | None = None,
    progress: Progress | None = None,
) -> dict[str, np.ndarray]:
    """Vectors of ``docs`` per model: passages as passages, everything else as questions."""
    vectors = {}
    is_passage = np.array([d.is_passage for d in docs], dtype=bool)
    groups = [(False, np.flatnonzero(~is_passage)), (True, np.flatnonzero(is_passage))]
    for emb in embedders:
        out = np.zeros((len(docs), emb.dim), dtype=np.float32)
        cache = EmbeddingCache(cache_folder, vectors_key(emb), emb.dim) if cache_folder is not None else None
        for passage, idx in groups:
            if not len(idx):
                continue
            texts = [docs[int(i)].text for i in idx]
            if cache is not None:
                out[idx] = cache.embed(emb, texts, progress=progress, passage=passage)
            else:
                out[idx] = embed_batched(emb, texts, progress, passage)
        if cache is not None:
            cache.save()
        vectors[emb.name] = out
    return vectors


def embed_batched(
    emb: Embedder, texts: Sequence[str], progress: Progress | None = None, passage: bool = False
) -> np.ndarray:
    out = np.zeros((len(texts), emb.dim), dtype=np.float32)
    for start in range(0, len(texts), TICKET_BATCH):
        chunk = texts[start : start + TICKET_BATCH]
        out[start : start + len(chunk)] = emb.encode(chunk, passage=passage)
        if progress:
            progress(len(chunk))
    return out


VectorSink = Callable[[np.ndarray], None]


def _tickets_partition(
    docs: list[Doc],
    first: Embedder,
    previous: VectorStore | None,
    progress: Progress | None,
    sink: VectorSink | None = None,
) -> Partition:
    if previous is not None and first.name in previous.tickets.indexes:
        old = previous.tickets
        n = len(old.docs)
        if n <= len(docs) and [d.ticket_id for d in old.docs] == [d.ticket_id for d in docs[:n]]:
            if n == len(docs):
                if progress:
                    progress(n)
                return old  # unchanged: shared, never mutated
            if progress:
                progress(n)
            new = docs[n:]
            part = old.copy()
            part.add(new, {first.name: embed_batched(first, [d.text for d in new], progress)})
            return part
    vecs = embed_batched(first, [d.text for d in docs], progress)
    if sink is not None:
        sink(vecs)
    return Partition.from_vectors(docs, {first.name: vecs})


def build_store(
    kb: KnowledgeBase,
    embedders: Sequence[Embedder],
    cache_folder: Path | None = None,
    progress: Progress | None = None,
    previous: VectorStore | None = None,
    sink: VectorSink | None = None,
) -> VectorStore:
    """Embed ``kb`` into an in-memory store, reusing cached vectors and the previous tickets partition.

    ``sink`` receives the raw ticket vectors of a fresh tickets partition (benchmarks use it to
    measure the approximate index's recall against exact search).
    """
    started = time.perf_counter()
    faq = _faq_partition(kb.faq_docs, embedders, cache_folder, progress)
    tickets = _tickets_partition(kb.ticket_docs, embedders[0], previous, progress, sink)
    manifest = Manifest(
        models=[{"name": e.name, "dim": e.dim, "key": vectors_key(e)} for e in embedders],
        counts={
            "docs": len(kb.faq_docs) + len(kb.ticket_docs),
            "faq_docs": len(kb.faq_docs),
            "ticket_docs": len(kb.ticket_docs),
            "entries": kb.entry_count,
            "entry_ids": len(kb.entries),
            "tickets": len(kb.tickets),
            "linked_ticket_docs": sum(1 for d in kb.faq_docs if d.kind == "ticket"),
        },
        content_hash=kb.content_hash,
        tickets_hash=kb.tickets_hash,
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
        build_seconds=round(time.perf_counter() - started, 3),
        partitions={"faq": faq.describe(), "tickets": tickets.describe()},
    )
    return VectorStore(manifest, {"faq": faq, "tickets": tickets})


def total_work(kb: KnowledgeBase, embedders: Sequence[Embedder]) -> int:
    """Units the progress callback will receive in all."""
    return len(kb.faq_docs) * len(embedders) + len(kb.ticket_docs)


def build_and_publish(
    kb: KnowledgeBase,
    embedders: Sequence[Embedder],
    location: IndexLocation,
    progress: Progress | None = None,
    previous: VectorStore | None = None,
    sink: VectorSink | None = None,
) -> VectorStore:
    """Build into a hidden folder, then swap it in. A failure leaves the current index serving."""
    tmp = location.new_build_folder()
    try:
        store = build_store(kb, embedders, location.cache, progress, previous, sink)
        store.save(tmp, location.tickets)
        final = location.publish(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    store.path = final
    return store


def load_current(
    location: IndexLocation, embedders: Sequence[Embedder], kb: KnowledgeBase | None = None
) -> VectorStore | None:
    """The current published store, or None when there is none or it was built with other models."""
    folder = location.current_folder()
    if folder is None:
        return None
    try:
        reuse = None
        if kb is not None:
            manifest = json.loads((folder / "manifest.json").read_text())
            if manifest.get("tickets_hash") == kb.tickets_hash:
                reuse = kb.ticket_docs
        return VectorStore.load(folder, [e.name for e in embedders], reuse, [vectors_key(e) for e in embedders])
    except (IndexMismatch, OSError, ValueError, TypeError):
        return None


def is_stale(store: VectorStore | None, kb: KnowledgeBase) -> bool:
    return store is None or store.manifest.content_hash != kb.content_hash
