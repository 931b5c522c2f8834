"""A case has one patient: every message must be about it, its identifier compared and stored in
one form (12 digits). A message about another patient is refused, names both identifiers masked,
and changes nothing but the audit log. In process, on SQLite and PostgreSQL; the mTLS system test
is in tests/system/test_case_access.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from adapter.app import create_app
from adapter.runtime import Runtime
from adapter.security.patient import PatientIdentity, mask
from adapter.store import schema
from tests.support.examples import fresh_copy, load_example
from tests.support.pipeline import counts, post

CASE = "SU-2026-000123"
PERSONNUMMER = "http://electronichealth.se/identifier/personnummer"


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=runtime)) as c:
        yield c


def canonical(name: str) -> dict[str, Any]:
    return fresh_copy(load_example(f"canonical/{name}.json"))


def about(bundle: dict[str, Any], identifier: str, *, system: str = PERSONNUMMER) -> dict[str, Any]:
    """The message with its Patient's identifier replaced."""
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            entry["resource"]["identifier"] = [{"system": system, "value": identifier}]
    return bundle


def stored_patient(runtime: Runtime) -> str:
    with runtime.store.reading() as conn:
        case = runtime.store.load_case(conn, CASE)
    assert case is not None
    return case.patient.identifier


def last_audit(runtime: Runtime) -> Any:
    with runtime.store.engine.connect() as conn:
        return conn.execute(select(schema.audit).order_by(schema.audit.c.id.desc()).limit(1)).one()


def refused_for_another_patient(reply: Any, runtime: Runtime, before: dict[str, int], *numbers: str) -> None:
    assert reply.status_code == 422, reply.text
    [issue] = reply.json()["issue"]
    assert issue["details"]["coding"][0]["code"] == "patient-is-case-patient"
    assert issue["expression"] == ["Bundle.entry[2].resource.identifier[0].value"]
    for number in numbers:  # both named, masked: never the number itself
        assert mask(number) in issue["diagnostics"]
        assert number not in reply.text and number[2:] not in reply.text
    assert counts(runtime) == {**before, "audit": before["audit"] + 1}
    record = last_audit(runtime)
    assert (record.outcome, record.case_id) == ("rejected", CASE)
    assert record.detail["issues"][0]["rule"] == "patient-is-case-patient"


def test_a_new_admission_notice_for_another_patient_is_refused_and_the_case_keeps_its_patient(
    client: TestClient, runtime: Runtime
) -> None:
    assert post(client, canonical("01-inskrivningsmeddelande")).status_code == 200
    before = counts(runtime)
    reply = post(client, about(canonical("01-inskrivningsmeddelande"), "195009072553"))
    refused_for_another_patient(reply, runtime, before, "191212121212", "195009072553")
    assert stored_patient(runtime) == "191212121212"


def test_the_same_for_a_discharged_case_and_for_any_other_step(client: TestClient, runtime: Runtime) -> None:
    assert post(client, canonical("01-inskrivningsmeddelande")).status_code == 200
    before = counts(runtime)
    reply = post(client, about(canonical("04-utskrivningsklar"), "201212121212"))
    refused_for_another_patient(reply, runtime, before, "191212121212", "201212121212")
    assert post(client, canonical("13-utskrivningsmeddelande")).status_code == 200
    before = counts(runtime)
    # 121212-1212 is 201212121212 on the message's date (2026): a child, not the case's Tolvan
    reply = post(client, about(canonical("01-inskrivningsmeddelande"), "121212-1212"))
    refused_for_another_patient(reply, runtime, before, "191212121212", "201212121212")
    assert stored_patient(runtime) == "191212121212"


def test_ten_digit_forms_are_stored_as_twelve_digits_and_match_the_case(
    client: TestClient, runtime: Runtime
) -> None:
    # Tolvan, born 1912, is over 100 on the message's date: YYMMDD+NNNC
    assert post(client, about(canonical("01-inskrivningsmeddelande"), "121212+1212")).status_code == 200
    assert stored_patient(runtime) == "191212121212"
    for form in ("191212121212", "19121212-1212", "121212+1212"):
        reply = post(client, about(canonical("11-andrat-utskrivningsdatum"), form))
        assert reply.status_code == 200, reply.text
    assert stored_patient(runtime) == "191212121212"


def test_a_message_naming_two_patients_is_refused(client: TestClient, runtime: Runtime) -> None:
    bundle = canonical("01-inskrivningsmeddelande")
    patient = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    other = {"fullUrl": "urn:uuid:7a6f1e2c-3b4d-4c5e-8f90-a1b2c3d4e5f7", "resource": {**patient["resource"]}}
    other["resource"]["identifier"] = [{"system": PERSONNUMMER, "value": "195009072553"}]
    bundle["entry"].append(other)
    before = counts(runtime)
    reply = post(client, bundle)
    assert reply.status_code == 422, reply.text
    assert "patient-is-case-patient" in reply.text and "195009072553" not in reply.text
    assert counts(runtime) == {**before, "audit": before["audit"] + 1}


@pytest.mark.parametrize(
    ("value", "on", "expected"),
    [
        ("191212121212", date(2026, 11, 23), "191212121212"),
        ("19121212-1212", date(2026, 11, 23), "191212121212"),
        ("121212+1212", date(2026, 11, 23), "191212121212"),
        ("121212-1212", date(2026, 11, 23), "201212121212"),
        ("121212-1212", date(2011, 1, 1), "191212121212"),  # at most 99 on the day
        (" 500907-2553 ", date(2026, 11, 23), "195009072553"),
    ],
)
def test_one_form_for_a_personnummer_on_the_messages_date(
    runtime: Runtime, value: str, on: date, expected: str
) -> None:
    identity = PatientIdentity(runtime.validator.terminology)
    assert identity.normalise(PERSONNUMMER, value, on) == expected
    reservnummer = "http://electronichealth.se/identifier/nationelltReservnummer"
    assert identity.normalise(reservnummer, " X1 ", on) == "X1"


def test_the_mask_tells_test_identities_apart_without_the_number() -> None:
    assert mask("191212121212") != mask("201212121212")
    assert "1212121" not in mask("191212121212")
