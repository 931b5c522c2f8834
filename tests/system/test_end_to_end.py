"""End to end: the adapter as a real process, two real HTTP receivers on loopback.

The hospital's inskrivningsmeddelande goes in; the municipality of the patient's
folkbokföringsadress and the patient's vårdcentral each get a valid message bundle carrying
the patient and the expected discharge date — the vårdcentral exactly once although it first
answers 503 twice.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from adapter.validation.validator import Validator
from tests.support.examples import load_example, write_routing
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL
from tests.support.processes import free_port, wait_until, wait_until_settled
from tests.support.receivers import Receiver, running

pytestmark = pytest.mark.slow


@pytest.fixture
def adapter_process(tmp_path: Path) -> Iterator[tuple[str, Receiver, Receiver, Path]]:
    kommun = Receiver()
    vardcentral = Receiver(failures=[(503, {}), (503, {"Retry-After": "1"})])
    with running(kommun), running(vardcentral):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        config = write_routing(
            tmp_path / "config",
            {SELF: "http://127.0.0.1:9/ehr", KOMMUN: kommun.url, VARDCENTRAL: vardcentral.url},
            base_url=f"{base}/fhir",
        )
        log_path = tmp_path / "adapter.log"
        env = {
            **os.environ,
            "LUS_DATABASE_URL": f"sqlite:///{tmp_path / 'adapter.db'}",
            "LUS_CONFIG_DIR": str(config),
            "LUS_WORKER_POLL_SECONDS": "0.1",
        }
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "adapter", "serve", "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                wait_until(lambda: _ready(base), 30, "the adapter to be ready")
                yield base, kommun, vardcentral, log_path
            finally:
                proc.terminate()
                proc.wait(timeout=20)


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/ready", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_inskrivningsmeddelande_reaches_kommun_and_vardcentral(
    adapter_process: tuple[str, Receiver, Receiver, Path],
) -> None:
    base, kommun, vardcentral, log_path = adapter_process
    database = f"sqlite:///{log_path.parent / 'adapter.db'}"
    bundle = load_example("inskrivningsmeddelande.json")
    reply = httpx.post(
        f"{base}/fhir/$process-message",
        content=orjson.dumps(bundle),
        headers={"Content-Type": "application/fhir+json"},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["entry"][0]["resource"]["response"]["code"] == "ok"

    wait_until(lambda: kommun.applied and vardcentral.applied, 30, "both receivers to get the message")
    wait_until_settled(database)  # nothing left that a wrong second delivery could come from

    validator = Validator.from_path(Path(__file__).parents[2] / "profiles")
    for receiver, hsa_id in ((kommun, KOMMUN), (vardcentral, VARDCENTRAL)):
        assert len(receiver.applied) == 1
        assert receiver.duplicates == 0
        message = receiver.applied[0]
        assert validator.validate_message(message) == []
        header = message["entry"][0]["resource"]
        assert header["destination"][0]["receiver"]["identifier"]["value"] == hsa_id
        resources = {e["resource"]["resourceType"]: e["resource"] for e in message["entry"]}
        assert resources["Patient"]["identifier"][0]["value"] == "191212121212"
        expected = [
            e["valueDate"]
            for e in resources["Encounter"]["extension"]
            if e["url"].endswith("expected-discharge-date")
        ]
        assert expected == ["2026-11-27"]
    assert kommun.requests == 1
    assert vardcentral.requests == 3  # 503, 503 (Retry-After: 1), then delivered once

    # A resend of the same message changes nothing downstream.
    again = httpx.post(
        f"{base}/fhir/$process-message",
        content=orjson.dumps(bundle),
        headers={"Content-Type": "application/fhir+json"},
        timeout=10,
    )
    assert again.content == reply.content
    wait_until_settled(database)  # anything the resend queued would be delivered by now
    assert (len(kommun.applied), len(vardcentral.applied)) == (1, 1)

    logs = log_path.read_text(encoding="utf-8")
    assert "message accepted" in logs and "delivered" in logs
    for secret in ("191212121212", "Tolvansson", "Tolvmansgatan"):
        assert secret not in logs
