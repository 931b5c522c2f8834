"""The delivery worker against real HTTP receivers on loopback (no mocked transport); time is a
fake clock so that backoff, Retry-After, give-up ages and the circuit breaker can be stepped."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from adapter.app import create_app
from adapter.routing.deadletters import NotADeadLetter, requeue, skip
from adapter.routing.deadletters import select as dead_letters
from adapter.routing.delivery import DeliveryWorker
from adapter.routing.policy import RetryPolicy
from adapter.runtime import Runtime
from adapter.store import schema
from tests.support.outbox import enqueue
from tests.support.receivers import Receiver, Reset, Slow, running

KOMMUN = "TSTNMT2321000156-K1480"
VARDCENTRAL = "TSTNMT2321000156-VC01"


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
        self.lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.slept.append(seconds)
            self.now += seconds


def worker(runtime: Runtime, clock: FakeClock, **policy: float) -> DeliveryWorker:
    defaults: dict[str, float] = {
        "attempts_per_claim": 3,
        "backoff_initial": 0.5,
        "backoff_max": 30.0,
        "timeout": 2.0,
    }
    return DeliveryWorker(
        runtime.store, RetryPolicy(**{**defaults, **policy}), concurrency=4, clock=clock, sleep=clock.sleep
    )


def test_short_waits_are_slept_and_a_long_retry_after_requeues_until_it_has_passed(runtime: Runtime) -> None:
    clock = FakeClock()
    with running(Receiver(failures=[(503, {}), (429, {"Retry-After": "7"})])) as receiver:
        enqueue(runtime, receiver.url, "m1")
        w = worker(runtime, clock)
        assert w.run_once() == 1
        assert status(runtime) == {"m1": ("pending", 2)}
        assert len(clock.slept) == 1 and 0.25 <= clock.slept[0] <= 0.5  # backoff after the 503
        clock.now += 6.5
        assert w.run_once() == 0, "Retry-After: 7 has not passed yet"
        clock.now += 1
        assert w.run_once() == 1
    assert status(runtime) == {"m1": ("delivered", 3)}
    assert len(receiver.applied) == 1 and receiver.requests == 3


@pytest.mark.parametrize("fault", [(400, {}), (404, {}), (422, {})])
def test_a_fatal_answer_makes_a_dead_letter_without_retrying(
    runtime: Runtime, fault: tuple[int, dict[str, str]]
) -> None:
    clock = FakeClock()
    with running(Receiver(failures=[fault])) as receiver:
        enqueue(runtime, receiver.url, "m1")
        worker(runtime, clock).run_once()
    assert status(runtime) == {"m1": ("dead", 1)}
    assert receiver.requests == 1 and clock.slept == []
    [dead] = runtime.store.dead_letters(dead_letters())
    assert dead.last_error.startswith(f"HTTP {fault[0]}") and dead.dead_at == clock.now


@pytest.mark.parametrize("status_code", [408, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(runtime: Runtime, status_code: int) -> None:
    clock = FakeClock()
    with running(Receiver(failures=[(status_code, {})])) as receiver:
        enqueue(runtime, receiver.url, "m1")
        worker(runtime, clock).run_once()
    assert status(runtime) == {"m1": ("delivered", 2)}


def test_response_codes_in_the_answer_decide_too(runtime: Runtime) -> None:
    clock = FakeClock()
    with running(Receiver()) as receiver:
        enqueue(runtime, receiver.url, "m1")
        w = worker(runtime, clock, attempts_per_claim=1)

        def answer(code: str) -> None:
            original = receiver.handle

            def once(body: bytes) -> tuple[int, dict[str, str], bytes]:
                receiver.handle = original  # type: ignore[method-assign]
                status_, headers, payload = original(body)
                return status_, headers, payload.replace(b'"code": "ok"', f'"code": "{code}"'.encode())

            receiver.handle = once  # type: ignore[method-assign]

        answer("transient-error")
        w.run_once()
        assert status(runtime) == {"m1": ("pending", 1)}
        clock.now += 60
        answer("fatal-error")
        w.run_once()
    assert status(runtime) == {"m1": ("dead", 2)}
    [dead] = runtime.store.dead_letters(dead_letters())
    assert dead.last_error == "receiver answered fatal-error"


def test_slow_answers_and_reset_connections_are_transient_and_the_receiver_dedupes(runtime: Runtime) -> None:
    clock = FakeClock()
    with running(Receiver(failures=[Reset(), Slow(1.5)])) as receiver:
        enqueue(runtime, receiver.url, "m1")
        worker(runtime, clock, timeout=0.5).run_once()
        # The slow answer came too late for the sender, who tried again: the receiver gets the
        # message twice and applies it once.
        threading.Event().wait(1.2)
    assert status(runtime) == {"m1": ("delivered", 3)}
    assert receiver.applied_ids == ["m1"] and receiver.duplicates == 1


def test_still_failing_after_the_attempts_goes_back_to_the_queue_with_a_later_due_time(
    runtime: Runtime,
) -> None:
    clock = FakeClock()
    with running(Receiver(failures=[(503, {})] * 4)) as receiver:
        enqueue(runtime, receiver.url, "m1")
        w = worker(runtime, clock, attempts_per_claim=3)
        w.run_once()
        assert status(runtime) == {"m1": ("pending", 3)}
        assert w.run_once() == 0, "not due yet"
        clock.now += 60
        w.run_once()
    assert status(runtime) == {"m1": ("delivered", 5)}
    assert len(receiver.applied) == 1


def test_an_unreachable_receiver_is_a_transient_failure(runtime: Runtime) -> None:
    clock = FakeClock()
    enqueue(runtime, "http://127.0.0.1:9/none", "m1")  # nothing listens on the discard port
    worker(runtime, clock, attempts_per_claim=2).run_once()
    assert status(runtime)["m1"] == ("pending", 2)


def test_after_max_attempts_a_dead_letter_with_the_last_error(runtime: Runtime) -> None:
    clock = FakeClock()
    with running(Receiver(failures=[(503, {})] * 10)) as receiver:
        enqueue(runtime, receiver.url, "m1")
        w = worker(runtime, clock, attempts_per_claim=2, max_attempts=4, breaker_failures=100)
        w.run_once()
        clock.now += 60
        w.run_once()
    assert status(runtime) == {"m1": ("dead", 4)}
    [dead] = runtime.store.dead_letters(dead_letters())
    assert dead.last_error == "gave up after 4 attempts; last error: HTTP 503"


def test_after_max_age_a_dead_letter(runtime: Runtime) -> None:
    clock = FakeClock()
    with running(Receiver(failures=[(503, {})] * 10)) as receiver:
        enqueue(runtime, receiver.url, "m1", now=clock.now)
        w = worker(runtime, clock, attempts_per_claim=1, max_age=3600)
        w.run_once()
        assert status(runtime)["m1"][0] == "pending"
        clock.now += 3600
        w.run_once()
    assert status(runtime) == {"m1": ("dead", 2)}


def test_order_per_case_and_recipient_is_kept_while_other_cases_proceed(runtime: Runtime) -> None:
    clock = FakeClock()
    with running(Receiver(failures=[(503, {})] * 3)) as receiver:
        enqueue(runtime, receiver.url, "a1", "a2", case_id="case-a")
        enqueue(runtime, receiver.url, "b1", case_id="case-b")
        w = worker(runtime, clock, attempts_per_claim=3)
        # a1 and b1 are claimed together; a2 waits for a1 whatever happens to it.
        assert w.run_once() == 2
        statuses = status(runtime)
        assert statuses["a2"] == ("pending", 0)
        clock.now += 60
        while w.run_once():
            clock.now += 60
    order = receiver.applied_ids
    assert sorted(order) == ["a1", "a2", "b1"] and order.index("a1") < order.index("a2")


def test_a_dead_letter_holds_its_line_other_lines_go_on_and_replay_releases_it_in_order(
    runtime: Runtime,
) -> None:
    clock = FakeClock()
    with running(Receiver(refuse={"a1"})) as receiver, running(Receiver()) as vardcentral:
        enqueue(runtime, receiver.url, "a1", "a2", "a3", case_id="case-a")
        enqueue(runtime, receiver.url, "b1", "b2", case_id="case-b")
        enqueue(runtime, vardcentral.url, "va1", "va2", case_id="case-a", recipient=VARDCENTRAL)
        w = worker(runtime, clock)
        while w.run_once():
            pass
        assert status(runtime) == {
            "a1": ("dead", 1),
            "a2": ("pending", 0),
            "a3": ("pending", 0),
            "b1": ("delivered", 1),
            "b2": ("delivered", 1),
            "va1": ("delivered", 1),
            "va2": ("delivered", 1),
        }
        [held] = runtime.store.held_lines()
        assert (held.case_id, held.recipient, held.message_id, held.waiting) == ("case-a", KOMMUN, "a1", 2)
        clock.now += 3600  # however long it waits: the line stays held
        assert w.run_once() == 0 and status(runtime)["a2"] == ("pending", 0)
        receiver.refuse.clear()  # the receiving party fixed their end
        assert requeue(runtime.store, dead_letters(message_id="a1"), by="test", now=clock.now) == ["a1"]
        while w.run_once():
            pass
    assert receiver.applied_ids == ["b1", "b2", "a1", "a2", "a3"]
    assert runtime.store.held_lines() == []
    [record] = [r for r in runtime.store.case_messages("case-a") if r.message_id == "a1"]
    assert (record.status, record.replay_count, record.replayed_at) == ("delivered", 1, clock.now)
    with runtime.store.engine.connect() as conn:
        audit = conn.execute(select(schema.audit).where(schema.audit.c.action == "replay")).one()
    assert audit.party == "test" and audit.message_id == "a1"


def test_the_dashboard_shows_the_lines_dead_letters_hold(runtime: Runtime) -> None:
    clock = FakeClock()
    with running(Receiver(refuse={"a1", "b1"})) as receiver:
        enqueue(runtime, receiver.url, "a1", "a2", "a3", case_id="case-a")
        enqueue(runtime, receiver.url, "b1", case_id="case-b")
        w = worker(runtime, clock)
        while w.run_once():
            pass
    with TestClient(create_app(runtime=runtime)) as client:
        page = client.get("/dashboard").text
    row = page[page.index(f'data-recipient="{KOMMUN}"') :]
    held = row[row.index('class="num held"') : row.index("</tr>")]
    assert ">2</span>" in held and "(2 väntar)" in held


def test_skipping_a_dead_letter_releases_its_line_and_is_audited(runtime: Runtime) -> None:
    clock = FakeClock()
    with running(Receiver(refuse={"a1"})) as receiver:
        enqueue(runtime, receiver.url, "a1", "a2", "a3", case_id="case-a")
        w = worker(runtime, clock)
        while w.run_once():
            pass
        assert [r.message_id for r in runtime.store.held_lines()] == ["a1"]
        with pytest.raises(ValueError, match="reason"):
            skip(runtime.store, "a1", by="test", reason=" ", now=clock.now)
        with pytest.raises(NotADeadLetter, match="a2 is pending"):
            skip(runtime.store, "a2", by="test", reason="not dead", now=clock.now)
        record = skip(runtime.store, "a1", by="ops:anna", reason="sent by fax", now=clock.now)
        assert (record.status, record.skipped_by) == ("skipped", "ops:anna")
        assert record.skip_reason == "sent by fax"
        while w.run_once():
            pass
    assert receiver.applied_ids == ["a2", "a3"]
    assert runtime.store.held_lines() == [] and runtime.store.dead_letters(dead_letters()) == []
    assert runtime.store.requeue(dead_letters(message_id="a1"), clock.now) == []  # skipped is final
    with runtime.store.engine.connect() as conn:
        audit = conn.execute(select(schema.audit).where(schema.audit.c.action == "skip")).one()
    assert (audit.party, audit.message_id, audit.case_id) == ("ops:anna", "a1", "case-a")
    assert audit.detail == {"recipient": KOMMUN, "kind": "inskrivningsmeddelande", "reason": "sent by fax"}


def test_replay_by_recipient_and_by_time_range(runtime: Runtime) -> None:
    clock = FakeClock()
    with running(Receiver(refuse={"x1", "x2", "x3"})) as receiver:
        for i, mid in enumerate(["x1", "x2", "x3"]):
            enqueue(runtime, receiver.url, mid, case_id=f"case-{i}")
        w = worker(runtime, clock)
        for _ in range(3):  # given up at 1000, 1100 and 1200
            items = w.claim(1)
            w.deliver(items[0])
            clock.now += 100
        assert {m for m, (s, _) in status(runtime).items() if s == "dead"} == {"x1", "x2", "x3"}
    assert runtime.store.requeue(
        dead_letters(since="1970-01-01T00:18:20", until="1970-01-01T00:20:00"), clock.now
    ) == ["x2"]
    assert runtime.store.requeue(dead_letters(recipient="TSTNMT2321000156-VC01"), clock.now) == []
    assert runtime.store.requeue(dead_letters(recipient=KOMMUN), clock.now) == ["x1", "x3"]


def test_the_circuit_opens_after_repeated_failures_and_one_trial_closes_it(runtime: Runtime) -> None:
    clock = FakeClock()
    with running(Receiver(failures=[(500, {})] * 3)) as receiver:
        for i in range(5):
            enqueue(runtime, receiver.url, f"m{i}", case_id=f"case-{i}")
        w = worker(runtime, clock, attempts_per_claim=1, breaker_failures=3, breaker_reset=30)
        w.concurrency = 1
        for _ in range(3):
            w.run_once()
        assert receiver.requests == 3
        assert [c["state"] for c in w.breakers.snapshot()] == ["open"]
        clock.now += 20  # every message is due again, but the destination's circuit is open
        assert w.run_once() == 0 and receiver.requests == 3
        clock.now += 10  # half-open: one trial call
        w.concurrency = 4
        w.run_once()
        assert [c["state"] for c in w.breakers.snapshot()] == ["closed"]
        clock.now += 60
        while w.run_once():
            clock.now += 60
    assert sorted(receiver.applied_ids) == [f"m{i}" for i in range(5)]
    assert receiver.requests == 8  # 3 failures, then each of the five once


def test_a_lease_keeps_a_message_from_other_replicas_until_it_runs_out(runtime: Runtime) -> None:
    clock = FakeClock()
    with running(Receiver()) as receiver:
        enqueue(runtime, receiver.url, "m1")
        dead_replica = runtime.store.claim_due("replica-a", clock.now, lease_seconds=60)
        assert [i.message_id for i in dead_replica] == ["m1"]
        w = worker(runtime, clock)
        assert w.run_once() == 0, "leased by replica-a"
        clock.now += 61
        assert w.run_once() == 1
        # replica-a comes back to life and reports an outcome: it no longer holds the lease.
        assert not runtime.store.mark_dead(dead_replica[0].id, "replica-a", 1, "late", clock.now)
    assert status(runtime) == {"m1": ("delivered", 1)}
    [record] = runtime.store.case_messages("case-1")
    assert record.delivered_by == w.owner


def test_the_lease_outlasts_the_longest_claim(runtime: Runtime) -> None:
    policy = RetryPolicy(timeout=10, attempts_per_claim=4, in_claim_wait=5)
    w = DeliveryWorker(runtime.store, policy, lease_seconds=30)
    assert w.lease_seconds >= 4 * 10 + 3 * 5


@given(attempts=st.integers(1, 200), initial=st.floats(0.01, 10), cap=st.floats(0.1, 3600))
def test_backoff_grows_with_jitter_and_never_passes_the_cap(
    attempts: int, initial: float, cap: float
) -> None:
    policy = RetryPolicy(backoff_initial=initial, backoff_max=cap)
    ceiling = min(cap, initial * 2 ** (attempts - 1))
    for wait in (policy.backoff(attempts, lambda: 0.0), policy.backoff(attempts, lambda: 0.999)):
        assert ceiling / 2 <= wait <= ceiling <= cap


def test_retry_after_wins_over_a_shorter_backoff_but_is_capped() -> None:
    policy = RetryPolicy(backoff_initial=1, backoff_max=10, retry_after_max=120)
    assert policy.delay(1, 90) == 90
    assert policy.delay(1, 10_000) == 120
    assert policy.delay(1, 0) <= 1


def test_a_party_in_the_routing_table_overrides_the_default_policy(runtime: Runtime) -> None:
    from pydantic import ValidationError

    from adapter.routing.policy import Policies
    from adapter.routing.table import PartyConfig, RoutingTable

    data = runtime.routing.model_dump(by_alias=True)
    for party in data["parties"]:
        if party["hsa_id"] == KOMMUN:
            party["delivery"] = {"timeout": 30, "max_age": 259200, "breaker_failures": 10}
    policies = Policies.from_table(RetryPolicy(), RoutingTable.model_validate(data))
    kommun = policies.for_recipient(KOMMUN)
    assert (kommun.timeout, kommun.max_age, kommun.breaker_failures) == (30, 259200, 10)
    assert kommun.max_attempts == RetryPolicy().max_attempts
    assert policies.for_recipient("TSTNMT2321000156-VC01") == RetryPolicy()
    with pytest.raises(ValidationError, match="timeout_seconds"):
        PartyConfig.model_validate({**data["parties"][0], "delivery": {"timeout_seconds": 3}})
