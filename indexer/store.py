"""The vector store: one FAISS index per model and partition, saved as a folder with a manifest.

Layout of ``<data-dir>/index``::

    builds/<build-id>/manifest.json   models, dims, counts, content hash, build time
    builds/<build-id>/docs.jsonl      the indexed texts, in vector order
    builds/<build-id>/<partition>.<model>.faiss
    current -> builds/<build-id>      symlink, replaced atomically after a build
    cache/<model>.npz                 embeddings by text hash, so rebuilds embed only new texts

Partitions: ``faq`` holds titles, FAQ questions and questions of tickets linked to an
entry (what customers may be answered from); ``tickets`` holds unlinked tickets,
shown only to agents as similar past cases.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

from knowledge.corpus import Doc

FORMAT_VERSION = 1
PARTITIONS = ("faq", "tickets")


class IndexMismatch(RuntimeError):
    """The saved index was built with other models or another format."""


def partition_of(doc: Doc) -> str:
    return "faq" if doc.entry_id is not None else "tickets"


@dataclass(frozen=True)
class Manifest:
    models: list[dict[str, object]]
    counts: dict[str, int]
    content_hash: str
    built_at: str
    build_seconds: float
    format: int = FORMAT_VERSION

    @property
    def model_names(self) -> list[str]:
        return [str(m["name"]) for m in self.models]


class Partition:
    """Docs of one partition and one exact inner-product FAISS index per model."""

    def __init__(self, docs: list[Doc], indexes: dict[str, faiss.Index]) -> None:
        self.docs = docs
        self.indexes = indexes

    @classmethod
    def from_vectors(cls, docs: list[Doc], vectors: dict[str, np.ndarray]) -> Partition:
        indexes: dict[str, faiss.Index] = {}
        for name, vecs in vectors.items():
            index = faiss.IndexFlatIP(vecs.shape[1])
            if len(vecs):
                index.add(np.ascontiguousarray(vecs, dtype=np.float32))
            indexes[name] = index
        return cls(docs, indexes)

    def search(self, model: str, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        index = self.indexes[model]
        k = min(k, index.ntotal)
        if k == 0:
            n = len(query)
            return np.zeros((n, 0), dtype=np.float32), np.zeros((n, 0), dtype=np.int64)
        scores, ids = index.search(np.ascontiguousarray(query, dtype=np.float32), k)
        return scores, ids

    def add(self, docs: list[Doc], vectors: dict[str, np.ndarray]) -> None:
        for name, vecs in vectors.items():
            self.indexes[name].add(np.ascontiguousarray(vecs, dtype=np.float32))
        self.docs.extend(docs)


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

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "docs.jsonl").open("w", encoding="utf-8") as fh:
            for part in PARTITIONS:
                for d in self.partitions[part].docs:
                    fh.write(json.dumps({"partition": part, **asdict(d)}, ensure_ascii=False) + "\n")
        for part in PARTITIONS:
            for name, index in self.partitions[part].indexes.items():
                faiss.write_index(index, str(folder / f"{part}.{name}.faiss"))
        (folder / "manifest.json").write_text(json.dumps(asdict(self.manifest), indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path, expected_models: Sequence[str] | None = None) -> VectorStore:
        mpath = folder / "manifest.json"
        if not mpath.exists():
            raise IndexMismatch(f"{folder} holds no index (no manifest.json); run `helpdesk index`")
        manifest = Manifest(**json.loads(mpath.read_text()))
        if manifest.format != FORMAT_VERSION:
            raise IndexMismatch(
                f"{folder} was built with index format {manifest.format}, this version reads "
                f"{FORMAT_VERSION}; run `helpdesk index` to rebuild"
            )
        if expected_models is not None and list(expected_models) != manifest.model_names:
            raise IndexMismatch(
                f"{folder} was built with models {manifest.model_names}, settings ask for "
                f"{list(expected_models)}; run `helpdesk index` to rebuild"
            )
        docs: dict[str, list[Doc]] = {p: [] for p in PARTITIONS}
        with (folder / "docs.jsonl").open(encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                docs[row.pop("partition")].append(Doc(**row))
        partitions = {
            p: Partition(
                docs[p],
                {n: faiss.read_index(str(folder / f"{p}.{n}.faiss")) for n in manifest.model_names},
            )
            for p in PARTITIONS
        }
        return cls(manifest, partitions, folder)


class IndexLocation:
    """Where builds live and which one is current; swaps are atomic symlink replacements."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.builds = root / "builds"
        self.current = root / "current"
        self.cache = root / "cache"

    def current_folder(self) -> Path | None:
        if not self.current.exists():
            return None
        return self.current.resolve()

    def new_build_folder(self) -> Path:
        self.builds.mkdir(parents=True, exist_ok=True)
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
