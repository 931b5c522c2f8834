"""What GET /metrics reads from the store when Prometheus scrapes: the delivery queue, the lines
dead letters hold, and the deadlines of the cases held."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from adapter.metrics import HoldingsCollector, registry_for
from adapter.process.deadlines import deadlines
from adapter.process.rules import ProcessRules
from adapter.read.holdings import Holdings
from adapter.store import queries
from adapter.store.outbox import held_by_recipient
from adapter.store.store import Store


def gauges(
    store: Store, holdings: Holdings, rules: ProcessRules | None, clock: Callable[[], float]
) -> CollectorRegistry:
    """The scrape-time gauges of one adapter (without regional rules: no deadlines)."""

    def queue() -> list[tuple[str, str, int, float]]:
        with store.reading() as conn:
            return [
                (r.recipient, r.status, r.count, r.oldest_created_at)
                for r in queries.queue_by_recipient(conn)
            ]

    def held_lines() -> dict[str, tuple[int, int]]:
        with store.reading() as conn:
            return held_by_recipient(conn)

    def deadline_counts() -> Counter[tuple[str, str]]:
        if rules is None:
            return Counter()
        now = datetime.fromtimestamp(clock(), UTC)
        return Counter(
            (d.kind, d.status.value) for h in holdings.cases(None) for d in deadlines(h.case, now, rules)
        )

    return registry_for(HoldingsCollector(queue, deadline_counts, clock, held_lines))
