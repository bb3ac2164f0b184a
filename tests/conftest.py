"""Shared fixtures: the real packaged models, loaded once; a real index built once per session.

Each test gets its own data directory (and SQLite file) with a copy of that index, so no test
embeds the whole shipped knowledge again.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
FAQ = ROOT / "data" / "faq"
TICKETS = ROOT / "data" / "tickets"
CALIBRATION = ROOT / "data" / "calibration.json"


@pytest.fixture(scope="session")
def embedders() -> list:
    from indexer.embedders import load_embedders

    return load_embedders()


@pytest.fixture(scope="session")
def shipped_index(tmp_path_factory: pytest.TempPathFactory, embedders: list) -> Path:
    """An index of the shipped FAQ and tickets, built once with the real models."""
    from bot.calibration import Calibration
    from indexer.build import build_and_publish
    from indexer.store import IndexLocation
    from knowledge.corpus import load_knowledge

    root = tmp_path_factory.mktemp("shipped") / "index"
    kb = load_knowledge(FAQ, [TICKETS])
    assert not kb.problems, kb.problems
    build_and_publish(kb, embedders, IndexLocation(root))
    Calibration.load(CALIBRATION)  # the shipped calibration must load
    return root


def make_settings(data_dir: Path, faq_dir: Path = FAQ, **kw: object):  # type: ignore[no-untyped-def]
    from bot.settings import Settings

    return Settings(
        data_dir=data_dir,
        faq_dir=faq_dir,
        tickets_dir=TICKETS,
        calibration_file=CALIBRATION,
        agent_token="test-token",
        watch_interval=0.2,
        **kw,
    )


@pytest.fixture()
def data_dir(tmp_path: Path, shipped_index: Path) -> Path:
    d = tmp_path / "state"
    d.mkdir()
    shutil.copytree(shipped_index, d / "index", symlinks=True)
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

    from bot.app import create_app

    app = create_app(services.settings, services)  # type: ignore[attr-defined]
    with TestClient(app) as c:
        yield c


AGENT = {"Authorization": "Bearer test-token"}
