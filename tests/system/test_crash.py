"""Crash test: the adapter process is killed with SIGKILL at several points while messages come
in and deliveries are in flight; after each restart it carries on. In the end every message the
adapter accepted (answered 200) has reached both receivers exactly once as far as they can tell,
in the order it was accepted within its case, and a resend of an accepted message is answered as
before, across the restarts."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from adapter.mapping.outbound import outbound_message_id
from tests.support.examples import write_routing
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL
from tests.support.processes import AdapterProcess, message_id, stay_messages, wait_until, wait_until_settled
from tests.support.receivers import Receiver, running

pytestmark = pytest.mark.slow

CASES, PER_CASE = 6, 5


class Sender:
    """A party's system: one thread per case, each message resent until it gets an answer, the
    next one not sent before (that is what makes "accepted order" well defined per case)."""

    def __init__(self, adapter: AdapterProcess) -> None:
        self.adapter = adapter
        self.stays = {f"CRASH-{i}": stay_messages(f"CRASH-{i}", PER_CASE) for i in range(CASES)}
        self.accepted: dict[str, list[str]] = {case: [] for case in self.stays}
        self.answers: dict[str, bytes] = {}
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._send, args=(c,), daemon=True) for c in self.stays]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def _send(self, case: str) -> None:
        for bundle in self.stays[case]:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                try:
                    reply = self.adapter.post(bundle, timeout=5)
                except httpx.TransportError:
                    time.sleep(0.1)  # the adapter is down: resend the same message later
                    continue
                assert reply.status_code == 200, reply.text
                with self.lock:
                    self.accepted[case].append(message_id(bundle))
                    self.answers[message_id(bundle)] = reply.content
                break
            time.sleep(0.02)

    @property
    def count(self) -> int:
        with self.lock:
            return sum(len(v) for v in self.accepted.values())

    def join(self) -> None:
        for t in self.threads:
            t.join(timeout=120)


def test_sigkill_at_several_points_loses_nothing_and_keeps_order(tmp_path: Path) -> None:
    kommun = Receiver(delay=0.02)
    vardcentral = Receiver(delay=0.02)
    hold, held, release = threading.Event(), threading.Event(), threading.Event()

    def hold_one(_message_id: str) -> None:  # keeps one delivery in flight inside the receiver
        if hold.is_set():
            hold.clear()
            held.set()
            release.wait(10)

    kommun.on_request = hold_one
    with running(kommun), running(vardcentral):
        config = write_routing(
            tmp_path / "config",
            {SELF: "http://127.0.0.1:9/ehr", KOMMUN: kommun.url, VARDCENTRAL: vardcentral.url},
        )
        adapter = AdapterProcess(
            env={
                "LUS_DATABASE_URL": f"sqlite:///{tmp_path / 'adapter.db'}",
                "LUS_CONFIG_DIR": str(config),
                "LUS_WORKER_POLL_SECONDS": "0.05",
                "LUS_DELIVERY_TIMEOUT_SECONDS": "0.5",
                "LUS_DELIVERY_ATTEMPTS_PER_CLAIM": "2",
                "LUS_DELIVERY_IN_CLAIM_WAIT_SECONDS": "0.2",
                "LUS_DELIVERY_BACKOFF_INITIAL_SECONDS": "0.05",
                "LUS_DELIVERY_BACKOFF_MAX_SECONDS": "0.5",
                "LUS_DELIVERY_LEASE_SECONDS": "2",
            },
            log=tmp_path / "adapter.log",
        )
        sender = Sender(adapter.start())
        try:
            # 1. While messages are coming in and the first deliveries are going out.
            sender.start()
            wait_until(lambda: sender.count >= 8, 30, "some messages accepted")
            adapter.kill()
            first = next(mid for mids in sender.accepted.values() for mid in mids)
            adapter.start()
            # A resend of an accepted message, after the restart, gets the original answer.
            resend = next(b for s in sender.stays.values() for b in s if message_id(b) == first)
            assert adapter.post(resend).content == sender.answers[first]

            # 2. While a delivery is inside the receiver: it applies it, but the answer never arrives.
            hold.set()
            wait_until(held.is_set, 30, "a delivery in flight")
            adapter.kill()
            release.set()
            adapter.start()

            # 3. Right after some deliveries were recorded, others mid-way.
            applied = len(kommun.applied) + len(vardcentral.applied)
            wait_until(
                lambda: len(kommun.applied) + len(vardcentral.applied) >= applied + 6, 30, "deliveries"
            )
            adapter.kill()
            adapter.start()

            sender.join()
            assert sender.count == CASES * PER_CASE
            expected = CASES * PER_CASE
            wait_until(
                lambda: len(kommun.applied) == expected and len(vardcentral.applied) == expected,
                60,
                "every accepted message at both receivers",
            )
            wait_until_settled(f"sqlite:///{tmp_path / 'adapter.db'}")  # then stopped: nothing in flight
        finally:
            release.set()
            adapter.stop()

    for party, receiver in ((KOMMUN, kommun), (VARDCENTRAL, vardcentral)):
        arrived = receiver.applied_ids
        assert len(arrived) == len(set(arrived)) == CASES * PER_CASE
        for case, accepted in sender.accepted.items():
            in_case = {outbound_message_id(mid, party) for mid in accepted}
            assert [m for m in arrived if m in in_case] == [
                outbound_message_id(m, party) for m in accepted
            ], f"order of case {case} at {party}"
    # The delivery cut off inside the receiver was sent again after the restart and recognised.
    assert kommun.duplicates >= 1
