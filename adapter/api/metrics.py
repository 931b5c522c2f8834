"""`GET /metrics` for Prometheus: the process's counters and the store's gauges."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from adapter.api.caller import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/metrics", summary="Prometheus metrics")
def metrics(runtime: RuntimeDep) -> Response:
    body = generate_latest(REGISTRY) + generate_latest(runtime.gauges)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
