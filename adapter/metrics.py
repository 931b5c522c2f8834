"""Prometheus metrics. The pipeline and the delivery worker count what they do with one call each
(`message_in`, `message_rejected`, `message_out`); what the store holds — the queue per
destination, dead letters, deadlines — is read at scrape time, so that several replicas and a
separate `lus-adapter deliver` process all report the same truth. No label ever carries a
patient identifier: labels are event kinds, rules, outcomes and HSA-ids of units.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from adapter.fhir.issues import Issue

MESSAGES_IN = Counter(
    "lus_messages_in_total",
    "Messages received, by LUS event kind and outcome (accepted, rejected, duplicate, not-yet: a copy"
    " that arrived before a message it follows, answered 425 for its sender's adapter to retry).",
    ["kind", "outcome"],
)
VALIDATION_FAILURES = Counter(
    "lus_validation_failures_total",
    "Blocking issues in rejected messages, by the rule broken.",
    ["rule"],
)
MESSAGES_OUT = Counter(
    "lus_messages_out_total",
    "Delivery rounds of outbound messages, by LUS event kind and outcome (delivered, retry, dead).",
    ["kind", "outcome"],
)
SLOTS_TAKEN = Counter(
    "lus_tidbok_slots_taken_total",
    "Planeringsmöte messages another party's adapter accepted without a slot they book there: another"
    " meeting took it on the way (docs/tidbok.md). The booking party rebooks. By recipient.",
    ["recipient"],
)
DELIVERY_LATENCY = Histogram(
    "lus_delivery_latency_seconds",
    "Time to deliver one claimed outbound message: every HTTP attempt and backoff wait of the round.",
    ["outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)

UNKNOWN = "unknown"


def message_in(kind: str | None, outcome: str) -> None:
    MESSAGES_IN.labels(kind or UNKNOWN, outcome).inc()


def kind_of(header: Mapping[str, Any] | None) -> str | None:
    """The LUS event code a MessageHeader names, if it names one."""
    coding = header.get("eventCoding") if header else None
    code = coding.get("code") if isinstance(coding, dict) else None
    return code if isinstance(code, str) else None


def message_rejected(header: Mapping[str, Any] | None, issues: Iterable[Issue]) -> None:
    """A rejected message: counted by the event code its header names, and each blocking rule."""
    message_in(kind_of(header), "rejected")
    for issue in issues:
        if issue.blocking:
            VALIDATION_FAILURES.labels(issue.rule or issue.code).inc()


def message_out(kind: str, outcome: str, seconds: float) -> None:
    MESSAGES_OUT.labels(kind, outcome).inc()
    DELIVERY_LATENCY.labels(outcome).observe(seconds)


class HoldingsCollector(Collector):
    """Gauges computed from the store when Prometheus scrapes."""

    def __init__(
        self,
        queue: Callable[[], Iterable[tuple[str, str, int, float]]],
        deadline_counts: Callable[[], Mapping[tuple[str, str], int]],
        now: Callable[[], float],
        held: Callable[[], Mapping[str, tuple[int, int]]] = dict,
    ) -> None:
        self.queue = queue  # (recipient, status, count, oldest created_at)
        self.deadline_counts = deadline_counts  # (kind, status) → deadlines
        self.now = now
        self.held = held  # recipient → (lines held by a dead letter, messages waiting behind them)

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "lus_delivery_queue_depth",
            "Outbound messages waiting for delivery, per recipient.",
            labels=["recipient"],
        )
        oldest = GaugeMetricFamily(
            "lus_delivery_queue_oldest_seconds",
            "Age of the oldest message waiting for delivery, per recipient.",
            labels=["recipient"],
        )
        dead = GaugeMetricFamily(
            "lus_dead_letters",
            "Outbound messages given up on (dead letters), per recipient.",
            labels=["recipient"],
        )
        now = self.now()
        for recipient, status, count, oldest_at in self.queue():
            if status == "pending":
                depth.add_metric([recipient], count)
                oldest.add_metric([recipient], max(0.0, now - oldest_at))
            elif status == "dead":
                dead.add_metric([recipient], count)
        held_lines = GaugeMetricFamily(
            "lus_delivery_held_lines",
            "(case, recipient) lines held by a dead letter until it is replayed or skipped, per recipient.",
            labels=["recipient"],
        )
        held_messages = GaugeMetricFamily(
            "lus_delivery_held_messages",
            "Outbound messages waiting behind a dead letter of their case, per recipient.",
            labels=["recipient"],
        )
        for recipient, (lines, waiting) in sorted(self.held().items()):
            held_lines.add_metric([recipient], lines)
            held_messages.add_metric([recipient], waiting)
        deadlines = GaugeMetricFamily(
            "lus_deadlines",
            "LUS deadlines of the cases held, by message kind and status (met, late, overdue, open);"
            " late and overdue are breaches.",
            labels=["kind", "status"],
        )
        for (kind, status), count in sorted(self.deadline_counts().items()):
            deadlines.add_metric([kind, status], count)
        yield from (depth, oldest, dead, held_lines, held_messages, deadlines)


def registry_for(collector: Collector) -> CollectorRegistry:
    """A registry of one app's scrape-time gauges (the process-wide counters live in the default one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry
