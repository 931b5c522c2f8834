"""Dialects through the real Pipeline: a vendor's transaction Bundle or Communication becomes the
canonical message, and outbound messages reach each party in its own dialect."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from adapter.app import create_app
from adapter.cli import app as cli
from adapter.config import Settings
from adapter.fhir.bundle import BundleIndex
from adapter.mapping.dialects import Dialects, case_state, transaction_response
from adapter.mapping.response import response_code
from adapter.mapping.rules import MappingError
from adapter.process.case import CaseState
from adapter.road.validate import Validate
from adapter.runtime import Runtime
from adapter.store import schema
from tests.support.dialects import dialect_runtime, sequence
from tests.support.examples import EXAMPLES
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL

CASE = "SU-2026-000123"
DIALECTS = ["transaction", "communication"]
FHIR = {"Content-Type": "application/fhir+json"}


@pytest.fixture(params=DIALECTS)
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def rt(settings: Settings, dialect: str) -> Iterator[Runtime]:
    yield from dialect_runtime(settings, dialect)


def send(rt: Runtime, bundle: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    result = rt.pipeline.process_message(orjson.dumps(bundle), caller=SELF)
    return result.status, orjson.loads(result.body)


def outbox(rt: Runtime) -> dict[str, list[dict[str, Any]]]:
    with rt.store.engine.connect() as conn:
        rows = conn.execute(select(schema.outbox.c.recipient, schema.outbox.c.body)).all()
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row.recipient, []).append(orjson.loads(row.body))
    return out


def valid_in(rt: Runtime, form: str, bundle: dict[str, Any]) -> bool:
    """R4 base and the dialect's own profile (profiles/StructureDefinition-lus-dialect-*.json)."""
    dialects = rt.pipeline.dialects
    assert dialects is not None
    dialect = dialects.get(form)
    assert dialect is not None and dialect.spec.profile
    return Validate(rt.validator, dialects).dialect_form(dialect, bundle) == []


def test_first_step_opens_the_case_and_answers_a_transaction_response(rt: Runtime, dialect: str) -> None:
    _, bundle = sequence(dialect)[0]
    status, answer = send(rt, bundle)
    assert status == 200, answer
    assert answer["type"] == "transaction-response"
    assert [e["response"]["status"] for e in answer["entry"]] == ["201 Created"] * len(bundle["entry"])
    with rt.store.engine.connect() as conn:
        case = rt.store.load_case(conn, CASE)
    assert case is not None and case.patient.identifier == "191212121212" and case.unit == SELF


def test_a_resend_is_answered_as_before_and_stored_once(rt: Runtime, dialect: str) -> None:
    _, bundle = sequence(dialect)[0]
    first = send(rt, bundle)
    again = rt.pipeline.process_message(orjson.dumps(bundle), caller=SELF)
    assert again.duplicate and orjson.loads(again.body) == first[1]
    assert sum(len(v) for v in outbox(rt).values()) == 2


def test_outbound_messages_are_in_each_recipients_dialect_and_valid(rt: Runtime, dialect: str) -> None:
    _, bundle = sequence(dialect)[0]
    send(rt, bundle)
    sent = outbox(rt)
    (to_vc,) = sent[VARDCENTRAL]
    (to_k,) = sent[KOMMUN]
    assert to_vc["type"] == "transaction" and "MessageHeader" not in str(to_vc)
    assert {e["request"]["method"] for e in to_vc["entry"]} == {"PUT"}
    (communication,) = [e["resource"] for e in to_k["entry"]]
    assert communication["category"][0]["coding"][0]["code"] == "inskrivningsmeddelande"
    assert communication["recipient"][0]["identifier"]["value"] == KOMMUN
    assert valid_in(rt, "transaction", to_vc) and valid_in(rt, "communication", to_k)


def test_what_a_transaction_bundle_sends_back_in_is_its_canonical_message(settings: Settings) -> None:
    """Round trip: our transaction rendering, read back by the transaction dialect, is the same case."""
    for rt in dialect_runtime(settings, "transaction"):
        _, bundle = sequence("transaction")[0]
        send(rt, bundle)
        (to_vc,) = outbox(rt)[VARDCENTRAL]
        dialects = rt.pipeline.dialects
        assert dialects is not None
        tx = dialects.get("transaction")
        assert tx is not None
        back = dialects.to_canonical(tx, to_vc, SELF, None)
        event, _ = rt.mapper.to_event("canonical", BundleIndex(back.bundle))
        assert event.case_id == CASE and event.kind == "inskrivningsmeddelande"


