"""Liveness and readiness for orchestrators."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from adapter.api.caller import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/ready")
def ready(runtime: RuntimeDep) -> JSONResponse:
    """The store answers: the adapter can accept messages."""
    store = runtime.store
    try:
        with store.reading() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return JSONResponse({"status": "unavailable", "reason": type(exc).__name__}, status_code=503)
    return JSONResponse({"status": "ready", "outbox": store.outbox_counts()})
