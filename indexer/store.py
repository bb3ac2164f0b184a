"""The vector store: FAISS indexes per partition and model, saved as folders with a manifest.

Layout of ``<data-dir>/index``::

    builds/<build-id>/manifest.json   models, dims, counts, hashes, index kinds, build time
    builds/<build-id>/faq.docs.jsonl  the FAQ partition's texts, in vector order
    builds/<build-id>/faq.<model>.faiss
    tickets/<tickets-hash>/           the tickets partition, shared by every build with the same tickets
    current -> builds/<build-id>      symlink, replaced atomically after a build
    cache/<model>.npz                 FAQ embeddings by text hash, so rebuilds embed only new texts

Partitions: ``faq`` (titles, FAQ questions and questions of tickets linked to an entry, embedded
with every model: what customers may be answered from) and ``tickets`` (tickets linked to no
entry, embedded with the first model only: shown to agents as similar past cases; it can hold
a million tickets). A partition past ``APPROX_THRESHOLD`` vectors gets an approximate index
(IVF with 8-bit scalar quantisation); smaller ones are searched exactly.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from knowledge.corpus import Doc

FORMAT_VERSION = 3
PARTITIONS = ("faq", "tickets")
APPROX_THRESHOLD = 50_000


def nprobe_for(nlist: int) -> int:
    """Inverted lists searched per query: about 2% of them (measured: recall@10 >= 0.95 up to 1M)."""
    return max(24, nlist // 48)


class IndexMismatch(RuntimeError):
    """The saved index was built with other models or another format."""


def make_index(vectors: np.ndarray, approx_threshold: int = APPROX_THRESHOLD) -> faiss.Index:
    """Exact inner product while small; IVF + SQ8 (inner product) past the threshold."""
    n, dim = vectors.shape
    if n <= approx_threshold:
        index: faiss.Index = faiss.IndexFlatIP(dim)
    else:
        nlist = int(4 * np.sqrt(n))
        index = faiss.index_factory(dim, f"IVF{nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(0)
        sample = vectors[rng.choice(n, size=min(n, 64 * nlist), replace=False)]
        index.train(np.ascontiguousarray(sample))
        ivf = faiss.extract_index_ivf(index)
        ivf.nprobe = nprobe_for(ivf.nlist)
    if n:
        for start in range(0, n, 100_000):
            index.add(np.ascontiguousarray(vectors[start : start + 100_000], dtype=np.float32))
    return index


def index_kind(index: faiss.Index) -> str:
    if isinstance(index, faiss.IndexFlat):
        return "exact"
    ivf = faiss.extract_index_ivf(index)
    return f"ivf-sq8 (nlist {ivf.nlist}, nprobe {ivf.nprobe})"


def read_index(path: Path) -> faiss.Index:
    index = faiss.read_index(str(path))
    if not isinstance(index, faiss.IndexFlat):  # the probe count follows the current rule
        ivf = faiss.extract_index_ivf(index)
        ivf.nprobe = nprobe_for(ivf.nlist)
    return index


@dataclass(frozen=True)
class Manifest:
    models: list[dict[str, Any]]
    counts: dict[str, int]
    content_hash: str
    tickets_hash: str
    built_at: str
    build_seconds: float
    partitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    format: int = FORMAT_VERSION

    @property
    def model_names(self) -> list[str]:
        return [str(m["name"]) for m in self.models]

    @property
    def model_keys(self) -> list[str]:
        """Model and backend of each model's vectors (``indexer.embedders.vectors_key``)."""
        return [str(m.get("key", m["name"])) for m in self.models]

    @property
    def tickets_folder(self) -> str:
        """The tickets partition's folder name: its docs' hash, and its model's key unless that is the
        model's name (the vectors of one model on two backends differ)."""
        if not self.models or self.model_keys[0] == self.model_names[0]:
            return self.tickets_hash
        return f"{self.tickets_hash}-{hashlib.sha1(self.model_keys[0].encode()).hexdigest()[:8]}"


