"""Micro-batching is correct: each caller gets exactly its own rows, concurrent callers share batches."""

import threading
from collections.abc import Sequence

import numpy as np
import pytest

from indexer.batching import MicroBatcher


def fake_encode(calls: list[int]):  # type: ignore[no-untyped-def]
    def encode(texts: Sequence[str]) -> dict[str, np.ndarray]:
        calls.append(len(texts))
        return {"m": np.array([[float(len(t)), float(hash(t) % 997)] for t in texts])}

    return encode


def test_concurrent_callers_get_their_own_rows_in_fewer_batches() -> None:
    calls: list[int] = []
    b = MicroBatcher(fake_encode(calls), max_batch=64, max_wait=0.05)
    texts = [f"question number {i} " + "x" * i for i in range(40)]
    results: dict[int, np.ndarray] = {}
    barrier = threading.Barrier(len(texts))

    def ask(i: int) -> None:
        barrier.wait()
        results[i] = b.encode([texts[i]])["m"]

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    b.close()
    for i, t in enumerate(texts):
        assert results[i].tolist() == [[float(len(t)), float(hash(t) % 997)]]
    assert sum(calls) == len(texts) and len(calls) < len(texts) / 4
    assert max(calls) <= 64


def test_batch_size_is_bounded_and_multi_text_requests_stay_whole() -> None:
    calls: list[int] = []
    b = MicroBatcher(fake_encode(calls), max_batch=4, max_wait=0.05)
    out: list[np.ndarray] = []
    threads = [
        threading.Thread(target=lambda: out.append(b.encode(["a", "bb", "ccc"])["m"])) for _ in range(5)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    b.close()
    assert all(o[:, 0].tolist() == [1.0, 2.0, 3.0] for o in out)
    assert all(c <= 6 for c in calls) and sum(calls) == 15


def test_an_encoder_error_reaches_the_caller_and_the_worker_survives() -> None:
    state = {"fail": True}

    def encode(texts: Sequence[str]) -> dict[str, np.ndarray]:
        if state["fail"]:
            raise RuntimeError("encoder down")
        return {"m": np.ones((len(texts), 1))}

    b = MicroBatcher(encode, max_batch=8, max_wait=0.001)
    with pytest.raises(RuntimeError, match="encoder down"):
        b.encode(["x"])
    state["fail"] = False
    assert b.encode(["y"])["m"].shape == (1, 1)
    b.close()


def test_batched_retrieval_equals_direct_retrieval(services) -> None:  # type: ignore[no-untyped-def]
    from indexer.search import Retriever

    retriever = services.runtime.snapshot.retriever
    assert services.runtime.batcher is not None
    direct = Retriever(retriever.store, retriever.embedders, retriever.weights, terms=retriever._terms)
    for q in ["怎么开红字发票", "How do I fix the tax id on an invoice?"]:
        a, b = retriever.search(q), direct.search(q)
        assert [c.entry_id for c in a.candidates] == [c.entry_id for c in b.candidates]
        assert np.allclose([c.score for c in a.candidates], [c.score for c in b.candidates], atol=1e-4)
