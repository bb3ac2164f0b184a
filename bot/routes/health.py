"""Health and knowledge status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from bot.deps import ServicesDep

router = APIRouter(prefix="/api", tags=["status"])


@router.get("/health")
def health(services: ServicesDep) -> dict[str, Any]:
    """Liveness plus what the desk is answering from."""
    snap = services.runtime.snapshot
    m = snap.retriever.store.manifest
    return {
        "status": "ok",
        "knowledge": {
            "entries": len(snap.kb.entries),
            "translations": snap.kb.entry_count,
            "tickets": len(snap.kb.tickets),
            "problems": len(snap.kb.problems),
            "content_hash": snap.kb.content_hash,
        },
        "index": {"models": m.model_names, "counts": m.counts, "built_at": m.built_at},
        "calibration": {
            "path": str(services.calibration_path) if services.calibration_path else None,
            "thresholds": services.calibration.thresholds.__dict__,
        },
    }


@router.get("/knowledge/status")
def knowledge_status(services: ServicesDep) -> dict[str, Any]:
    """Problems in FAQ and ticket files, each with path, line and what to change."""
    rt = services.runtime
    kb = rt.snapshot.kb
    return {
        "ok": not kb.problems and rt.last_error is None,
        "problems": [{"path": str(p.path), "line": p.line, "message": p.message} for p in kb.problems],
        "kept_previous_version": [str(p) for p in kb.kept_stale],
        "reload_error": rt.last_error,
        "reloads": rt.reloads,
        "loaded_at": rt.snapshot.loaded_at,
        "content_hash": kb.content_hash,
    }
