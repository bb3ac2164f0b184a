"""Health and knowledge status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from bot.deps import ServicesDep
from bot.services import Services

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
        "database": {"backend": services.storage.backend, "live_subscribers": services.storage.bus.subscribers},
        "calibration": calibration_status(services),
    }


def calibration_status(services: Services) -> dict[str, Any]:
    """What the answer decision rests on: how many examples, what it guarantees, whether it is current."""
    rt = services.runtime
    cal = rt.snapshot.calibration
    meta = cal.meta
    g = meta.get("guarantee") or {}
    return {
        "source": "file" if rt.fixed_calibration is not None else meta.get("source", "knowledge"),
        "current": rt.calibration_current,
        "fitting": rt.calibrating,
        "error": rt.calibration_error,
        "fitted_at": meta.get("fitted_at"),
        "examples": meta.get("examples"),
        "examples_by_source": meta.get("examples_by_source"),
        "guarantee": meta.get("guarantee_text"),
        "target_precision": 1 - g["alpha"] if g else None,
        "confidence": 1 - g["delta"] if g else None,
        "precision_lower_bound": g.get("precision_lower_bound"),
        "assumed_oos_share": g.get("oos_share"),
        "thresholds": cal.thresholds.__dict__,
        "confusable_pairs": len(cal.confusable),
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
