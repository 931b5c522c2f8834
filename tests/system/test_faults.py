"""Fault test: the adapter as a real process against receivers that misbehave on loopback. The
kommun's system is down for a while; the vårdcentral's answers 500, 429 with Retry-After, too
slowly, and by resetting the connection, and refuses one message outright. Everything arrives,
once, in order per case, after the receivers recover; the refused message is a dead letter that
holds its case's line to the vårdcentral until `lus-adapter deadletters replay` sends it again
under its own id, and the message after it follows."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson
import pytest

from adapter.mapping.outbound import outbound_message_id
from tests.support.examples import write_routing
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL
from tests.support.processes import (
    AdapterProcess,
    free_port,
    message_id,
    stay_messages,
    wait_until,
    wait_until_settled,
)
from tests.support.receivers import Receiver, Reset, Slow, running

pytestmark = pytest.mark.slow

RETRY_AFTER = 2


def test_receivers_down_failing_slow_and_resetting_then_recovering(tmp_path: Path) -> None:
    stays = {f"FAULT-{i}": stay_messages(f"FAULT-{i}", 3) for i in range(3)}
    refused = outbound_message_id(message_id(stays["FAULT-0"][1]), VARDCENTRAL)
    kommun = Receiver(port=free_port())  # not listening yet: the kommun's system is down
    vardcentral = Receiver(
        port=free_port(),
        failures=[
            (500, {}),
            (500, {}),
            (429, {"Retry-After": str(RETRY_AFTER)}),
            Slow(1.5),
            Reset(),
            (503, {}),
        ],
        refuse={refused},
    )
    config = write_routing(
        tmp_path / "config",
        {SELF: "http://127.0.0.1:9/ehr", KOMMUN: kommun.url, VARDCENTRAL: vardcentral.url},
    )
    env = {
        "LUS_DATABASE_URL": f"sqlite:///{tmp_path / 'adapter.db'}",
        "LUS_CONFIG_DIR": str(config),
        "LUS_WORKER_POLL_SECONDS": "0.05",
        "LUS_DELIVERY_TIMEOUT_SECONDS": "1",
        "LUS_DELIVERY_BACKOFF_INITIAL_SECONDS": "0.1",
        "LUS_DELIVERY_BACKOFF_MAX_SECONDS": "0.5",
        "LUS_DELIVERY_IN_CLAIM_WAIT_SECONDS": "0.5",
        "LUS_DELIVERY_BREAKER_FAILURES": "3",
        "LUS_DELIVERY_BREAKER_RESET_SECONDS": "1",
    }
    adapter = AdapterProcess(env=env, log=tmp_path / "adapter.log")
    with running(vardcentral):
        adapter.start()
        try:
            senders = [threading.Thread(target=_send_in_order, args=(adapter, s)) for s in stays.values()]
            for t in senders:
                t.start()
            for t in senders:
                t.join(timeout=60)

            # The kommun's endpoint refuses connections: its circuit opens, its messages wait.
            wait_until(lambda: _circuit(adapter, kommun.url) == "open", 20, "the kommun's circuit to open")
            time.sleep(1.5)
            with running(kommun):
                wait_until(lambda: len(kommun.applied) == 9, 30, "the kommun's system to get everything")
                wait_until(lambda: len(vardcentral.applied) == 7, 30, "the vårdcentral to get all but two")
                wait_until_settled(env["LUS_DATABASE_URL"])  # what could still be delivered, was

                listed = _cli(env, "deadletters", "list", "--format", "json")
                [dead] = orjson.loads(listed.stdout)
                assert dead["message_id"] == refused and dead["last_error"].startswith("HTTP 422")
                assert len(vardcentral.applied) == 7  # the message after it waits in its line
                vardcentral.refuse.clear()  # the vårdcentral fixed its end
                replayed = _cli(env, "deadletters", "replay", refused)
                assert replayed.stdout.split() == [refused]
                wait_until(lambda: len(vardcentral.applied) == 9, 30, "the replayed message")
                assert _circuit(adapter, kommun.url) == "closed"
        finally:
            adapter.stop()

    for party, receiver in ((KOMMUN, kommun), (VARDCENTRAL, vardcentral)):
        arrived = receiver.applied_ids
        assert len(arrived) == len(set(arrived)) == 9
        for stay in stays.values():
            expected = [outbound_message_id(message_id(b), party) for b in stay]
            assert [m for m in arrived if m in expected] == expected
    # The slow answer was applied although the sender had stopped waiting; its resend was not.
    assert vardcentral.duplicates >= 1
    # Retry-After: nothing new reached the vårdcentral until it had passed.
    log = sorted(vardcentral.log)
    asked_at = next(t for t, outcome in log if outcome == "429")
    assert not [t for t, _ in log if asked_at + 0.2 < t < asked_at + RETRY_AFTER - 0.1]
    logs = adapter.log.read_text(encoding="utf-8")
    assert "circuit open" in logs and "dead letter" in logs
    for secret in ("191212121212", "Tolvansson"):
        assert secret not in logs


def _send_in_order(adapter: AdapterProcess, stay: list[dict[str, object]]) -> None:
    for bundle in stay:
        assert adapter.post(bundle).status_code == 200


def _circuit(adapter: AdapterProcess, endpoint: str) -> str | None:
    circuits = httpx.get(f"{adapter.base}/admin/circuits", timeout=5).json()["circuits"]
    return next(
        (c["state"] if c["open_until"] is None else "open" for c in circuits if c["endpoint"] == endpoint),
        None,
    )


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "adapter", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result