def test_an_unmapped_element_is_a_warning_located_in_the_original(rt: Runtime, dialect: str) -> None:
    _, bundle = sequence(dialect)[0]
    bundle = copy.deepcopy(bundle)
    patient, where = _patient(bundle, dialect)
    patient["birthDate"] = "1912-12-12"
    status, answer = send(rt, bundle)
    assert status == 200, answer
    issues = answer["entry"][0]["response"]["outcome"]["issue"]
    # Unmapped content is one warning that names and locates each element (not one per element).
    [found] = [i for i in issues if i["details"]["coding"][0]["code"] == f"dialect:{dialect}:unmapped"]
    assert found["severity"] == "warning" and f"{where}.birthDate" in found["expression"]
    assert "Patient.birthDate" in found["diagnostics"]


def test_a_canonical_error_points_into_the_original(rt: Runtime, dialect: str) -> None:
    _, bundle = sequence(dialect)[0]
    bundle = copy.deepcopy(bundle)
    patient, where = _patient(bundle, dialect)
    patient["identifier"][0]["value"] = "191212121213"  # Luhn check digit wrong
    status, answer = send(rt, bundle)
    assert status == 422
    assert any((i.get("expression") or [""])[0].startswith(where) for i in answer["issue"]), answer


def _patient(bundle: dict[str, Any], dialect: str) -> tuple[dict[str, Any], str]:
    if dialect == "transaction":
        i = next(i for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == "Patient")
        return bundle["entry"][i]["resource"], f"Bundle.entry[{i}].resource"
    contained = bundle["entry"][0]["resource"]["contained"]
    i = next(i for i, r in enumerate(contained) if r["resourceType"] == "Patient")
    return contained[i], f"Bundle.entry[0].resource.contained[{i}]"


# What the case looks like before each later step (the sequence's own effect on the case).
BEFORE = {"permission-slut": {"on_leave": True}}


def test_every_step_becomes_a_canonical_message_its_lus_profile_accepts(rt: Runtime, dialect: str) -> None:
    """Each step, read with the case as it stands before it, is its event's canonical message;
    for a transaction the event is inferred from the Encounter and that case state."""
    steps = sequence(dialect)
    assert send(rt, steps[0][1])[0] == 200
    with rt.store.engine.connect() as conn:
        admitted = rt.store.load_case(conn, CASE)
    assert admitted is not None
    dialects = rt.pipeline.dialects
    assert dialects is not None
    form = dialects.get(dialect)
    assert form is not None
    for name, bundle in steps[1:]:
        case = replace(admitted, **BEFORE.get(_event_of(name), {}))
        canonical = dialects.to_canonical(form, bundle, SELF, case_state(case)).bundle
        assert canonical["entry"][0]["resource"]["eventCoding"]["code"] == _event_of(name)
        assert rt.validator.validate_message(canonical) == [], name


def test_replaying_each_sequence_gives_the_whole_case(rt: Runtime, dialect: str) -> None:
    for name, bundle in sequence(dialect):
        status, answer = send(rt, bundle)
        assert status == 200, (name, answer)
    with rt.store.engine.connect() as conn:
        case = rt.store.load_case(conn, CASE)
    assert case is not None
    assert case.state is CaseState.UTSKRIVEN and not case.on_leave and len(case.plans) == 1
    assert case.expected_discharge == date(2026, 11, 29)
    assert case.discharged_at == datetime.fromisoformat("2026-11-29T11:00:00+01:00")
    assert [e.kind for e in case.events] == [_event_of(n) for n, _ in sequence(dialect)]
    for recipient, form in ((VARDCENTRAL, "transaction"), (KOMMUN, "communication")):
        assert all(valid_in(rt, form, out) for out in outbox(rt)[recipient])


def _event_of(file_name: str) -> str:
    """01-inskrivningsmeddelande.json → inskrivningsmeddelande"""
    return file_name.split("-", 1)[1].removesuffix(".json")


def test_a_dialect_recipients_transaction_response_counts_as_delivered() -> None:
    sent = orjson.loads(
        (EXAMPLES / "bundles" / "transaction" / "01-inskrivningsmeddelande.json").read_bytes()
    )
    assert response_code(transaction_response(sent, 200, None)) == "ok"
    failed = transaction_response(sent, 200, None)
    failed["entry"][1]["response"]["status"] = "412 Precondition Failed"
    assert response_code(failed) == "fatal-error"


