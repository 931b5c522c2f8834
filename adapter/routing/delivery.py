"""Guaranteed Delivery: the worker that POSTs outbox messages to their recipients.

The worker keeps up to `concurrency` deliveries in flight, claiming more as each one finishes;
the claim hands out only the first open message of each (case, recipient) line, so running them
side by side never breaks the order, and a dead letter holds its line until it is replayed or
skipped (see adapter/store/outbox.py). Each claimed message gets a few attempts
in one go (tenacity) while the waits between them are short; a longer wait, or an open circuit
(a Retry-After pauses the destination's circuit), puts it back in the queue with a later due
time instead of holding a thread. What
counts as transient or fatal, and when to give up, is the destination's RetryPolicy.

A 200 with a response message coded `ok` is delivery. It is not the kvittens: that comes later
as a message of its own from the receiving party (adapter/routing/kvittens.py).
"""

from __future__ import annotations

import email.utils
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import httpx
import orjson
import structlog
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base

from adapter import metrics
from adapter.mapping.response import response_code
from adapter.routing.breaker import Breakers, CircuitBreaker, CircuitOpen
from adapter.routing.policy import (
    TRANSIENT_STATUS,
    FatalFailure,
    Policies,
    RetryPolicy,
    TransientFailure,
    answer_text,
    slots_taken,
)
from adapter.store.store import OutboxItem, Store

log = structlog.get_logger("adapter.delivery")

CLAIM_GATHER = 0.02  # seconds a free slot may wait for others before it is claimed for alone

__all__ = ["DeliveryWorker", "FatalFailure", "TransientFailure"]


