"""Guaranteed Delivery: the worker that POSTs outbox messages to their recipients.

Each claimed message gets a few attempts in one go (tenacity: exponential backoff with jitter,
Retry-After honoured, both capped); if it still fails transiently it goes back to the queue with
a later due time. A fatal answer (4xx other than 408/429, or a `fatal-error` response message)
is not retried: the message becomes a dead letter.
"""

from __future__ import annotations

import email.utils
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import orjson
import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from adapter import metrics
from adapter.mapping.response import response_code
from adapter.store.store import OutboxItem, Store

log = structlog.get_logger("adapter.delivery")

TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class TransientFailure(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class FatalFailure(Exception):
    pass


@dataclass(frozen=True)
class DeliveryPolicy:
    attempts_per_claim: int = 4
    backoff_initial: float = 0.5
    backoff_max: float = 60.0
    timeout: float = 10.0
    lease_seconds: float = 120.0


class DeliveryWorker:
    def __init__(
        self,
        store: Store,
        policy: DeliveryPolicy,
        *,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.policy = policy
        self.client = client or httpx.Client(timeout=policy.timeout)
        self.clock = clock
        self.sleep = sleep
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._backoff = wait_exponential_jitter(multiplier=policy.backoff_initial, max=policy.backoff_max)

    # --- the loop ---

    def run_once(self) -> int:
        """Deliver what is due now; the number of messages handled."""
        items = self.store.claim_due(self.owner, self.clock(), lease_seconds=self.policy.lease_seconds)
        for item in items:
            self.deliver(item)
        return len(items)

    def run_forever(self, stop: threading.Event, poll_seconds: float = 0.5) -> None:
        log.info("delivery worker started", owner=self.owner)
        while not stop.is_set():
            try:
                handled = self.run_once()
            except Exception:  # the worker must outlive a database hiccup
                log.exception("delivery round failed")
                handled = 0
            if not handled:
                stop.wait(poll_seconds)
        log.info("delivery worker stopped", owner=self.owner)

    # --- one message ---

    def deliver(self, item: OutboxItem) -> None:
        attempts = item.attempts
        started = time.perf_counter()
        structlog.contextvars.bind_contextvars(message_id=item.message_id, recipient=item.recipient)
        try:
            for attempt in Retrying(
                stop=stop_after_attempt(self.policy.attempts_per_claim),
                wait=self._wait,
                retry=retry_if_exception_type(TransientFailure),
                sleep=self.sleep,
                reraise=True,
            ):
                with attempt:
                    attempts += 1
                    response = self._post(item)
            self.store.mark_delivered(item.id, attempts, response, self.clock())
            metrics.message_out(item.kind, "delivered", time.perf_counter() - started)
            log.info("delivered", attempts=attempts, kind=item.kind, case_id=item.case_id)
        except TransientFailure as exc:
            due = self.clock() + self._requeue_delay(attempts, exc.retry_after)
            self.store.mark_retry(item.id, attempts, due, str(exc))
            metrics.message_out(item.kind, "retry", time.perf_counter() - started)
            log.warning("delivery failed, will retry", attempts=attempts, error=str(exc))
        except FatalFailure as exc:
            self.store.mark_dead(item.id, attempts, str(exc))
            metrics.message_out(item.kind, "dead", time.perf_counter() - started)
            log.error("delivery refused, dead letter", attempts=attempts, error=str(exc))
        finally:
            structlog.contextvars.unbind_contextvars("message_id", "recipient")

    def _post(self, item: OutboxItem) -> bytes:
        try:
            reply = self.client.post(
                item.endpoint,
                content=item.body,
                headers={"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"},
            )
        except httpx.TransportError as exc:
            raise TransientFailure(f"{type(exc).__name__}: {exc}") from exc
        if reply.status_code in TRANSIENT_STATUS:
            raise TransientFailure(f"HTTP {reply.status_code}", _retry_after(reply, self.clock()))
        if not reply.is_success:
            raise FatalFailure(f"HTTP {reply.status_code}: {reply.text[:300]}")
        try:
            code = response_code(orjson.loads(reply.content))
        except orjson.JSONDecodeError:
            code = None
        if code == "ok":
            return reply.content
        if code == "fatal-error":
            raise FatalFailure("receiver answered fatal-error")
        if code == "transient-error":
            raise TransientFailure("receiver answered transient-error")
        raise TransientFailure(f"HTTP {reply.status_code} without a response message")

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        backoff = float(self._backoff(state))
        if isinstance(exc, TransientFailure) and exc.retry_after is not None:
            return min(max(exc.retry_after, backoff), self.policy.backoff_max)
        return backoff

    def _requeue_delay(self, attempts: int, retry_after: float | None) -> float:
        delay = min(self.policy.backoff_initial * 2 ** min(attempts, 20), self.policy.backoff_max)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.policy.backoff_max))
        return delay


def _retry_after(reply: httpx.Response, now: float) -> float | None:
    value = reply.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)
