"""Shared fixtures: the real packaged models, loaded once; a real index and calibration built once.

Each test gets its own data directory (and SQLite file) with a copy of that index and of the
calibration the desk fitted on the shipped knowledge, so no test embeds or calibrates it again.
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


@pytest.fixture(scope="session")
def embedders() -> list:
    from indexer.embedders import load_embedders

    return load_embedders()


@pytest.fixture(scope="session")
def shipped_index(tmp_path_factory: pytest.TempPathFactory, embedders: list) -> Path:
    """An index of the shipped FAQ and tickets, built once with the real models, and beside it
    (``../calibration``) the calibration the desk fits on that knowledge at its first start."""
    from bot.services import build_services

    state = tmp_path_factory.mktemp("shipped")
    svc = build_services(make_settings(state), embedders=embedders)
    try:
        assert not svc.runtime.problems, svc.runtime.problems
        assert svc.runtime.calibration_current
    finally:
        svc.close()
    for extra in ("helpdesk.sqlite", "helpdesk.sqlite-wal", "helpdesk.sqlite-shm", "console_password"):
        (state / extra).unlink(missing_ok=True)
    return state / "index"


def seed_state(data_dir: Path, shipped_index: Path) -> None:
    """Give ``data_dir`` the shipped index and calibration (copies: tests may change them)."""
    shutil.copytree(shipped_index, data_dir / "index", symlinks=True)
    shutil.copytree(shipped_index.parent / "calibration", data_dir / "calibration")


def make_settings(data_dir: Path, faq_dir: Path = FAQ, **kw: object):  # type: ignore[no-untyped-def]
    from bot.settings import Settings

    return Settings(
        data_dir=data_dir,
        faq_dir=faq_dir,
        tickets_dir=TICKETS,
        agent_token="test-token",
        watch_interval=0.2,
        **kw,
    )


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

    from bot.app import create_app

    app = create_app(services.settings, services)  # type: ignore[attr-defined]
    with TestClient(app) as c:
        yield c


AGENT = {"Authorization": "Bearer test-token"}


def set_thresholds(services: object, **thresholds: float) -> None:
    """Make the running desk decide with other thresholds (e.g. never answer outright)."""
    from dataclasses import replace

    rt = services.runtime  # type: ignore[attr-defined]
    cal = rt.snapshot.calibration
    fixed = replace(cal, thresholds=replace(cal.thresholds, **thresholds))
    rt.fixed_calibration = fixed
    rt.snapshot = replace(rt.snapshot, calibration=fixed)
