"""examples/bundles/canonical-avliden/: a second whole case, for the events the first one does not
send (a leave and the return from it, utskrivningsklar taken back, a booked meeting cancelled, the
patient's death), replayed through the real Pipeline; the case it leaves and the messages it queues."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import orjson

from adapter.process.case import CaseState
from adapter.process.events import MeetingMode
from adapter.runtime import Runtime
from tests.support.example_case import AVLIDEN_RECEIVERS, case_and_outbox, kind, play_steps
from tests.support.examples import EXAMPLES

STEPS = sorted((EXAMPLES / "bundles" / "canonical-avliden").glob("*.json"))
CET = timezone(timedelta(hours=1))


def test_the_second_example_case_replays_to_a_deceased_patient(runtime: Runtime) -> None:
    assert [kind(p) for p in STEPS] == [
        "inskrivningsmeddelande",
        "permission-start",
        "permission-slut",
        "utskrivningsklar",
        "planeringsmote-bokat",
        "atertag-utskrivningsklar",
        "planeringsmote-avbokat",
        "patient-avliden",
    ]
    play_steps(runtime, STEPS)
    case, rows = case_and_outbox(runtime, "SU-2026-000124")
    assert case is not None
    assert case.state is CaseState.AVLIDEN
    assert case.died_at == datetime(2026, 12, 10, 2, 55, tzinfo=CET)
    assert case.discharged_at is None
    assert not case.on_leave  # the leave ended before utskrivningsklar
    assert case.expected_discharge == date(2026, 12, 8)
    # Utskrivningsklar for seven hours, then taken back: the period is closed, not open to death.
    assert [(p.start, p.end) for p in case.ready_periods] == [
        (datetime(2026, 12, 7, 9, 0, tzinfo=CET), datetime(2026, 12, 7, 16, 0, tzinfo=CET))
    ]
    [meeting] = case.meetings
    assert (meeting.appointment_id, meeting.start, meeting.mode, meeting.sip, meeting.cancelled) == (
        "PM-2026-000124",
        datetime(2026, 12, 8, 10, 0, tzinfo=CET),
        MeetingMode.VIDEO,
        False,
        True,
    )

    # Each step reached whom the step table says, and every queued message is valid against the LUS
    # profiles. The kommun booked and cancelled the meeting; only the unit was invited (no kallelse).
    expected = [
        (r, kind(STEPS[step - 1])) for step, receivers in AVLIDEN_RECEIVERS.items() for r in receivers
    ]
    assert sorted((r.recipient, r.kind) for r in rows) == sorted(expected)
    for row in rows:
        assert [i for i in runtime.validator.validate_message(orjson.loads(row.body)) if i.blocking] == []
