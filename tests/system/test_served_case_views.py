"""What a newcomer meets of the case views, on `lus-adapter serve` as a process over real HTTP
(and PostgreSQL when LUS_TEST_POSTGRES_DSN is set): the whole example case played by its senders,
then a late admission correction answered with a warning, a second stay of the same patient, the
FHIR searches and CapabilityStatement, and the dashboard's closed case and 404."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.support.examples import EXAMPLES, write_routing
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL
from tests.support.processes import AdapterProcess

pytestmark = pytest.mark.slow

CASE = "SU-2026-000123"
FHIR = {"Content-Type": "application/fhir+json"}
STEPS = sorted((EXAMPLES / "bundles" / "canonical").glob("*.json"))


@pytest.fixture
def adapter(tmp_path: Path, database_url: str) -> Iterator[str]:
    process = AdapterProcess(env={}, log=tmp_path / "adapter.log")
    config = write_routing(
        tmp_path / "config",
        {p: "http://127.0.0.1:9/none" for p in (SELF, KOMMUN, VARDCENTRAL)},
        base_url=f"{process.base}/fhir",
    )
    process.env = {"LUS_DATABASE_URL": database_url, "LUS_CONFIG_DIR": str(config), "LUS_WORKER": "false"}
    process.start()
    try:
        yield process.base
    finally:
        process.stop()


def sender(bundle: dict[str, Any]) -> str:
    """The HSA-id of the message's sender: it must send as itself."""
    reference = bundle["entry"][0]["resource"]["sender"]["reference"]
    [organization] = [e["resource"] for e in bundle["entry"] if e["fullUrl"] == reference]
    return str(organization["identifier"][0]["value"])


def send(base: str, bundle: dict[str, Any]) -> httpx.Response:
    headers = {**FHIR, "X-LUS-Party": sender(bundle)}
    return httpx.post(
        f"{base}/fhir/$process-message", content=orjson.dumps(bundle), headers=headers, timeout=30
    )


def renewed(bundle: dict[str, Any], timestamp: str, case_id: str = CASE) -> dict[str, Any]:
    """The same message written anew: new ids, its own time, and the case it is about."""
    fresh = copy.deepcopy(bundle)
    fresh["id"], fresh["timestamp"] = str(uuid.uuid4()), timestamp
    fresh["entry"][0]["resource"]["id"] = str(uuid.uuid4())
    [encounter] = [e["resource"] for e in fresh["entry"] if e["resource"]["resourceType"] == "Encounter"]
    encounter["identifier"][0]["value"] = case_id
    return fresh


def test_the_case_views_as_served(adapter: str) -> None:
    for step in STEPS:
        reply = send(adapter, orjson.loads(step.read_bytes()))
        assert reply.status_code == 200, (step.name, reply.text)
    admission = orjson.loads(STEPS[0].read_bytes())

    # An admission correction written before the discharge, arriving after it: kept, not silent.
    reply = send(adapter, renewed(admission, "2026-11-24T10:00:00+01:00"))
    assert reply.status_code == 200, reply.text
    issues = [
        i
        for e in reply.json()["entry"]
        if e["resource"]["resourceType"] == "OperationOutcome"
        for i in e["resource"]["issue"]
    ]
    assert [i["severity"] for i in issues if i["details"]["coding"][0]["code"] == "case-closed"] == [
        "warning"
    ]
    case = httpx.get(f"{adapter}/cases/{CASE}").json()
    assert case["state"] == "utskriven"
    assert case["utskrivningsklar_at"] is not None  # the time survives the discharge

    # The same patient's next stay: two cases, one Patient.
    assert send(adapter, renewed(admission, "2026-12-01T09:00:00+01:00", "SU-2026-000200")).status_code == 200
    stays = httpx.get(f"{adapter}/fhir/Encounter", params={"patient.identifier": "191212121212"}).json()
    assert stays["total"] == 2
    patients = httpx.get(f"{adapter}/fhir/Patient", params={"identifier": "191212121212"}).json()
    assert patients["total"] == 1 and len(patients["entry"]) == 1

    # The two meddelanden of the example, found by their category.
    talk = httpx.get(f"{adapter}/fhir/Communication", params={"category": "meddelande"}).json()
    assert talk["total"] == 2
    assert httpx.get(f"{adapter}/fhir/Communication", params={"category": "kvittens"}).json()["total"] == 0

    statement = httpx.get(f"{adapter}/fhir/metadata").json()
    assert "validate" in [op["name"] for op in statement["rest"][0]["operation"]]
    assert statement["messaging"][0]["reliableCache"] > 0

    # The dashboard reaches the closed case by its id, and answers an unknown one with a page.
    page = httpx.get(f"{adapter}/dashboard/arenden", params={"arende": CASE}, follow_redirects=True)
    assert page.status_code == 200 and str(page.url).endswith(f"/dashboard/arenden/{CASE}")
    assert "<dt>Status</dt><dd>Utskriven</dd>" in page.text
    assert "<dt>Utskrivningsklar</dt><dd>–</dd>" not in page.text
    missing = httpx.get(f"{adapter}/dashboard/arenden/SU-1999-000001")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "Inget ärende SU-1999-000001" in missing.text
