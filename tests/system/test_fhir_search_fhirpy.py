"""The FHIR reads and searches through a real third-party FHIR client (fhirpy), against the
adapter served by uvicorn on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome, ResourceNotFound

from adapter.config import Settings
from adapter.runtime import build_runtime
from tests.support.examples import write_routing
from tests.support.holdings_seed import EXAMPLE_CASE, load_holdings, with_rules
from tests.support.live_server import serving
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL
from tests.support.processes import free_port

pytestmark = pytest.mark.slow

PNR = "http://electronichealth.se/identifier/personnummer"


@pytest.fixture
def fhir(tmp_path: Path, database_url: str) -> Iterator[SyncFHIRClient]:
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    config = with_rules(
        write_routing(
            tmp_path / "config",
            {p: "http://127.0.0.1:9/none" for p in (SELF, KOMMUN, VARDCENTRAL)},
            base_url=base,
        )
    )
    runtime = build_runtime(Settings(database_url=database_url, config_dir=config, worker=False))
    load_holdings(runtime)
    with serving(runtime, port):
        yield SyncFHIRClient(base, extra_headers={"Accept": "application/fhir+json"})
    runtime.store.engine.dispose()


def case_ids(encounters: list) -> list[str]:  # type: ignore[type-arg]
    return sorted(e["identifier"][0]["value"] for e in encounters)


def test_encounter_searches(fhir: SyncFHIRClient) -> None:
    encounters = fhir.resources("Encounter")
    in_hospital = encounters.search(patient__identifier=f"{PNR}|191212121212", status="in-progress").fetch()
    assert case_ids(in_hospital) == [EXAMPLE_CASE]
    assert in_hospital[0]["period"]["start"] == "2026-11-23T08:15:00+01:00"
    assert case_ids(encounters.search(patient__identifier="191212121212").fetch_all()) == [
        EXAMPLE_CASE,
        "stay-a",
    ]
    assert case_ids(encounters.search(status="finished").fetch_all()) == ["stay-a", "stay-b", "stay-c"]
    assert encounters.search(status="in-progress").count() == 2
    assert encounters.search(date__ge="2026-11-23").count() == 2  # the example, and stay-d still in
    assert encounters.search(patient__identifier="198507099805").fetch() == []

    # Paging: fhirpy follows the next links.
    every = encounters.limit(2).fetch_all()
    assert len(every) == 5 and len({e.id for e in every}) == 5

    # References resolve: the Encounter's patient is readable.
    patient = in_hospital[0]["subject"].to_resource()
    assert patient["identifier"][0] == {"system": PNR, "value": "191212121212"}
    # Two stays, one person: one Patient.
    assert fhir.resources("Patient").search(identifier="191212121212").count() == 1


def test_careplan_appointment_and_communication_searches_answer_searchsets(fhir: SyncFHIRClient) -> None:
    encounter = fhir.resources("Encounter").search(identifier=EXAMPLE_CASE).get()
    # The adapter holds these resources once the outbound renderer renders planeringsunderlag,
    # planeringsmöten and kallelser; the searches answer with valid (here empty) searchsets.
    assert fhir.resources("CarePlan").search(encounter=f"Encounter/{encounter.id}").fetch() == []
    assert fhir.resources("Communication").search(encounter=f"Encounter/{encounter.id}").fetch() == []
    assert fhir.resources("Appointment").search(date__ge="2026-11-01", date__lt="2026-12-01").fetch() == []


def test_the_capability_statement_lists_the_searches(fhir: SyncFHIRClient) -> None:
    statement = fhir.execute("metadata", method="get")
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert {"Encounter", "CarePlan", "Appointment", "Communication", "Patient"} <= set(resources)
    names = {p["name"]: p["type"] for p in resources["Encounter"]["searchParam"]}
    assert names["patient"] == "reference" and names["status"] == "token" and names["date"] == "date"


def test_errors_reach_the_client_as_operation_outcomes(fhir: SyncFHIRClient) -> None:
    with pytest.raises(OperationOutcome) as bad:
        fhir.resources("Appointment").search(date="2026-02-30").fetch()
    assert "not a real date" in str(bad.value)
    with pytest.raises(ResourceNotFound):
        fhir.reference("Encounter", "no-such-encounter").to_resource()
