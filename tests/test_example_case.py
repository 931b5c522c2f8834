"""examples/bundles/canonical/: one whole case, one message per step, replayed through the real
Pipeline; the case it leaves and the messages it queues for the other parties."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import orjson
from sqlalchemy import select

from adapter.app import Runtime
from adapter.mapping.outbound import outbound_message_id
from adapter.process.case import CaseState
from adapter.process.events import MeetingMode, NeedsCategory
from adapter.store import schema
from tests.conftest import EXAMPLES, KOMMUN, SELF, VARDCENTRAL

STEPS = sorted((EXAMPLES / "bundles" / "canonical").glob("*.json"))
CET = timezone(timedelta(hours=1))


def header_id(step: int) -> str:
    return str(orjson.loads(STEPS[step - 1].read_bytes())["entry"][0]["resource"]["id"])


def test_the_example_case_replays_to_a_discharged_patient(runtime: Runtime) -> None:
    assert len(STEPS) == 13
    for path in STEPS:
        result = runtime.pipeline.process_message(path.read_bytes())
        assert result.status == 200, (path.name, result.body[:500])
    with runtime.store.engine.connect() as conn:
        case = runtime.store.load_case(conn, "SU-2026-000123")
        rows = conn.execute(
            select(schema.outbox.c.recipient, schema.outbox.c.kind, schema.outbox.c.body).order_by(
                schema.outbox.c.id
            )
        ).all()
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
    assert [(a.message_id, a.by, a.code) for a in case.acknowledgements] == [
        (outbound_message_id(header_id(3), KOMMUN), KOMMUN, "ok")
    ]
    # The makulering of the changed discharge date rolled it back to the admission's estimate.
    assert case.cancelled == frozenset({header_id(11)})
    assert case.expected_discharge == date(2026, 11, 27)

    # Every step reached the case's other parties (kommun, vårdcentral), never its sender, valid.
    senders = {VARDCENTRAL: {2, 5, 6, 7}, KOMMUN: {9, 10}}
    expected = []
    for step, path in enumerate(STEPS, 1):
        kind = orjson.loads(path.read_bytes())["entry"][0]["resource"]["eventCoding"]["code"]
        sender = next((s for s, steps in senders.items() if step in steps), SELF)
        expected += [(r, kind) for r in (KOMMUN, VARDCENTRAL) if r != sender]
    assert sorted((r.recipient, r.kind) for r in rows) == sorted(expected)
    for row in rows:
        assert [i for i in runtime.validator.validate_message(orjson.loads(row.body)) if i.blocking] == []