class DeliveryWorker:
    def __init__(
        self,
        store: Store,
        policies: Policies | RetryPolicy,
        *,
        concurrency: int = 8,
        lease_seconds: float = 60.0,
        kvittens_timeout: float | None = None,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.policies = policies if isinstance(policies, Policies) else Policies(policies)
        self.concurrency = concurrency
        # A lease shorter than the longest claim would let another replica send the same message
        # while this one is still trying it.
        self.lease_seconds = max(lease_seconds, self.policies.longest_claim + 5.0)
        self.kvittens_timeout = kvittens_timeout
        self.client = client or httpx.Client(limits=httpx.Limits(max_connections=4 * concurrency))
        self.clock = clock
        self.sleep = sleep
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self) % 0xFFFFFF:x}"
        self.breakers = Breakers(clock)
        self.claim_batch = max(1, concurrency // 2)
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="deliver")

    # --- the loop ---

    def claim(self, limit: int) -> list[OutboxItem]:
        return self.store.claim_due(
            self.owner,
            self.clock(),
            limit=limit,
            lease_seconds=self.lease_seconds,
            open_circuits=self.breakers.open_endpoints(),
        )

    def run_once(self) -> int:
        """Deliver what is due now (side by side); the number of messages handled."""
        items = self.claim(self.concurrency)
        for future in [self._pool.submit(self.deliver, item) for item in items]:
            future.result()
        return len(items)

    def run_forever(self, stop: threading.Event, poll_seconds: float = 0.5) -> None:
        log.info("delivery worker started", owner=self.owner, concurrency=self.concurrency)
        inflight: set[Future[None]] = set()
        next_report = self.clock()
        last_claim = 0.0
        while not stop.is_set():
            free = self.concurrency - len(inflight)
            # Claims in batches: a claim is a write transaction (on SQLite a disk flush), so one
            # per finished delivery would cost as much as the delivery's own outcome. A slot freed
            # alone waits at most CLAIM_GATHER seconds for others.
            since_claim = time.monotonic() - last_claim
            claiming = free > 0 and (free >= self.claim_batch or not inflight or since_claim >= CLAIM_GATHER)
            claimed: list[OutboxItem] = []
            if claiming:
                last_claim = time.monotonic()
                try:
                    claimed = self.claim(free)
                except Exception:  # the worker must outlive a database hiccup
                    log.exception("claiming due messages failed")
            inflight |= {self._pool.submit(self.deliver, item) for item in claimed}
            if inflight:
                gathering = free > 0 and not claiming
                timeout = max(0.001, CLAIM_GATHER - since_claim) if gathering else poll_seconds
                done, inflight = wait(inflight, timeout=timeout, return_when=FIRST_COMPLETED)
                for future in done:
                    if future.exception() is not None:
                        log.error("delivery round failed", error=repr(future.exception()))
            else:
                stop.wait(poll_seconds)
            if self.kvittens_timeout is not None and self.clock() >= next_report:
                next_report = self.clock() + 60.0
                self._report_missing_kvittens()
        wait(inflight)
        log.info("delivery worker stopped", owner=self.owner)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.client.close()

    # --- one message ---

    def deliver(self, item: OutboxItem) -> None:
        policy = self.policies.for_recipient(item.recipient)
        breaker = self.breakers.get(item.endpoint, policy)
        attempts = item.attempts
        started = time.perf_counter()
        structlog.contextvars.bind_contextvars(message_id=item.message_id, recipient=item.recipient)
        try:
            for attempt in Retrying(
                stop=stop_after_attempt(policy.attempts_per_claim) | _stop_if_wait_over(policy.in_claim_wait),
                wait=lambda state: policy.delay(item.attempts + state.attempt_number, _retry_after_of(state)),
                retry=retry_if_exception(
                    lambda e: isinstance(e, TransientFailure) and not isinstance(e, CircuitOpen)
                ),
                sleep=self.sleep,
                reraise=True,
            ):
                with attempt:
                    breaker.allow()
                    attempts += 1
                    response = self._guarded_post(item, policy, breaker)
            # Delivered; a planeringsmöte may be so without a slot it books there (docs/tidbok.md).
            taken = slots_taken(response)
            now = self.clock()
            self._settled(self.store.mark_delivered(item.id, self.owner, attempts, response, now, note=taken))
            metrics.message_out(item.kind, "delivered", time.perf_counter() - started)
            log.info("delivered", attempts=attempts, kind=item.kind, case_id=item.case_id)
            if taken:
                metrics.SLOTS_TAKEN.labels(item.recipient).inc()
                log.warning("delivered, but a slot it books was taken there: rebook", case_id=item.case_id)
        except CircuitOpen as exc:
            if attempts == item.attempts:  # not tried at all in this claim
                self._settled(self.store.release(item.id, self.owner, exc.until))
            else:
                self._settled(self.store.mark_retry(item.id, self.owner, attempts, exc.until, str(exc)))
            log.info("destination circuit open, message waits", until=exc.until)
        except TransientFailure as exc:
            now = self.clock()
            gave_up = policy.gives_up(attempts, item.trying_since, now)
            if gave_up:
                error = f"{gave_up}; last error: {exc}"
                self._settled(self.store.mark_dead(item.id, self.owner, attempts, error, now))
                metrics.message_out(item.kind, "dead", time.perf_counter() - started)
                log.error("delivery given up, dead letter", attempts=attempts, error=error)
            else:
                due = now + policy.delay(attempts, exc.retry_after)
                self._settled(self.store.mark_retry(item.id, self.owner, attempts, due, str(exc)))
                metrics.message_out(item.kind, "retry", time.perf_counter() - started)
                log.warning("delivery failed, will retry", attempts=attempts, error=str(exc), due=due)
        except FatalFailure as exc:
            self._settled(self.store.mark_dead(item.id, self.owner, attempts, str(exc), self.clock()))
            metrics.message_out(item.kind, "dead", time.perf_counter() - started)
            log.error("delivery refused, dead letter", attempts=attempts, error=exc.reason)
        finally:
            structlog.contextvars.unbind_contextvars("message_id", "recipient")

    def _settled(self, kept_lease: bool) -> None:
        if not kept_lease:
            # Another replica took the message over after our lease ran out; what it records
            # stands. The receiver dedupes whatever both of us sent.
            log.warning("lease lost before the outcome was recorded", owner=self.owner)

    def _guarded_post(self, item: OutboxItem, policy: RetryPolicy, breaker: CircuitBreaker) -> bytes:
        try:
            response = self._post(item, policy.timeout)
        except FatalFailure:
            breaker.success()  # the endpoint is up; it refused this message
            raise
        except TransientFailure as exc:
            breaker.failure()
            if exc.retry_after is not None:
                breaker.pause(self.clock() + min(exc.retry_after, policy.retry_after_max))
            raise
        except BaseException:
            breaker.failure()
            raise
        breaker.success()
        return response

    def _post(self, item: OutboxItem, timeout: float) -> bytes:
        try:
            reply = self.client.post(
                item.endpoint,
                content=item.body,
                headers={"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"},
                timeout=timeout,
            )
        except httpx.TransportError as exc:
            raise TransientFailure(f"{type(exc).__name__}: {exc}") from exc
        if reply.status_code in TRANSIENT_STATUS:
            raise TransientFailure(f"HTTP {reply.status_code}", _retry_after(reply, self.clock()))
        if not reply.is_success:
            raise FatalFailure(f"HTTP {reply.status_code}", answer_text(reply.content))
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

    def _report_missing_kvittens(self) -> None:
        assert self.kvittens_timeout is not None
        try:
            missing = self.store.unacknowledged(self.kvittens_timeout, self.clock(), limit=20)
        except Exception:
            log.exception("kvittens report failed")
            return
        if missing:
            log.warning(
                "messages without kvittens",
                older_than_seconds=self.kvittens_timeout,
                message_ids=[m.message_id for m in missing],
            )


class _stop_if_wait_over(stop_base):
    """Stop retrying in the worker when the next wait is longer than it should hold a thread."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self, retry_state: RetryCallState) -> bool:
        return retry_state.upcoming_sleep > self.seconds


def _retry_after_of(state: RetryCallState) -> float | None:
    exc = state.outcome.exception() if state.outcome else None
    return exc.retry_after if isinstance(exc, TransientFailure) else None


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