def test_the_fhir_base_takes_a_transaction_from_the_caller_in_its_dialect(rt: Runtime, dialect: str) -> None:
    _, bundle = sequence(dialect)[0]
    with TestClient(create_app(runtime=rt)) as client:
        reply = client.post(
            "/fhir", content=orjson.dumps(bundle), headers={"Content-Type": "application/fhir+json"}
        )
        again = client.post(
            "/fhir", content=orjson.dumps(bundle), headers={"Content-Type": "application/fhir+json"}
        )
    assert reply.status_code == 200, reply.text
    assert reply.json()["type"] == "transaction-response" and again.json() == reply.json()


def test_an_unknown_resource_or_communication_element_is_a_warning(rt: Runtime, dialect: str) -> None:
    _, bundle = sequence(dialect)[0]
    bundle = copy.deepcopy(bundle)
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "vikt"}}
    if dialect == "transaction":
        bundle["entry"].append({"resource": observation, "request": {"method": "POST", "url": "Observation"}})
        expected = {f"Bundle.entry[{len(bundle['entry']) - 1}].resource"}
    else:
        communication = bundle["entry"][0]["resource"]
        communication["priority"] = "urgent"
        communication["contained"].append({**observation, "id": "weight"})
        communication["payload"].append({"contentReference": {"reference": "#weight"}})
        at = len(communication["contained"]) - 1
        expected = {"Bundle.entry[0].resource.priority", f"Bundle.entry[0].resource.contained[{at}]"}
    status, answer = send(rt, bundle)
    assert status == 200, answer
    located = {i["expression"][0] for i in answer["entry"][0]["response"]["outcome"]["issue"]}
    assert expected <= located


def test_a_transaction_no_event_rule_matches_is_refused_at_the_encounter(settings: Settings) -> None:
    _, bundle = sequence("transaction")[-1]  # a discharge for a case that does not exist
    for rt in dialect_runtime(settings, "transaction"):
        status, answer = send(rt, bundle)
    assert status == 422
    (issue,) = answer["issue"]
    assert issue["expression"] == ["Bundle.entry[0].resource"] and "no case yet" in issue["diagnostics"]


@pytest.mark.parametrize("form", DIALECTS)
def test_cli_translate_reads_a_dialect_bundle(form: str) -> None:
    path = EXAMPLES / "bundles" / form / "01-inskrivningsmeddelande.json"
    result = CliRunner().invoke(cli, ["translate", "--dialect", form, "--sender", SELF, str(path)])
    assert result.exit_code == 0, result.output
    (event,) = orjson.loads(result.stdout)
    assert event["kind"] == "inskrivningsmeddelande" and event["sender"] == SELF and event["case_id"] == CASE


def test_a_bundle_its_dialect_profile_refuses_is_a_422_at_the_element(rt: Runtime, dialect: str) -> None:
    _, bundle = sequence(dialect)[0]
    bundle = copy.deepcopy(bundle)
    if dialect == "transaction":
        del bundle["identifier"]
        where = "Bundle"
    else:
        del bundle["entry"][0]["resource"]["category"]
        where = "Bundle.entry[0].resource"
    status, answer = send(rt, bundle)
    assert status == 422
    assert [(i["expression"], i["details"]["coding"][0]["code"]) for i in answer["issue"]] == [
        ([where], "cardinality-min")
    ]


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("form: communication\nmessage_id: id\ntimestamp: sent\n", "needs event, focus"),
        (
            "form: transaction\nmessage_id: id\ntimestamp: timestamp\ncase_id: id\n"
            "resources: {encounter: Encounter}\nevents: [{event: utskriven, when: 'true'}]\n",
            "'utskriven' is not a code of CodeSystem lus-event",
        ),
    ],
)
def test_a_dialect_file_that_cannot_work_stops_start_up(
    runtime: Runtime, tmp_path: Path, text: str, complaint: str
) -> None:
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "_dialect.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(MappingError, match=re.escape(complaint)):
        Dialects.from_dir(tmp_path, runtime.mapper)


def test_the_same_bundle_id_from_two_senders_is_two_messages(rt: Runtime, dialect: str) -> None:
    """Vendors number their Bundles their own way: a message id is the sender's id of it, so one
    party's Bundle "1" is never answered with another party's response (and lost)."""
    dialects = rt.pipeline.dialects
    assert dialects is not None
    form = dialects.get(dialect)
    assert form is not None
    _, bundle = sequence(dialect)[0]
    mine = dialects.message_id(form, bundle, SELF)
    assert mine is not None and mine == dialects.message_id(form, copy.deepcopy(bundle), SELF)
    assert mine != dialects.message_id(form, bundle, VARDCENTRAL)
