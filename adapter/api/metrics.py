"""`GET /metrics` for Prometheus: the process's counters and the store's gauges."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from adapter.api.caller import runtime_of
from adapter.api.case_view import process_rules
from adapter.api.holdings import holdings
from adapter.metrics import HoldingsCollector, registry_for
from adapter.process.deadlines import deadlines
from adapter.store import queries
from adapter.store.outbox import held_by_recipient

router = APIRouter(tags=["health"])


def _registry(request: Request) -> CollectorRegistry:
    state = request.app.state
    found = getattr(state, "metrics_registry", None)
    if found is not None:
        return found
    runtime = runtime_of(request)
    held = holdings(request)
    rules = process_rules(request)
    clock = runtime.pipeline.clock

    def queue() -> list[tuple[str, str, int, float]]:
        with runtime.store.reading() as conn:
            return [
                (r.recipient, r.status, r.count, r.oldest_created_at)
                for r in queries.queue_by_recipient(conn)
            ]

    def held_lines() -> dict[str, tuple[int, int]]:
        with runtime.store.reading() as conn:
            return held_by_recipient(conn)

    def deadline_counts() -> Counter[tuple[str, str]]:
        now = datetime.fromtimestamp(clock(), UTC)
        return Counter(
            (d.kind, d.status.value) for h in held.cases(None) for d in deadlines(h.case, now, rules)
        )

    found = state.metrics_registry = registry_for(
        HoldingsCollector(queue, deadline_counts, clock, held_lines)
    )
    return found


@router.get("/metrics", summary="Prometheus metrics")
def metrics(request: Request) -> Response:
    body = generate_latest(REGISTRY) + generate_latest(_registry(request))
    return Response(body, media_type=CONTENT_TYPE_LATEST)
