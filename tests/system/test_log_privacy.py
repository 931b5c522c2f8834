"""No personnummer, name or address in any log line: the adapter runs as a real process at debug
level through everything the end-to-end path does — accepted, duplicate, invalid, forbidden,
hostile and protected-identity messages, reads and searches by personnummer, deliveries, a
receiver that refuses and quotes the patient back — and all it wrote is scanned for every test
identity of LUS.md in every written form, and for the names and street of the test patient."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.support.examples import load_example, write_routing
from tests.support.parties import KOMMUN, SELF, TEST_PERSONNUMMER, VARDCENTRAL
from tests.support.processes import AdapterProcess, wait_until
from tests.support.protected import protected_message
from tests.support.receivers import Receiver, running

pytestmark = pytest.mark.slow

# LUS.md "Test identities": the personnummer, the samordningsnummer, the protected-identity example.
TEST_IDENTITIES = (*TEST_PERSONNUMMER, "198507099813", "196109732393", "200001252386")
TEST_NAMES = ("Tolvan", "Tolvansson", "Tolvmansgatan")
FHIR = {"Content-Type": "application/fhir+json"}
PNR_SYSTEM = "http://electronichealth.se/identifier/personnummer"


def written_forms(pnr: str) -> set[str]:
    """12 digits, 10 digits, and both with the separator."""
    return {pnr, pnr[2:], f"{pnr[:8]}-{pnr[8:]}", f"{pnr[2:8]}-{pnr[8:]}"}


class QuotingReceiver(Receiver):
    """Refuses everything with an OperationOutcome that quotes the patient, as real systems do."""

    def handle(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.requests += 1
        quote = "Patient Tolvan Tolvansson (19121212-1212), Tolvmansgatan 12: unknown in our register"
        outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "diagnostics": quote}]}
        return 422, {"Content-Type": "application/fhir+json"}, orjson.dumps(outcome)


@pytest.fixture
def adapter_log(tmp_path: Path) -> Iterator[tuple[str, Path, Receiver]]:
    kommun, vardcentral = Receiver(), QuotingReceiver()
    with running(kommun), running(vardcentral):
        adapter = AdapterProcess(env={}, log=tmp_path / "adapter.log")
        config = write_routing(
            tmp_path / "config",
            {SELF: "http://127.0.0.1:9/ehr", KOMMUN: kommun.url, VARDCENTRAL: vardcentral.url},
            base_url=f"{adapter.base}/fhir",
        )
        adapter.env = {
            "LUS_DATABASE_URL": f"sqlite:///{tmp_path / 'adapter.db'}",
            "LUS_CONFIG_DIR": str(config),
            "LUS_WORKER_POLL_SECONDS": "0.1",
            "LUS_LOG_LEVEL": "debug",
        }
        adapter.start()
        try:
            yield adapter.base, adapter.log, kommun
        finally:
            adapter.stop()


def post(base: str, body: bytes | dict[str, Any], headers: dict[str, str] = FHIR) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return httpx.post(f"{base}/fhir/$process-message", content=content, headers=headers, timeout=10)


def test_no_test_identity_or_name_in_any_log_line(adapter_log: tuple[str, Path, Receiver]) -> None:
    base, log_path, kommun = adapter_log
    example = load_example("inskrivningsmeddelande.json")
    assert post(base, example).status_code == 200
    assert post(base, example).status_code == 200  # duplicate
    assert post(base, protected_message("R")).status_code == 200
    invalid = load_example("invalid-inskrivningsmeddelande-personnummer.json")
    assert post(base, invalid).status_code == 422
    assert post(base, {**example, "id": str(uuid.uuid4())}, {**FHIR, "X-LUS-Party": KOMMUN}).status_code in (
        403,
        409,
    )
    assert post(base, b'{"resourceType":"Bundle","id":"191212121212 Tolvansson"').status_code == 400
    assert post(base, b"Tolvan Tolvansson 19121212-1212", {"Content-Type": "text/plain"}).status_code == 415
    for path in (
        "/cases/SU-2026-000123",
        "/cases/SU-2026-000123/timeline",
        f"/fhir/Encounter?patient.identifier={PNR_SYSTEM}|191212121212",
        "/fhir/Encounter?patient.identifier=19121212-1212&birthdate=Tolvansson",
        "/dashboard",
        "/dashboard/arenden/SU-2026-000123",
    ):
        assert httpx.get(f"{base}{path}", timeout=10).status_code < 500, path
    wait_until(lambda: len(kommun.applied) == 2, 30, "the kommun to get both messages")
    wait_until(lambda: "dead letter" in log_path.read_text(encoding="utf-8"), 30, "the refusal")

    logs = log_path.read_text(encoding="utf-8")
    assert "message accepted" in logs and "message rejected" in logs and "delivered" in logs
    leaked = [s for p in TEST_IDENTITIES for s in written_forms(p) if s in logs]
    leaked += [name for name in TEST_NAMES if name in logs]
    assert not leaked, f"personal data in the log: {leaked}"