class Partition:
    """Docs of one partition and one FAISS index per model, in the same order."""

    def __init__(self, docs: list[Doc], indexes: dict[str, faiss.Index]) -> None:
        self.docs = docs
        self.indexes = indexes
        self._vectors: dict[str, np.ndarray] = {}

    @classmethod
    def from_vectors(
        cls, docs: list[Doc], vectors: dict[str, np.ndarray], approx_threshold: int = APPROX_THRESHOLD
    ) -> Partition:
        return cls(docs, {name: make_index(v, approx_threshold) for name, v in vectors.items()})

    def vectors(self, model: str) -> np.ndarray:
        """All stored vectors of ``model`` (exact indexes only), in doc order."""
        if model not in self._vectors:
            index = self.indexes[model]
            if not isinstance(index, faiss.IndexFlat):
                raise TypeError("vectors() needs an exact index")
            self._vectors[model] = index.reconstruct_n(0, index.ntotal) if index.ntotal else np.zeros(
                (0, index.d), dtype=np.float32
            )
        return self._vectors[model]

    def search(self, model: str, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        index = self.indexes[model]
        k = min(k, index.ntotal)
        if k == 0:
            n = len(query)
            return np.zeros((n, 0), dtype=np.float32), np.zeros((n, 0), dtype=np.int64)
        scores, ids = index.search(np.ascontiguousarray(query, dtype=np.float32), k)
        return scores, ids

    def add(self, docs: list[Doc], vectors: dict[str, np.ndarray]) -> None:
        for name, index in self.indexes.items():
            index.add(np.ascontiguousarray(vectors[name], dtype=np.float32))
        self._vectors = {}
        self.docs = [*self.docs, *docs]  # never extend a list the knowledge base shares

    def copy(self) -> Partition:
        return Partition(list(self.docs), {n: faiss.clone_index(i) for n, i in self.indexes.items()})

    def describe(self) -> dict[str, Any]:
        return {
            "models": list(self.indexes),
            "vectors": len(self.docs),
            "index": {n: index_kind(i) for n, i in self.indexes.items()},
        }

    def save(self, folder: Path, prefix: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / f"{prefix}docs.jsonl").open("w", encoding="utf-8") as fh:
            for d in self.docs:
                fh.write(json.dumps(asdict(d), ensure_ascii=False) + "\n")
        for name, index in self.indexes.items():
            faiss.write_index(index, str(folder / f"{prefix}{name}.faiss"))

    @classmethod
    def load(
        cls, folder: Path, prefix: str, models: Sequence[str], docs: list[Doc] | None = None
    ) -> Partition:
        if docs is None:
            with (folder / f"{prefix}docs.jsonl").open(encoding="utf-8") as fh:
                docs = [Doc(**json.loads(line)) for line in fh]
        return cls(docs, {n: read_index(folder / f"{prefix}{n}.faiss") for n in models})


class VectorStore:
    def __init__(self, manifest: Manifest, partitions: dict[str, Partition], path: Path | None = None):
        self.manifest = manifest
        self.partitions = partitions
        self.path = path

    @property
    def faq(self) -> Partition:
        return self.partitions["faq"]

    @property
    def tickets(self) -> Partition:
        return self.partitions["tickets"]

    # -- persistence -------------------------------------------------------------------------------

    def save(self, folder: Path, tickets_root: Path) -> None:
        """Write the FAQ partition into ``folder``; the tickets partition only if not saved yet."""
        self.faq.save(folder, "faq.")
        tickets_folder = tickets_root / self.manifest.tickets_folder
        if not (tickets_folder / "done").exists():
            tmp = tickets_root / f".tmp-{self.manifest.tickets_folder}-{os.getpid()}-{time.monotonic_ns()}"
            self.tickets.save(tmp, "")
            (tmp / "done").write_text("")
            shutil.rmtree(tickets_folder, ignore_errors=True)
            os.rename(tmp, tickets_folder)
        (folder / "manifest.json").write_text(json.dumps(asdict(self.manifest), indent=2) + "\n")

    @classmethod
    def load(
        cls,
        folder: Path,
        expected_models: Sequence[str] | None = None,
        ticket_docs: list[Doc] | None = None,
        expected_keys: Sequence[str] | None = None,
    ) -> VectorStore:
        """Load a saved store. ``ticket_docs``: the knowledge base's own ticket docs, used instead of
        reading them again when their hash matches (saves a million objects at start).
        ``expected_keys``: the models' vector keys (model and backend) it must have been built with."""
        mpath = folder / "manifest.json"
        if not mpath.exists():
            raise IndexMismatch(f"{folder} holds no index (no manifest.json); run `helpdesk index`")
        raw = json.loads(mpath.read_text())
        if raw.get("format") != FORMAT_VERSION:
            raise IndexMismatch(
                f"{folder} was built with index format {raw.get('format')}, this version reads "
                f"{FORMAT_VERSION}; run `helpdesk index` to rebuild"
            )
        manifest = Manifest(**raw)
        if expected_models is not None and list(expected_models) != manifest.model_names:
            raise IndexMismatch(
                f"{folder} was built with models {manifest.model_names}, settings ask for "
                f"{list(expected_models)}; run `helpdesk index` to rebuild"
            )
        if expected_keys is not None and list(expected_keys) != manifest.model_keys:
            raise IndexMismatch(
                f"{folder} was built with {manifest.model_keys}, settings ask for {list(expected_keys)} "
                "(another backend); run `helpdesk index` to rebuild"
            )
        faq = Partition.load(folder, "faq.", manifest.model_names)
        tickets_folder = folder.parent.parent / "tickets" / manifest.tickets_folder
        tickets = Partition.load(tickets_folder, "", manifest.model_names[:1], ticket_docs)
        return cls(manifest, {"faq": faq, "tickets": tickets}, folder)


class IndexLocation:
    """Where builds live and which one is current; swaps are atomic symlink replacements."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.builds = root / "builds"
        self.tickets = root / "tickets"
        self.current = root / "current"
        self.cache = root / "cache"

    def current_folder(self) -> Path | None:
        if not self.current.exists():
            return None
        return self.current.resolve()

    def new_build_folder(self) -> Path:
        self.builds.mkdir(parents=True, exist_ok=True)
        self.tickets.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        folder = self.builds / f".tmp-{stamp}-{os.getpid()}-{time.monotonic_ns()}"
        folder.mkdir()
        return folder

    def publish(self, tmp_folder: Path, keep: int = 2) -> Path:
        """Make a finished build current in one atomic step, then drop old builds."""
        final = tmp_folder.with_name(tmp_folder.name.removeprefix(".tmp-"))
        os.rename(tmp_folder, final)
        link_tmp = self.root / f".current-{os.getpid()}-{time.monotonic_ns()}"
        os.symlink(os.path.relpath(final, self.root), link_tmp)
        os.replace(link_tmp, self.current)
        self._prune(final, keep)
        return final

    def _prune(self, current: Path, keep: int) -> None:
        done = sorted(
            (p for p in self.builds.iterdir() if not p.name.startswith(".tmp-") and p != current),
            key=lambda p: p.stat().st_mtime,
        )
        for old in done[: max(0, len(done) - (keep - 1))]:
            shutil.rmtree(old, ignore_errors=True)
        live = set()
        for b in self.builds.iterdir():
            m = b / "manifest.json"
            if m.exists():
                raw = json.loads(m.read_text())
                try:
                    live.add(Manifest(**raw).tickets_folder)
                except TypeError:  # another format's manifest
                    live.add(raw.get("tickets_hash"))
        for t in self.tickets.iterdir():
            if t.name not in live and not t.name.startswith(".tmp-"):
                shutil.rmtree(t, ignore_errors=True)
