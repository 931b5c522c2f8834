"""examples/bundles/canonical/: one whole case, one message per step, replayed through the real
Pipeline; the case it leaves and the messages it queues for the other parties."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import orjson
from fastapi.testclient import TestClient

from adapter.app import create_app
from adapter.process.case import CaseState
from adapter.process.events import MeetingMode, NeedsCategory
from adapter.runtime import Runtime
from tests.support.example_case import CANONICAL_RECEIVERS, STEPS, case_and_outbox, header_id, play_steps
from tests.support.parties import KOMMUN

CET = timezone(timedelta(hours=1))


def kind_of(step: int) -> str:
    return str(orjson.loads(STEPS[step - 1].read_bytes())["entry"][0]["resource"]["eventCoding"]["code"])


def test_the_example_case_replays_to_a_discharged_patient(runtime: Runtime) -> None:
    assert len(STEPS) == 13
    play_steps(runtime)
    case, rows = case_and_outbox(runtime, "SU-2026-000123")
    assert case is not None
    assert case.state is CaseState.UTSKRIVEN
    assert case.discharged_at == datetime(2026, 11, 27, 14, 0, tzinfo=CET)
    assert case.discharge_disposition == "home"
    assert case.fast_vardkontakt == "TSTNMT2321000156-R001"
    assert case.plans == ("SPU-2026-000123",)
    assert case.needs_category is NeedsCategory.NEW_SOCIAL
    assert [(p.start, p.end) for p in case.ready_periods] == [
        (datetime(2026, 11, 25, 9, 30, tzinfo=CET), datetime(2026, 11, 27, 14, 0, tzinfo=CET))
    ]
    assert case.kallelse_at == datetime(2026, 11, 25, 14, 0, tzinfo=CET)
    [meeting] = case.meetings
    assert (meeting.appointment_id, meeting.start, meeting.mode, meeting.sip) == (
        "SIP-2026-000123",
        datetime(2026, 11, 26, 13, 0, tzinfo=CET),
        MeetingMode.PHONE,
        True,
    )
    assert case.messages == 2
    # The kvittens named the kommun's copy of the planeringsunderlag; the case files it under the
    # message's origin id (docs/delivery.md, "Message identity across hops").
    assert [(a.message_id, a.by, a.code) for a in case.kvittenser] == [(header_id(3), KOMMUN, "ok")]
    # The makulering of the changed discharge date rolled it back to the admission's estimate.
    assert case.cancelled == frozenset({header_id(11)})
    assert case.expected_discharge == date(2026, 11, 27)

    # Every step reached whom the step table says (examples/config/lus-steps.yaml), valid.
    expected = [(r, kind_of(step)) for step, receivers in CANONICAL_RECEIVERS.items() for r in receivers]
    assert sorted((r.recipient, r.kind) for r in rows) == sorted(expected)
    for row in rows:
        assert [i for i in runtime.validator.validate_message(orjson.loads(row.body)) if i.blocking] == []


def test_the_read_api_serves_what_the_case_messages_carried(runtime: Runtime) -> None:
    """The case's resources are rendered from its events by the same rules: the plan, the meeting
    as rebooked, both messages of the thread; the Encounter as the case stands."""
    play_steps(runtime)
    with TestClient(create_app(runtime=runtime)) as client:
        [plan] = [e["resource"] for e in client.get("/fhir/CarePlan").json()["entry"]]
        [meeting] = [e["resource"] for e in client.get("/fhir/Appointment").json()["entry"]]
        notes = [e["resource"] for e in client.get("/fhir/Communication").json()["entry"]]
        [stay] = [e["resource"] for e in client.get("/fhir/Encounter").json()["entry"]]
    assert plan["identifier"] == [{"value": "SPU-2026-000123"}]
    assert len(plan["activity"]) == 6
    assert (meeting["start"], meeting["status"]) == ("2026-11-26T13:00:00+01:00", "booked")
    assert sorted(n["payload"][0]["contentString"][:4] for n in notes) == ["Pati", "Tack"]
    assert (stay["status"], stay["period"]["end"]) == ("finished", "2026-11-27T14:00:00+01:00")
    assert stay["hospitalization"]["dischargeDisposition"]["coding"][0]["code"] == "home"
