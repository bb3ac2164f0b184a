"""Micro-batching: questions that arrive at the same moment are embedded in one encoder batch.

Each request thread calls :meth:`MicroBatcher.encode` with its texts and blocks; one worker thread
takes the first waiting request, gathers whatever else arrives within ``max_wait`` seconds (up to
``max_batch`` texts), encodes them together and hands each caller its rows. With one client the
added latency is at most ``max_wait``; under load, throughput approaches the batched encoder rate.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future

import numpy as np

Vectors = dict[str, np.ndarray]


class MicroBatcher:
    def __init__(
        self, encode: Callable[[Sequence[str]], Vectors], max_batch: int = 32, max_wait: float = 0.004
    ) -> None:
        self._encode = encode
        self.max_batch = max_batch
        self.max_wait = max_wait
        self._queue: queue.Queue[tuple[list[str], Future[Vectors]] | None] = queue.Queue()
        self.batches = 0  # number of encoder calls, for tests and stats
        self.texts = 0
        self._thread = threading.Thread(target=self._run, name="micro-batcher", daemon=True)
        self._thread.start()

    def encode(self, texts: Sequence[str]) -> Vectors:
        fut: Future[Vectors] = Future()
        self._queue.put((list(texts), fut))
        return fut.result()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            size = len(first[0])
            deadline = time.monotonic() + self.max_wait
            while size < self.max_batch:
                remaining = deadline - time.monotonic()
                try:
                    item = (
                        self._queue.get(timeout=max(0.0, remaining))
                        if remaining > 0
                        else self._queue.get_nowait()
                    )
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
                size += len(item[0])
            self._process(batch)

    def _process(self, batch: list[tuple[list[str], Future[Vectors]]]) -> None:
        texts = [t for texts, _ in batch for t in texts]
        try:
            vectors = self._encode(texts)
        except BaseException as exc:  # every waiting caller gets the error, the worker lives on
            for _, fut in batch:
                fut.set_exception(exc)
            return
        self.batches += 1
        self.texts += len(texts)
        start = 0
        for texts_i, fut in batch:
            end = start + len(texts_i)
            fut.set_result({name: v[start:end] for name, v in vectors.items()})
            start = end
