"""Health and knowledge status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from bot.web.deps import ServicesDep

router = APIRouter(prefix="/api", tags=["status"])


@router.get("/health")
def health(services: ServicesDep) -> dict[str, Any]:
    """Liveness plus what the desk is answering from."""
    return {
        "status": "ok",
        **services.runtime.index_status(),
        "database": {"backend": services.storage.backend, "live_subscribers": services.storage.bus.subscribers},
        "calibration": services.runtime.calibration_status(),
    }


@router.get("/knowledge/status")
def knowledge_status(services: ServicesDep) -> dict[str, Any]:
    """Problems in FAQ and ticket files, each with path (relative to its folder), line and what to change."""
    return services.runtime.knowledge_status()
