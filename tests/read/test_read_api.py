"""The read side in process: GET /cases/{id} and its timeline, FHIR reads and searches, scoping to
the calling party, and the search-parameter semantics on official R4 examples."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from sqlalchemy import select

from adapter.api.caller import authenticated
from adapter.api.dashboard import what
from adapter.app import create_app
from adapter.config import Settings
from adapter.process.events import Meddelande
from adapter.read.case_view import TimelineEntry
from adapter.read.search_params import SearchError, date_range, matches, parse_criterion
from adapter.runtime import Runtime
from adapter.security.identity import Caller
from adapter.store import schema
from tests.support.examples import CONFORMANCE
from tests.support.holdings_seed import EXAMPLE_CASE, KALLELSE_DUE, append, load_holdings, with_rules
from tests.support.lus_story import Story, when
from tests.support.parties import KOMMUN, VARDCENTRAL

PNR = "http://electronichealth.se/identifier/personnummer"
OTHER_KOMMUN = "TSTNMT2321000156-K1490"


@pytest.fixture
def loaded(settings: Settings, runtime: Runtime) -> Runtime:
    with_rules(settings.config_dir)
    load_holdings(runtime)
    return runtime


@pytest.fixture
def client(loaded: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=loaded)) as c:
        yield c


def as_party(client: TestClient, hsa_id: str) -> None:
    """Let the caller dependency name another party (without the admin role), as authentication will."""

    def party(_request: Request) -> Caller:
        return Caller(hsa_id, frozenset(), "development")

    client.app.dependency_overrides[authenticated] = party  # type: ignore[attr-defined]


def audit_actions(runtime: Runtime) -> list[tuple[str, str | None, str | None]]:
    with runtime.store.engine.connect() as conn:
        rows = conn.execute(select(schema.audit.c.action, schema.audit.c.party, schema.audit.c.case_id))
        return [tuple(r) for r in rows if r.action != "receive"]  # type: ignore[misc]


def test_case_shows_state_next_deadline_and_liability(client: TestClient, loaded: Runtime) -> None:
    reply = client.get(f"/cases/{EXAMPLE_CASE}")
    assert reply.status_code == 200, reply.text
    case = reply.json()
    assert case["state"] == "utskrivningsklar"
    assert case["utskrivningsklar_at"] == "2026-11-25T09:30:00+01:00"
    assert case["next_deadline"] == {
        "kind": "kallelse-sip",
        "due": when(KALLELSE_DUE).isoformat(),
        "status": "open",
        "met_at": None,
        "sender": VARDCENTRAL,
        "overdue": False,
    }
    assert [d["kind"] for d in case["deadlines"]] == ["inskrivningsmeddelande", "kallelse-sip"]
    assert case["betalningsansvar"]["agreement"] == "lagen"
    assert sorted(case["parties"]) == sorted([KOMMUN, VARDCENTRAL, "TSTNMT2321000156-SV41"])
    assert ("read-case", "TSTNMT2321000156-SV41", EXAMPLE_CASE) in audit_actions(loaded)


def test_timeline_has_every_message_in_and_out_deadlines_and_liable_days(client: TestClient) -> None:
    entries = client.get(f"/cases/{EXAMPLE_CASE}/timeline").json()["entries"]
    kinds = [(e["type"], e.get("kind"), e.get("recipient")) for e in entries]
    assert ("meddelande-in", "inskrivningsmeddelande", None) in kinds
    assert ("meddelande-in", "utskrivningsklar", None) in kinds
    assert ("meddelande-ut", "inskrivningsmeddelande", KOMMUN) in kinds
    assert ("meddelande-ut", "inskrivningsmeddelande", VARDCENTRAL) in kinds
    assert [e["kind"] for e in entries if e["type"] == "tidsgrans"] == [
        "inskrivningsmeddelande",
        "kallelse-sip",
    ]
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)

    # A stay five days from ready to home: liable from day 4 (the law's default, 3 fristdagar).
    stay = client.get("/cases/stay-b/timeline").json()["entries"]
    liable = [e for e in stay if e["type"] == "betalningsansvar"]
    assert [(e["from"], e["to"], e["days"]) for e in liable] == [("2026-11-14", "2026-11-15", 2)]
    assert liable[0]["amount"] == 2 * 9300


def test_a_party_reads_only_its_own_cases(client: TestClient, loaded: Runtime) -> None:
    everything = client.get("/fhir/Encounter").json()  # the admin role reads every case
    as_party(client, OTHER_KOMMUN)  # a kommun no case here is about
    assert client.get(f"/cases/{EXAMPLE_CASE}").status_code == 404
    assert client.get("/fhir/Encounter").json()["total"] == 0
    dashboard = client.get("/dashboard").text
    assert EXAMPLE_CASE not in dashboard and "Inga öppna ärenden" in dashboard
    assert ("read-case", OTHER_KOMMUN, EXAMPLE_CASE) in audit_actions(loaded)  # the refusal, audited

    as_party(client, KOMMUN)  # the kommun of every patient here (Göteborg): a party of every case
    assert client.get(f"/cases/{EXAMPLE_CASE}").status_code == 200
    found = client.get("/fhir/Encounter").json()
    assert found["total"] == everything["total"] > 1
    assert EXAMPLE_CASE in [e["resource"]["identifier"][0]["value"] for e in found["entry"]]
    assert ("fhir-search", KOMMUN, EXAMPLE_CASE) in audit_actions(loaded)


def test_unknown_case_is_a_404_operation_outcome(client: TestClient) -> None:
    reply = client.get("/cases/no-such-case/timeline")
    assert reply.status_code == 404
    assert reply.json()["resourceType"] == "OperationOutcome"


def search(client: TestClient, query: str) -> dict[str, Any]:
    reply = client.get(f"/fhir/{query}")
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("application/fhir+json")
    bundle: dict[str, Any] = reply.json()
    assert bundle["type"] == "searchset"
    return bundle


def test_encounter_search_by_patient_identifier_and_status(client: TestClient) -> None:
    by_pnr = search(client, f"Encounter?patient.identifier={PNR}|191212121212&status=in-progress")
    assert by_pnr["total"] == 1
    encounter = by_pnr["entry"][0]["resource"]
    assert encounter["identifier"][0]["value"] == EXAMPLE_CASE
    # The alias system of the personnummer (an OID) finds the same patient: both stays.
    assert (
        search(client, "Encounter?patient.identifier=urn:oid:1.2.752.129.2.1.3.1|191212121212")["total"] == 2
    )
    assert search(client, "Encounter?subject:Patient.identifier=191212121212")["total"] == 2
    assert search(client, "Encounter?patient.identifier=198507099805")["total"] == 0
    # stay-a, the same patient's earlier stay, is over: its Encounter is finished, with an end.
    finished = search(client, f"Encounter?patient.identifier={PNR}|191212121212&status=finished")["entry"]
    assert [(e["resource"]["identifier"][0]["value"], e["resource"]["period"]["end"]) for e in finished] == [
        ("stay-a", "2026-11-09T18:00:00+01:00")
    ]
    patient_ref = encounter["subject"]["reference"]
    assert search(client, f"Encounter?patient={patient_ref}")["total"] == 1
    patient = client.get(f"/fhir/{patient_ref}").json()
    assert patient["identifier"] == [{"system": PNR, "value": "191212121212"}]

    def stays(query: str) -> list[str]:
        return sorted(e["resource"]["identifier"][0]["value"] for e in search(client, query)["entry"])

    # Stays reaching into or past 23 November: the example and stay-d (still in hospital).
    assert stays("Encounter?date=ge2026-11-23") == [EXAMPLE_CASE, "stay-d"]
    assert stays("Encounter?date=sa2026-11-20") == [EXAMPLE_CASE]  # admitted after the 20th
    assert stays("Encounter?date=eb2026-11-10") == ["stay-a"]  # over before the 10th


def test_a_patient_search_gives_one_patient_per_person(client: TestClient) -> None:
    # Tolvan Tolvansson has two stays (the example case and stay-a): one Patient, whichever
    # identifier system the search names.
    for query in (
        "Patient?identifier=191212121212",
        "Patient?identifier=urn:oid:1.2.752.129.2.1.3.1|191212121212",
    ):
        found = search(client, query)
        assert found["total"] == 1 and len(found["entry"]) == 1, query
    people = [e["resource"]["identifier"][0]["value"] for e in search(client, "Patient")["entry"]]
    assert sorted(people) == ["191212121212", "195009072553", "196101182803", "199002222397"]
    # The Patient shown is the newest stay's, and it is readable by its id.
    [entry] = search(client, "Patient?identifier=191212121212")["entry"]
    example = search(client, f"Encounter?identifier={EXAMPLE_CASE}")["entry"][0]["resource"]
    assert example["subject"]["reference"] == f"Patient/{entry['resource']['id']}"
    assert client.get(f"/fhir/Patient/{entry['resource']['id']}").status_code == 200


def test_communication_search_by_category(client: TestClient, loaded: Runtime) -> None:
    question = Meddelande(
        message_id="fraga-1",
        case_id=EXAMPLE_CASE,
        occurred_at=when("2026-11-25 10:00"),
        sender=KOMMUN,
        text="Behöver patienten hemtjänst från första dagen?",
        thread_id="trad-1",
    )
    append(loaded, [question], question.occurred_at)
    lus_event = "https://lus-adapter.org/fhir/CodeSystem/lus-event"
    for query in ("category=meddelande", f"category={lus_event}|meddelande", f"category={lus_event}|"):
        found = search(client, f"Communication?{query}")
        assert [e["resource"]["payload"][0]["contentString"] for e in found["entry"]] == [question.text], (
            query
        )
    for query in ("category=kallelse-sip", "category=http://example.org/other|meddelande"):
        assert search(client, f"Communication?{query}")["total"] == 0, query
    advertised = client.get("/fhir/metadata").json()["rest"][0]["resource"]
    [communication] = [r for r in advertised if r["type"] == "Communication"]
    assert {"name": "category", "type": "token"} in communication["searchParam"]


def test_paging_unknown_parameters_and_bad_values(client: TestClient) -> None:
    first = search(client, "Patient?_count=0")
    assert first["total"] == 4 and first["entry"] == []  # one Patient per person: five stays, four people
    page, seen = search(client, "Patient?_count=2"), []
    while True:
        seen += [e["resource"]["id"] for e in page["entry"]]
        following = [link["url"] for link in page["link"] if link["relation"] == "next"]
        if not following:
            break
        page = search(client, following[0].split("/fhir/", 1)[1])
    assert len(seen) == len(set(seen)) == 4
    ignored = search(client, "Encounter?foo=bar")
    assert ignored["entry"][-1]["search"]["mode"] == "outcome"
    assert "foo" in ignored["entry"][-1]["resource"]["issue"][0]["diagnostics"]
    strict = client.get("/fhir/Encounter?foo=bar", headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400
    for bad in (
        "Appointment?date=2026-13-01",
        "Appointment?date=ap2026",
        "Encounter?status:below=x",
        "Encounter?_count=-1",
    ):
        reply = client.get(f"/fhir/{bad}")
        assert reply.status_code == 400, bad
        assert reply.json()["resourceType"] == "OperationOutcome"
    assert client.get("/fhir/Encounter/no-such-id").status_code == 404


def official(name: str) -> dict[str, Any]:
    return orjson.loads((CONFORMANCE / name).read_bytes())  # type: ignore[no-any-return]


def find(resource: dict[str, Any], query: str, held: dict[str, dict[str, Any]] | None = None) -> bool:
    key, _, value = query.partition("=")
    criterion = parse_criterion(resource["resourceType"], key, value)
    assert criterion is not None
    return matches(resource, criterion, (held or {}).get, lambda s: s)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # appointment-example: start 2013-12-10T09:00:00Z (10:00 in Stockholm).
        ("date=2013-12-10", True),
        ("date=2013-12", True),
        ("date=2013-12-11", False),
        ("date=lt2013-12-11", True),
        ("date=gt2013-12-10", False),
        ("date=ge2013-12-10", True),
        ("date=le2013-12-09", False),
        ("date=ne2013-12-10", False),
        ("date=eb2013-12-11", True),
        ("date=sa2013-12-09", True),
        ("date=2013-12-10T10:00:00+01:00", True),
        ("date=2013-12-10T10:00", True),  # local Swedish time
        ("date=2013-12-10T09:00", False),
        ("status=booked", True),
        ("status=proposed,booked", True),
        ("status=cancelled", False),
        ("patient=Patient/example", True),
        ("actor=Practitioner/example", True),
        ("actor=example", True),
        ("patient=Practitioner/example", False),
    ],
)
def test_appointment_search_parameters_on_the_official_example(query: str, expected: bool) -> None:
    assert find(official("appointment-example.json"), query) is expected


def test_careplan_and_communication_by_encounter_on_the_official_examples() -> None:
    careplan = official("careplan-example.json")
    assert find(careplan, "encounter=Encounter/home")
    assert find(careplan, "encounter=http://example.org/fhir/Encounter/home")
    assert not find(careplan, "encounter=Encounter/example")
    assert find(careplan, "patient=example")
    communication = official("communication-example.json")
    assert find(communication, "encounter=Encounter/example")
    assert find(communication, "sent=2014-12-13")  # 18:01 in California is 03:01 the next day here
    assert not find(communication, "sent=2014-12-12")
    patient = official("patient-example.json")
    held = {"Patient/example": patient}
    assert find(communication, "patient.identifier=urn:oid:1.2.36.146.595.217.0.1|12345", held)
    assert not find(communication, "patient.identifier=urn:oid:1.2.36.146.595.217.0.1|54321", held)


def test_a_resource_value_that_is_no_date_matches_no_date_search() -> None:
    assert not find({"resourceType": "Appointment", "start": "tomorrow"}, "date=ge2020")


def test_date_ranges_follow_precision_and_daylight_saving() -> None:
    prefix, start, end = date_range("ge2026-03-29")
    assert prefix == "ge"
    assert (end - start).total_seconds() == 23 * 3600  # the day the clocks go forward
    with pytest.raises(SearchError):
        date_range("2026-02-30")
    with pytest.raises(SearchError):
        parse_criterion("Encounter", "patient.nothing", "x")


def test_openapi_lists_the_new_endpoints(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/cases/{case_id}",
        "/cases/{case_id}/timeline",
        "/fhir/Encounter",
        "/fhir/Appointment",
        "/dashboard",
        "/dashboard/diagram",
        "/metrics",
    ):
        assert path in paths


def test_the_rules_file_of_the_config_folder_chooses_the_agreement(runtime: Runtime) -> None:
    # The fixture's config folder holds the example rules, which choose the law's agreement (a
    # folder without a rules file: tests/runtime/test_runtime.py).
    load_holdings(runtime)
    with TestClient(create_app(runtime=runtime)) as c:
        assert c.get(f"/cases/{EXAMPLE_CASE}").json()["betalningsansvar"]["agreement"] == "lagen"


def test_the_dashboard_escapes_what_senders_wrote(client: TestClient, loaded: Runtime) -> None:
    hostile = '<img src=x onerror="alert(1)">'
    story = Story("2026-11-24 08:00", case_id=hostile).klar("2026-11-24 08:00")
    for event in story.events:
        append(loaded, [event], event.occurred_at)
    page = client.get("/dashboard").text
    assert hostile not in page and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page
    case_page = client.get(f"/dashboard/arenden/{quote(hostile, safe='')}")
    assert case_page.status_code == 200 and hostile not in case_page.text


def test_every_timeline_row_says_what_it_is_about() -> None:
    at = when("2026-11-25 10:00")
    kinds = {"utskrivningsklar": "Utskrivningsklar", "kallelse-sip": "Kallelse till SIP"}
    rows = {
        "meddelande-in": {"kind": "utskrivningsklar", "message_id": "m1"},
        "meddelande-ut": {"kind": "utskrivningsklar", "message_id": "m1-k"},
        "leverans": {"kind": "utskrivningsklar", "message_id": "m1-k"},
        "kvittens": {"message_id": "m1-k", "by": KOMMUN, "code": "mottagen"},
        "tidsgrans": {"kind": "kallelse-sip"},
        "betalningsansvar": {"from": "2026-11-28", "to": "2026-11-28", "days": 1, "amount": 9300},
    }
    said = {kind: what(TimelineEntry(at, kind, data), kinds) for kind, data in rows.items()}
    assert said == {
        "meddelande-in": "Utskrivningsklar",
        "meddelande-ut": "Utskrivningsklar",
        "leverans": "Utskrivningsklar levererat",
        "kvittens": "Kvittens (mottagen) av meddelande m1-k",
        "tidsgrans": "Kallelse till SIP senast",
        "betalningsansvar": "2026-11-28 – 2026-11-28: 1\u00a0dag, 9\u00a0300\u00a0kr",
    }
    # A delivery row from before the kind was recorded still says something.
    assert what(TimelineEntry(at, "leverans", {"message_id": "m1-k"}), kinds) == "m1-k"


def test_the_dashboard_finds_a_closed_case_by_id_and_answers_an_unknown_one_in_html(
    client: TestClient, loaded: Runtime
) -> None:
    found = client.get("/dashboard/arenden", params={"arende": " stay-a "}, follow_redirects=False)
    assert found.status_code == 303 and found.headers["location"] == "/dashboard/arenden/stay-a"
    page = client.get(found.headers["location"])
    assert page.status_code == 200 and "Utskriven" in page.text and "2026-11-09 08:00" in page.text
    odd = client.get("/dashboard/arenden", params={"arende": "a/b c"}, follow_redirects=False)
    assert odd.headers["location"] == "/dashboard/arenden/a%2Fb%20c"
    assert client.get("/dashboard/arenden", follow_redirects=False).headers["location"] == "/dashboard"
    missing = client.get("/dashboard/arenden/no-such-case")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "Inget ärende no-such-case" in missing.text and 'id="sok-arende"' in missing.text
    as_party(client, OTHER_KOMMUN)  # a case the reader may not see is not there for them either
    assert client.get(f"/dashboard/arenden/{EXAMPLE_CASE}").status_code == 404


def test_the_dashboards_numbers_as_json_scoped_to_the_reader(client: TestClient) -> None:
    """GET /dashboard/diagram: every chart's categories and values per series, null for no data;
    a party that holds no case sees no deviation or meeting of others."""
    charts = {c["id"]: c for c in client.get("/dashboard/diagram").json()["charts"]}
    assert list(charts) == [
        "andel-inom-24h",
        "dagar-till-utskrivning",
        "betalningsansvar-per-kommun",
        "planeringsmoten-per-plats",
        "ledtid-till-planeringsmote",
        "andel-bokade-tider",
        "avvikelser-per-part",
    ]
    share = charts["andel-inom-24h"]
    [series] = share["series"]
    by_week = dict(zip(share["categories"], series["values"], strict=True))
    assert (by_week["v. 46"], by_week["v. 47"], by_week["v. 48"]) == (50.0, 100.0, None)  # 1 of 2, 1 of 1
    assert charts["avvikelser-per-part"]["series"]  # the stays here have deviations

    as_party(client, OTHER_KOMMUN)
    scoped = {c["id"]: c for c in client.get("/dashboard/diagram").json()["charts"]}
    assert (
        scoped["avvikelser-per-part"]["series"] == [] and scoped["planeringsmoten-per-plats"]["series"] == []
    )
