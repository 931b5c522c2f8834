"""$process-message in process: the accepted path, the 4xx paths and the duplicate path,
on SQLite and (when LUS_TEST_POSTGRES_DSN is set) PostgreSQL."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from adapter.app import create_app
from adapter.runtime import Runtime
from adapter.store import schema
from tests.support.examples import fresh_copy, load_example
from tests.support.parties import KOMMUN, VARDCENTRAL
from tests.support.pipeline import counts, post

FHIR = {"Content-Type": "application/fhir+json"}


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=runtime)) as c:
        yield c


def test_accepts_inskrivningsmeddelande_and_queues_one_message_per_recipient(
    client: TestClient, runtime: Runtime
) -> None:
    bundle = load_example("inskrivningsmeddelande.json")
    reply = post(client, bundle)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("application/fhir+json")
    answer = reply.json()
    header = answer["entry"][0]["resource"]
    assert answer["type"] == "message"
    assert header["response"] == {"identifier": bundle["entry"][0]["resource"]["id"], "code": "ok"}
    with runtime.store.engine.connect() as conn:
        rows = conn.execute(select(schema.outbox.c.recipient, schema.outbox.c.body)).all()
    assert sorted(r.recipient for r in rows) == sorted([KOMMUN, VARDCENTRAL])
    for row in rows:
        out = orjson.loads(row.body)
        dest = out["entry"][0]["resource"]["destination"][0]["receiver"]["identifier"]["value"]
        assert dest == row.recipient
        assert runtime.validator.validate_message(out) == []
    assert counts(runtime) == {"cases": 1, "events": 1, "inbox": 1, "outbox": 2, "audit": 1}


def test_same_message_twice_is_processed_once_and_answered_identically(
    client: TestClient, runtime: Runtime
) -> None:
    bundle = load_example("inskrivningsmeddelande.json")
    first = post(client, bundle)
    resend = copy.deepcopy(bundle)
    resend["id"] = "a-new-bundle-id-for-the-resend"  # a resend: new Bundle.id, same MessageHeader.id
    second = post(client, resend)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    stored = counts(runtime)
    assert (stored["cases"], stored["events"], stored["inbox"], stored["outbox"]) == (1, 1, 1, 2)


def test_a_resend_with_a_new_timestamp_is_still_the_same_message(
    client: TestClient, runtime: Runtime
) -> None:
    bundle = load_example("inskrivningsmeddelande.json")
    first = post(client, bundle)
    resend = copy.deepcopy(bundle)
    resend["id"], resend["timestamp"] = "another-bundle-id", "2026-11-23T10:15:00+01:00"  # re-assembled
    second = post(client, resend)
    assert second.status_code == 200 and second.content == first.content


def test_a_resend_that_writes_the_personnummer_in_its_10_digit_form_is_the_same_message(
    client: TestClient, runtime: Runtime
) -> None:
    # The case keeps the 12-digit form; the resend is compared in that form too, or a sender that
    # writes 121212-1212 would have its own unchanged resend refused as changed.
    text = orjson.dumps(load_example("inskrivningsmeddelande.json")).decode()
    assert '"191212121212"' in text
    bundle = orjson.loads(text.replace('"191212121212"', '"121212-1212"'))
    first = post(client, bundle)
    assert first.status_code == 200, first.text
    resend = copy.deepcopy(bundle)
    resend["id"] = "a-new-bundle-id-for-the-10-digit-resend"
    second = post(client, resend)
    assert second.status_code == 200 and second.content == first.content


def test_a_resend_with_changed_content_is_refused_not_dropped_silently(
    client: TestClient, runtime: Runtime
) -> None:
    bundle = load_example("inskrivningsmeddelande.json")
    first = post(client, bundle)
    before = counts(runtime)
    changed = copy.deepcopy(bundle)
    changed["id"] = "a-new-bundle-id-for-the-changed-resend"
    encounter = changed["entry"][1]["resource"]
    encounter["period"]["start"] = "2026-11-22T09:30:00+01:00"  # same MessageHeader.id, other content
    refused = post(client, changed)
    assert refused.status_code == 409
    [issue] = refused.json()["issue"]
    assert issue["code"] == "conflict" and issue["expression"] == ["Bundle.entry[0].resource.id"]
    assert "a resend must repeat it unchanged" in issue["diagnostics"]
    assert_rejected_without_trace(runtime, before)
    # The accepted message itself, resent unchanged, is still answered as before.
    assert post(client, bundle).content == first.content


def test_a_second_notice_for_the_same_stay_updates_the_case_and_is_routed_again(
    client: TestClient, runtime: Runtime
) -> None:
    bundle = load_example("inskrivningsmeddelande.json")
    assert post(client, bundle).status_code == 200
    assert post(client, fresh_copy(bundle)).status_code == 200
    stored = counts(runtime)
    assert (stored["cases"], stored["events"], stored["outbox"]) == (1, 2, 4)


def assert_rejected_without_trace(runtime: Runtime, before: dict[str, int]) -> None:
    after = counts(runtime)
    assert after["audit"] == before["audit"] + 1, "a rejection leaves an audit record"
    assert {k: v for k, v in after.items() if k != "audit"} == {
        k: v for k, v in before.items() if k != "audit"
    }


@pytest.mark.parametrize(
    ("name", "status", "expression", "rule"),
    [
        (
            "invalid-inskrivningsmeddelande-personnummer.json",
            422,
            "Bundle.entry[2].resource.identifier[0].value",
            "personnummer",
        ),
        (
            "invalid-inskrivningsmeddelande-admission-time.json",
            422,
            "Bundle.entry[1].resource.period.start",
            "primitive-format",
        ),
    ],
)
def test_invalid_examples_get_422_with_the_element_named(
    client: TestClient, runtime: Runtime, name: str, status: int, expression: str, rule: str
) -> None:
    before = counts(runtime)
    reply = post(client, load_example(name))
    assert reply.status_code == status
    outcome = reply.json()
    assert outcome["resourceType"] == "OperationOutcome"
    issue = outcome["issue"][0]
    assert issue["severity"] == "error"
    assert issue["expression"] == [expression]
    assert issue["details"]["coding"][0]["code"] == rule
    assert_rejected_without_trace(runtime, before)


def _mutated(change: Any) -> dict[str, Any]:
    bundle = fresh_copy(load_example("inskrivningsmeddelande.json"))
    change(bundle)
    return bundle


def _entry(bundle: dict[str, Any], rtype: str) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype)


@pytest.mark.parametrize(
    ("body", "status", "expression", "code"),
    [
        (b'{"resourceType": "Bundle", "type": ', 400, None, "structure"),
        (b"\xff\xfe not utf-8", 400, None, "structure"),
        (orjson.dumps({"resourceType": "Patient"}), 400, "Bundle", "structure"),
        (orjson.dumps([1, 2]), 400, "Bundle", "structure"),
        (
            _mutated(lambda b: b.update(type="collection")),
            422,
            "Bundle.type",
            "invariant",
        ),
        (
            _mutated(lambda b: b["entry"].reverse()),
            422,
            "Bundle.entry[0].resource",
            "invariant",
        ),
        (
            _mutated(lambda b: b["entry"][0]["resource"]["eventCoding"].update(code="okand-handelse")),
            422,
            "Bundle.entry[0].resource.eventCoding",
            "code-invalid",
        ),
        (
            _mutated(lambda b: b["entry"][0]["resource"]["focus"][0].update(reference="urn:uuid:missing")),
            422,
            "Bundle.entry[0].resource.focus[0]",
            "not-found",
        ),
        (
            _mutated(lambda b: _entry(b, "Encounter").update(bogusElement=1)),
            422,
            "Bundle.entry[1].resource.bogusElement",
            "structure",
        ),
        (
            _mutated(lambda b: _entry(b, "Encounter").pop("period")),
            422,
            "Bundle.entry[1].resource",
            "required",
        ),
        (
            _mutated(
                lambda b: _entry(b, "Patient")["address"][0]["extension"][1]["valueCoding"].update(
                    code="0180"
                )
            ),
            422,
            "Patient.address.extension",
            "not-found",
        ),
    ],
    ids=[
        "truncated-json",
        "not-utf8",
        "not-a-bundle",
        "not-an-object",
        "not-a-message",
        "header-not-first",
        "unknown-event",
        "focus-outside-bundle",
        "unknown-element",
        "admission-time-missing",
        "municipality-not-in-routing-table",
    ],
)
def test_bad_input_gets_4xx_operation_outcome_and_leaves_only_an_audit_record(
    client: TestClient, runtime: Runtime, body: Any, status: int, expression: str | None, code: str
) -> None:
    before = counts(runtime)
    reply = post(client, body)
    assert reply.status_code == status, reply.text
    outcome = reply.json()
    assert outcome["resourceType"] == "OperationOutcome"
    issue = outcome["issue"][0]
    assert issue["code"] == code
    assert issue.get("expression") == ([expression] if expression else None)
    assert issue["diagnostics"]
    assert_rejected_without_trace(runtime, before)


def test_wrong_content_type_is_415(client: TestClient) -> None:
    reply = post(client, load_example("inskrivningsmeddelande.json"), headers={"Content-Type": "text/plain"})
    assert reply.status_code == 415
    assert reply.json()["issue"][0]["code"] == "not-supported"


def test_body_over_the_limit_is_413(client: TestClient, runtime: Runtime) -> None:
    runtime.settings.max_body_bytes = 1000
    reply = post(client, load_example("inskrivningsmeddelande.json"))
    assert reply.status_code == 413
    assert reply.json()["resourceType"] == "OperationOutcome"


def test_capability_statement_and_health(client: TestClient) -> None:
    cs = client.get("/fhir/metadata").json()
    assert cs["resourceType"] == "CapabilityStatement"
    assert cs["fhirVersion"] == "4.0.1"
    assert [op["name"] for op in cs["rest"][0]["operation"]] == ["process-message", "validate"]
    [validate] = [op for op in cs["rest"][0]["operation"] if op["name"] == "validate"]
    assert validate["definition"] == "http://hl7.org/fhir/OperationDefinition/Resource-validate"
    # The reliable-messaging cache in its element (minutes; the inbox forgets no message id).
    assert cs["messaging"][0]["reliableCache"] == 2_147_483_647
    # The statement is a valid R4 resource, by the adapter's own $validate.
    checked = client.post("/fhir/CapabilityStatement/$validate", content=orjson.dumps(cs), headers=FHIR)
    assert checked.status_code == 200
    assert [i for i in checked.json()["issue"] if i["severity"] in ("error", "fatal")] == []
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_unknown_path_is_operation_outcome(client: TestClient) -> None:
    reply = client.get("/fhir/Nothing/here")
    assert reply.status_code == 404
    assert reply.json()["resourceType"] == "OperationOutcome"


def test_a_late_admission_correction_for_a_discharged_case_is_answered_with_a_warning(
    client: TestClient, runtime: Runtime
) -> None:
    admission = load_example("canonical/01-inskrivningsmeddelande.json")
    assert post(client, admission).status_code == 200
    assert post(client, load_example("canonical/13-utskrivningsmeddelande.json")).status_code == 200
    late = fresh_copy(admission)  # written the day after admission, arriving after the discharge
    late["timestamp"] = "2026-11-24T10:00:00+01:00"
    reply = post(client, late)
    assert reply.status_code == 200, reply.text
    [outcome] = [
        e["resource"] for e in reply.json()["entry"] if e["resource"]["resourceType"] == "OperationOutcome"
    ]
    [warning] = [i for i in outcome["issue"] if i["details"]["coding"][0]["code"] == "case-closed"]
    assert warning["severity"] == "warning"
    assert "already closed (utskriven 2026-11-27T14:00:00+01:00)" in warning["diagnostics"]
    assert "stays utskriven" in warning["diagnostics"]
    with runtime.store.transaction() as conn:
        case = runtime.store.load_case(conn, "SU-2026-000123")
    assert case is not None and case.state.value == "utskriven"  # not lost, not reopened
