"""The discharge case's state machine: transitions, rejections, event-time order, makulering."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from adapter.process.case import CaseRejected, CaseState, DischargeCase, replay
from adapter.process.events import (
    Address,
    AtertagUtskrivningsklar,
    Event,
    Inskrivningsmeddelande,
    Makulering,
    Patient,
    PatientAvliden,
    PlaneringsmoteBokat,
    Utskrivningsklar,
    Utskrivningsmeddelande,
)

TZ = ZoneInfo("Europe/Stockholm")
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=TZ)
SV = "TSTNMT2321000156-SV41"


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def admission(message_id: str = "m-in", hours: float = 0) -> Inskrivningsmeddelande:
    return Inskrivningsmeddelande(
        message_id=message_id,
        case_id="case-1",
        occurred_at=at(hours),
        sender=SV,
        patient=Patient(
            identifier_system="http://electronichealth.se/identifier/personnummer",
            identifier="191212121212",
            address=Address(municipality_code="1480"),
        ),
        admitted_at=at(hours - 1),
        unit=SV,
        expected_discharge=date(2026, 11, 27),
    )


def common(message_id: str, hours: float) -> dict[str, object]:
    return {"message_id": message_id, "case_id": "case-1", "occurred_at": at(hours), "sender": SV}


def test_a_stay_from_admission_to_discharge() -> None:
    case = replay(
        [
            admission(),
            Utskrivningsklar(**common("m-klar", 48)),  # type: ignore[arg-type]
            Utskrivningsmeddelande(**common("m-ut", 80), discharged_at=at(80)),  # type: ignore[arg-type]
        ]
    )
    assert case.state is CaseState.UTSKRIVEN
    assert case.ready_periods[0].start == at(48) and case.ready_periods[0].end == at(80)


@pytest.mark.parametrize(
    ("events", "reason"),
    [
        ([Utskrivningsklar(**common("m", 1))], "starts with an inskrivningsmeddelande"),  # type: ignore[arg-type]
        (
            [
                admission(),
                PatientAvliden(**common("m-d", 5), died_at=at(5)),  # type: ignore[arg-type]
                Utskrivningsmeddelande(**common("m-ut", 6), discharged_at=at(6)),  # type: ignore[arg-type]
            ],
            "after death",
        ),
        ([admission(), Makulering(**common("m-mak", 2), cancelled_message_id="unknown")], "not part of case"),  # type: ignore[arg-type]
        ([admission(), AtertagUtskrivningsklar(**common("m-at", 2))], "does not fit"),  # type: ignore[arg-type]
    ],
    ids=[
        "utskrivningsklar-never-admitted",
        "discharge-after-death",
        "makulering-unknown",
        "atertag-not-ready",
    ],
)
def test_events_that_do_not_fit_are_rejected_with_a_reason(events: list[Event], reason: str) -> None:
    with pytest.raises(CaseRejected) as info:
        replay(events)
    assert reason in info.value.reason


def test_events_are_applied_in_event_time_order_whatever_the_arrival_order() -> None:
    case = DischargeCase.open(admission())
    discharge = Utskrivningsmeddelande(**common("m-ut", 80), discharged_at=at(80))  # type: ignore[arg-type]
    klar = Utskrivningsklar(**common("m-klar", 48))  # type: ignore[arg-type]
    arrived = case.with_event(discharge).with_event(klar)  # the older notice arrives last
    assert arrived.state is CaseState.UTSKRIVEN
    assert arrived == replay([admission(), klar, discharge])


def test_makulering_rolls_the_state_back_and_a_replay_agrees() -> None:
    klar = Utskrivningsklar(**common("m-klar", 48))  # type: ignore[arg-type]
    mak = Makulering(**common("m-mak", 50), cancelled_message_id="m-klar")  # type: ignore[arg-type]
    case = DischargeCase.open(admission()).with_event(klar).with_event(mak)
    assert case.state is CaseState.INSKRIVEN
    assert case.ready_periods == ()
    assert "m-klar" in case.cancelled
    assert replay(case.events) == case


def test_makulering_of_the_admission_cancels_the_case() -> None:
    case = DischargeCase.open(admission()).with_event(
        Makulering(**common("m-mak", 1), cancelled_message_id="m-in")  # type: ignore[arg-type]
    )
    assert case.state is CaseState.MAKULERAD
    with pytest.raises(CaseRejected):
        case.with_event(Utskrivningsklar(**common("m-klar", 2)))  # type: ignore[arg-type]


def test_a_meeting_can_be_booked_after_discharge_but_not_twice() -> None:
    case = replay(
        [admission(), Utskrivningsmeddelande(**common("m-ut", 24), discharged_at=at(24))]  # type: ignore[arg-type]
    )
    booking = PlaneringsmoteBokat(**common("m-b", 30), appointment_id="a1", start=at(72))  # type: ignore[arg-type]
    case = case.with_event(booking)
    assert case.meetings[0].appointment_id == "a1"
    with pytest.raises(CaseRejected):
        case.with_event(PlaneringsmoteBokat(**common("m-b2", 31), appointment_id="a1", start=at(73)))  # type: ignore[arg-type]
