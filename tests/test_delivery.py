"""The delivery worker against real HTTP receivers on loopback (no mocked transport)."""

from __future__ import annotations

import orjson
from sqlalchemy import select

from adapter.app import Runtime
from adapter.routing.delivery import DeliveryPolicy, DeliveryWorker
from adapter.store import schema
from adapter.store.store import NewOutboxItem
from tests.receivers import Receiver, running


def _message(message_id: str, endpoint: str) -> bytes:
    return orjson.dumps(
        {
            "resourceType": "Bundle",
            "type": "message",
            "entry": [
                {
                    "resource": {
                        "resourceType": "MessageHeader",
                        "id": message_id,
                        "eventCoding": {"code": "inskrivningsmeddelande"},
                        "source": {"endpoint": endpoint},
                    }
                }
            ],
        }
    )


def enqueue(runtime: Runtime, receiver: Receiver, *ids: str, case_id: str = "case-1") -> None:
    with runtime.store.transaction() as conn:
        runtime.store.outbox_add(
            conn,
            [
                NewOutboxItem(
                    i,
                    f"src-{i}",
                    case_id,
                    "TSTNMT2321000156-K1480",
                    receiver.url,
                    "kvittens",
                    _message(i, "x"),
                )
                for i in ids
            ],
            now=0.0,
        )


def status(runtime: Runtime) -> dict[str, tuple[str, int]]:
    with runtime.store.engine.connect() as conn:
        rows = conn.execute(
            select(schema.outbox.c.message_id, schema.outbox.c.status, schema.outbox.c.attempts)
        )
        return {r.message_id: (r.status, r.attempts) for r in rows}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def worker(runtime: Runtime, clock: FakeClock, attempts: int = 3) -> DeliveryWorker:
    return DeliveryWorker(
        runtime.store,
        DeliveryPolicy(attempts_per_claim=attempts, backoff_initial=0.5, backoff_max=30.0, timeout=5.0),
        clock=clock,
        sleep=clock.sleep,
    )


def test_retry_after_is_honoured_and_the_message_arrives_once(runtime: Runtime) -> None:
    clock = FakeClock()
    with running(Receiver(failures=[(429, {"Retry-After": "7"}), (503, {})])) as receiver:
        enqueue(runtime, receiver, "m1")
        assert worker(runtime, clock).run_once() == 1
    assert status(runtime) == {"m1": ("delivered", 3)}
    assert clock.slept[0] == 7.0  # Retry-After, not the 0.5 s backoff
    assert len(receiver.applied) == 1 and receiver.requests == 3


def test_a_fatal_answer_makes_a_dead_letter_without_retrying(runtime: Runtime) -> None:
    clock = FakeClock()
    with running(Receiver(failures=[(400, {})])) as receiver:
        enqueue(runtime, receiver, "m1")
        worker(runtime, clock).run_once()
    assert status(runtime) == {"m1": ("dead", 1)}
    assert receiver.requests == 1 and clock.slept == []


def test_still_failing_after_the_attempts_goes_back_to_the_queue_with_a_later_due_time(
    runtime: Runtime,
) -> None:
    clock = FakeClock()
    with running(Receiver(failures=[(503, {})] * 4)) as receiver:
        enqueue(runtime, receiver, "m1")
        w = worker(runtime, clock, attempts=3)
        w.run_once()
        assert status(runtime) == {"m1": ("pending", 3)}
        assert w.run_once() == 0, "not due yet"
        clock.now += 60
        w.run_once()
    assert status(runtime) == {"m1": ("delivered", 5)}
    assert len(receiver.applied) == 1


def test_an_unreachable_receiver_is_a_transient_failure(runtime: Runtime) -> None:
    clock = FakeClock()
    receiver = Receiver(port=9)  # nothing listens on the discard port
    enqueue(runtime, receiver, "m1")
    worker(runtime, clock, attempts=2).run_once()
    state, attempts = status(runtime)["m1"]
    assert (state, attempts) == ("pending", 2)


def test_order_per_case_and_recipient_is_kept_while_other_cases_proceed(runtime: Runtime) -> None:
    clock = FakeClock()
    with running(Receiver(failures=[(503, {})] * 3)) as receiver:
        enqueue(runtime, receiver, "a1", "a2", case_id="case-a")
        enqueue(runtime, receiver, "b1", case_id="case-b")
        w = worker(runtime, clock, attempts=3)
        w.run_once()  # a1 fails three times and is requeued; a2 must wait; b1 goes through
        assert status(runtime)["a2"] == ("pending", 0)
        assert status(runtime)["b1"][0] == "delivered"
        clock.now += 60
        w.run_once()
        w.run_once()
    order = [b["entry"][0]["resource"]["id"] for b in receiver.applied]
    assert order == ["b1", "a1", "a2"]
