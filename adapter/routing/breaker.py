"""Circuit Breaker, one per destination endpoint, in each replica: after a run of transient
failures the endpoint is left alone for a while (its messages are not even claimed), then one
trial call decides whether it is back. A Retry-After pauses the whole destination the same way:
the receiver asked this sender to wait, not just for the one message that was answered.

Not pybreaker: it holds its lock for the whole guarded call, which would make deliveries to one
destination go one at a time, and it reads the wall clock itself where tests pass a clock in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adapter.routing.policy import RetryPolicy, TransientFailure

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class CircuitOpen(TransientFailure):
    """The destination's circuit is open: not attempted; try again at `until`."""

    def __init__(self, endpoint: str, until: float, now: float) -> None:
        super().__init__(f"circuit open for {endpoint}", retry_after=max(0.0, until - now))
        self.until = until


@dataclass
class CircuitBreaker:
    endpoint: str
    failures_to_open: int
    reset_seconds: float
    clock: Callable[[], float]
    failures: int = 0
    opened_at: float | None = None
    trial_running: bool = False
    paused_until: float = 0.0  # Retry-After

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return CLOSED
        return HALF_OPEN if self.clock() >= self.opened_at + self.reset_seconds else OPEN

    def allow(self) -> None:
        """Raise CircuitOpen unless a call may go now (closed, or the one trial of half-open)."""
        with self._lock:
            state, now = self.state, self.clock()
            if now < self.paused_until:
                raise CircuitOpen(self.endpoint, self.paused_until, now)
            if state == CLOSED:
                return
            if state == HALF_OPEN and not self.trial_running:
                self.trial_running = True
                return
            assert self.opened_at is not None
            until = self.opened_at + self.reset_seconds if state == OPEN else now + 1.0
            raise CircuitOpen(self.endpoint, until, now)

    def success(self) -> None:
        with self._lock:
            self.failures, self.opened_at, self.trial_running = 0, None, False

    def failure(self) -> None:
        with self._lock:
            self.failures += 1
            if self.trial_running or self.failures >= self.failures_to_open:
                self.opened_at = self.clock()
            self.trial_running = False

    def pause(self, until: float) -> None:
        with self._lock:
            self.paused_until = max(self.paused_until, until)

    def open_until(self) -> float | None:
        """While open (not yet due for a trial) or paused: until when."""
        with self._lock:
            if self.clock() < self.paused_until:
                return self.paused_until
            if self.opened_at is None or self.state != OPEN:
                return None
            return self.opened_at + self.reset_seconds

    def snapshot(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "state": self.state,
            "consecutive_failures": self.failures,
            "open_until": self.open_until(),
        }


class Breakers:
    """The breakers of one worker, by endpoint."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._by_endpoint: dict[str, CircuitBreaker] = {}
        self._lock = threading.Lock()

    def get(self, endpoint: str, policy: RetryPolicy) -> CircuitBreaker:
        with self._lock:
            breaker = self._by_endpoint.get(endpoint)
            if breaker is None:
                breaker = CircuitBreaker(endpoint, policy.breaker_failures, policy.breaker_reset, self.clock)
                self._by_endpoint[endpoint] = breaker
            return breaker

    def open_endpoints(self) -> dict[str, float]:
        """Endpoints not worth claiming messages for right now, and when they will be."""
        with self._lock:
            breakers = list(self._by_endpoint.values())
        return {b.endpoint: until for b in breakers if (until := b.open_until()) is not None}

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            breakers = list(self._by_endpoint.values())
        return [b.snapshot() for b in breakers]
