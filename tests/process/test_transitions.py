"""The case's transition table, written out: every event kind against every state.

Each state is reached by a short story; then one more event of each kind is applied. The table
says what must happen: the state the case moves to, or REJECT (a CaseRejected with a reason).
Then the receiver tests MedCom requires of vendors: a correction then a cancellation, mixed
+01:00/+02:00 offsets, a leap day, out-of-order arrival.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from adapter.process import events as ev
from adapter.process.case import CaseRejected, CaseState, DischargeCase, replay
from adapter.process.events import EVENT_TYPES, Event
from tests.support.lus_story import SV, TZ, VC, Story, when

INS, KLAR, UT, DOD, MAK = (
    CaseState.INSKRIVEN,
    CaseState.UTSKRIVNINGSKLAR,
    CaseState.UTSKRIVEN,
    CaseState.AVLIDEN,
    CaseState.MAKULERAD,
)
REJECT = "reject"
T = "2026-11-23 08:00"  # a Monday


def _base(state: CaseState) -> Story:
    """A case in `state`, with meeting a1 booked while it was inskriven."""
    story = Story(T).add(
        ev.PlaneringsmoteBokat(
            message_id="case-1-book",
            case_id="case-1",
            occurred_at=when(T),
            sender=VC,
            appointment_id="a1",
            start=when("2026-11-26 10:00"),
        )
    )
    if state is KLAR or state is UT or state is DOD:
        story.klar("2026-11-23 10:00")
    if state is UT:
        story.ut("2026-11-24 10:00")
    if state is DOD:
        story.dod("2026-11-24 10:00")
    if state is MAK:
        story.makulera("2026-11-23 09:00", "case-1-m1")
    assert story.case().state is state
    return story


def _next(story: Story) -> dict[str, object]:
    return {"message_id": "next", "case_id": "case-1", "occurred_at": when("2026-11-25 12:00"), "sender": SV}


# One event of each kind, made for the story it is applied to.
EVENTS: dict[str, Callable[[Story], Event]] = {
    "inskrivningsmeddelande": lambda s: replace(
        s.events[0], **_next(s), expected_discharge=date(2026, 12, 1)
    ),
    "andrat-utskrivningsdatum": lambda s: ev.AndratUtskrivningsdatum(
        **_next(s), expected_discharge=date(2026, 12, 1)
    ),
    "fast-vardkontakt-utsedd": lambda s: ev.FastVardkontaktUtsedd(
        **_next(s), contact_hsa_id="SE2321000131-P000000123456"
    ),
    "planeringsunderlag": lambda s: ev.Planeringsunderlag(
        **_next(s), plan_id="p1", needs_category=ev.NeedsCategory.NEW_SOCIAL
    ),
    "utskrivningsklar": lambda s: ev.Utskrivningsklar(**_next(s)),
    "atertag-utskrivningsklar": lambda s: ev.AtertagUtskrivningsklar(**_next(s)),
    "kallelse-sip": lambda s: ev.KallelseTillSip(**_next(s)),
    "planeringsmote-bokat": lambda s: ev.PlaneringsmoteBokat(
        **_next(s), appointment_id="a2", start=when("2026-11-27 10:00")
    ),
    "planeringsmote-ombokat": lambda s: ev.PlaneringsmoteOmbokat(
        **_next(s), appointment_id="a1", start=when("2026-11-27 10:00")
    ),
    "planeringsmote-avbokat": lambda s: ev.PlaneringsmoteAvbokat(**_next(s), appointment_id="a1"),
    "utskrivningsmeddelande": lambda s: ev.Utskrivningsmeddelande(
        **_next(s), discharged_at=when("2026-11-25 12:00")
    ),
    # Cancels the story's last message: the one that brought the case into its state.
    "makulering": lambda s: ev.Makulering(**_next(s), cancelled_message_id=s.last_id),
    "kvittens": lambda s: ev.Kvittens(**_next(s), acknowledged_message_id=s.last_id),
    "meddelande": lambda s: ev.Meddelande(**_next(s), text="Ring avdelningen"),
    "patient-avliden": lambda s: ev.PatientAvliden(**_next(s), died_at=when("2026-11-25 12:00")),
    "permission-start": lambda s: ev.PermissionStart(**_next(s)),
    "permission-slut": lambda s: ev.PermissionSlut(**_next(s)),
    "stallningstagande": lambda s: ev.Stallningstagande(**_next(s), text="Utskrivningsklar 27/11"),
    "godkannande": lambda s: ev.Godkannande(**{**_next(s), "sender": VC}, stallningstagande=s.last_id),
    "sip-upprattad": lambda s: ev.SipUpprattad(**{**_next(s), "sender": VC}, plan_id="sip-1"),
    "sip-uppfoljd": lambda s: ev.SipUppfoljd(**{**_next(s), "sender": VC}, plan_id="sip-1"),
    "sip-avslutad": lambda s: ev.SipAvslutad(**{**_next(s), "sender": VC}, plan_id="sip-1"),
    "dokumenterad-overenskommelse": lambda s: ev.DokumenteradOverenskommelse(
        **{**_next(s), "sender": VC}, plan_id="do-1", agreement="Hemtjänst morgon och kväll"
    ),
}

# event kind: outcome in states (inskriven, utskrivningsklar, utskriven, avliden, makulerad)
TABLE: dict[str, tuple[CaseState | str, ...]] = {
    # a second admission notice corrects the first while the patient is in hospital
    "inskrivningsmeddelande": (INS, KLAR, REJECT, REJECT, REJECT),
    "andrat-utskrivningsdatum": (INS, KLAR, REJECT, REJECT, REJECT),
    # the fast vårdkontakt may be named after discharge (the SIP follows the patient home)
    "fast-vardkontakt-utsedd": (INS, KLAR, UT, REJECT, REJECT),
    "planeringsunderlag": (INS, KLAR, REJECT, REJECT, REJECT),
    "utskrivningsklar": (KLAR, REJECT, REJECT, REJECT, REJECT),
    "atertag-utskrivningsklar": (REJECT, INS, REJECT, REJECT, REJECT),
    "kallelse-sip": (INS, KLAR, UT, REJECT, REJECT),
    "planeringsmote-bokat": (INS, KLAR, UT, REJECT, REJECT),
    "planeringsmote-ombokat": (INS, KLAR, UT, REJECT, REJECT),
    # a meeting booked before death can still be cancelled
    "planeringsmote-avbokat": (INS, KLAR, UT, DOD, REJECT),
    "utskrivningsmeddelande": (UT, UT, REJECT, REJECT, REJECT),
    # makulering of the story's last message: the booking (stays inskriven), the notice (back to
    # inskriven), the discharge or the death (back to utskrivningsklar); in a makulerad case the last
    # message is a makulering, which cannot be cancelled
    "makulering": (INS, INS, KLAR, KLAR, REJECT),
    "kvittens": (INS, KLAR, UT, DOD, MAK),
    "meddelande": (INS, KLAR, UT, DOD, REJECT),
    "patient-avliden": (DOD, DOD, REJECT, REJECT, REJECT),
    "permission-start": (INS, KLAR, REJECT, REJECT, REJECT),
    # nobody in the base stories is on leave
    "permission-slut": (REJECT, REJECT, REJECT, REJECT, REJECT),
    "stallningstagande": (INS, KLAR, REJECT, REJECT, REJECT),
    # no base story has a ställningstagande to answer, nor a SIP to follow up or end
    # (tests/process/test_signoff.py answers one)
    "godkannande": (REJECT, REJECT, REJECT, REJECT, REJECT),
    # a SIP follows the patient home: drawn up, followed up and ended after discharge too
    "sip-upprattad": (INS, KLAR, UT, REJECT, REJECT),
    "sip-uppfoljd": (REJECT, REJECT, REJECT, REJECT, REJECT),
    "sip-avslutad": (REJECT, REJECT, REJECT, REJECT, REJECT),
    "dokumenterad-overenskommelse": (INS, KLAR, UT, REJECT, REJECT),
}
STATES = (INS, KLAR, UT, DOD, MAK)
CELLS = [
    (kind, state, outcome) for kind, row in TABLE.items() for state, outcome in zip(STATES, row, strict=True)
]


def test_the_table_covers_every_event_kind() -> None:
    assert set(TABLE) == set(EVENT_TYPES) == set(EVENTS)


@pytest.mark.parametrize(("kind", "state", "outcome"), CELLS, ids=[f"{k}-in-{s.value}" for k, s, _ in CELLS])
def test_transition(kind: str, state: CaseState, outcome: CaseState | str) -> None:
    story = _base(state)
    case = story.case()
    event = EVENTS[kind](story)
    assert event.kind == kind
    if outcome == REJECT:
        with pytest.raises(CaseRejected) as info:
            case.apply(event)
        assert info.value.reason  # every rejection says why
        return
    after = case.apply(event)
    assert after.state is outcome
    assert replay(after.events) == after  # the log rebuilds it


def test_leave_starts_and_ends_and_blocks_utskrivningsklar() -> None:
    story = Story(T)
    story.add(
        ev.PermissionStart(message_id="p1", case_id="case-1", occurred_at=when("2026-11-23 12:00"), sender=SV)
    )
    on_leave = story.case()
    assert on_leave.on_leave
    with pytest.raises(CaseRejected, match="leave"):
        on_leave.apply(
            ev.Utskrivningsklar(
                message_id="k", case_id="case-1", occurred_at=when("2026-11-23 13:00"), sender=SV
            )
        )
    story.add(
        ev.PermissionSlut(message_id="p2", case_id="case-1", occurred_at=when("2026-11-23 18:00"), sender=SV)
    )
    assert not story.case().on_leave
    assert story.klar("2026-11-23 19:00").case().state is KLAR


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda s: replace(s.events[-1], message_id="again"), "already booked"),
        (lambda s: ev.PlaneringsmoteOmbokat(**_next(s), appointment_id="nope", start=when(T)), "No meeting"),
        (lambda s: ev.Makulering(**_next(s), cancelled_message_id="never-sent"), "not part of case"),
        (lambda s: replace(s.events[-1]), "already part of the case"),
        (lambda s: replace(ev.Utskrivningsklar(**_next(s)), case_id="case-2"), "applied to case"),
        (
            lambda s: ev.Utskrivningsklar(**{**_next(s), "occurred_at": datetime(2026, 11, 25, 12)}),
            "no UTC offset",
        ),
        (
            lambda s: ev.Utskrivningsmeddelande(**_next(s), discharged_at=when("2026-11-01 10:00")),
            "before the admission",
        ),
        (lambda s: ev.PatientAvliden(**_next(s), died_at=when("2026-11-01 10:00")), "before the admission"),
    ],
    ids=[
        "booked-twice",
        "ombokat-unknown",
        "makulering-unknown",
        "duplicate",
        "other-case",
        "naive-time",
        "discharge-before-admission",
        "death-before-admission",
    ],
)
def test_rejections_name_the_reason(make: Callable[[Story], Event], reason: str) -> None:
    story = _base(INS)
    with pytest.raises(CaseRejected, match=reason):
        story.case().apply(make(story))


def test_a_makulering_cannot_itself_be_cancelled() -> None:
    story = _base(KLAR)
    klar_id = story.last_id
    story.makulera("2026-11-23 11:00", klar_id)
    with pytest.raises(CaseRejected, match="cannot be cancelled"):
        story.makulera("2026-11-23 12:00", story.last_id).case()


# --- MedCom's receiver tests ---


def test_a_correction_then_a_cancellation() -> None:
    story = Story(T)
    original = story.events[0]
    assert isinstance(original, ev.Inskrivningsmeddelande)
    correction = replace(
        original,
        message_id="correction",
        occurred_at=when("2026-11-23 09:00"),
        expected_discharge=date(2026, 12, 4),
    )
    story.add(correction)
    assert story.case().expected_discharge == date(2026, 12, 4)
    # The correction is cancelled: the case rolls back to the original notice's content.
    story.makulera("2026-11-23 10:00", "correction")
    case = story.case()
    assert case.expected_discharge == original.expected_discharge
    assert case.state is INS and "correction" in case.cancelled
    # Then the original itself is cancelled: the whole case is void.
    story.makulera("2026-11-23 11:00", original.message_id)
    assert story.case().state is MAK


def test_mixed_offsets_are_ordered_by_the_instant_not_the_wall_clock() -> None:
    # DST ends 30 Oct 2022 at 03:00 (+02:00) → 02:00 (+01:00): the wall clock shows 02:00–03:00 twice.
    # The notice at 02:30 summer time (00:30Z) comes before the återtag at 02:10 winter time (01:10Z)
    # though its wall clock reads later; Python compares two times sharing one tzinfo by wall clock.
    notice_at = datetime(2022, 10, 30, 2, 30, tzinfo=TZ)  # fold=0: +02:00
    atertag_at = datetime(2022, 10, 30, 2, 10, tzinfo=TZ, fold=1)  # +01:00
    story = Story("2022-10-29 20:00").kallelse("2022-10-29T20:00:00+02:00")
    common = {"case_id": "case-1", "sender": SV}
    story.add(ev.Utskrivningsklar(message_id="klar", occurred_at=notice_at, **common))  # type: ignore[arg-type]
    story.add(ev.AtertagUtskrivningsklar(message_id="atertag", occurred_at=atertag_at, **common))  # type: ignore[arg-type]
    case = DischargeCase.open(story.events[0])
    for event in story.events[1:]:
        case = case.with_event(event)
    assert case.state is INS
    end = case.ready_periods[0].end
    # (== between zones is False for a time in the repeated hour, by PEP 495: compare in UTC.)
    assert end is not None and end.astimezone(UTC) == when("2022-10-30T01:10:00Z")
    assert case == story.case()
    # The same instants written with fixed offsets, as they arrive over the wire, in reverse order.
    wire = [
        replace(e, occurred_at=e.occurred_at.astimezone(when(o).tzinfo))
        for e, o in zip(story.events[2:], ["2022-10-30T00:00+02:00", "2022-10-30T00:00+01:00"], strict=True)
    ]
    rebuilt = replay([*story.events[:2], *reversed(wire)])
    assert rebuilt.state is INS
    assert [(p.start.astimezone(UTC), p.end.astimezone(UTC)) for p in rebuilt.ready_periods if p.end] == [
        (when("2022-10-30T00:30:00Z"), when("2022-10-30T01:10:00Z"))
    ]


def test_a_leap_day_is_an_ordinary_day() -> None:
    case = Story("2028-02-28 10:00").klar("2028-02-28 10:00").ut("2028-02-29 23:59").case()
    assert case.state is UT
    assert case.discharged_at == when("2028-02-29 23:59")


def test_out_of_order_arrival_the_admission_correction_after_the_discharge_keeps_the_case_discharged() -> (
    None
):
    story = Story(T).klar("2026-11-23 10:00").ut("2026-11-25 10:00")
    late_correction = replace(story.events[0], message_id="late", occurred_at=when("2026-11-23 09:00"))
    case = story.case().with_event(late_correction)  # arrives last, happened second
    assert case.state is UT
    assert [e.message_id for e in case.events][:2] == ["case-1-m1", "late"]
    assert case == replay([*story.events, late_correction])


def test_a_late_admission_correction_for_a_closed_case_is_applied_with_a_warning() -> None:
    story = Story(T).klar("2026-11-23 10:00").ut("2026-11-25 10:00")
    discharged = story.case()
    late_correction = replace(story.events[0], message_id="late", occurred_at=when("2026-11-23 09:00"))
    warning = discharged.late_for(late_correction)
    assert warning is not None and "already closed (utskriven 2026-11-25T10:00:00+01:00)" in warning
    assert discharged.with_event(late_correction).state is UT
    # Before the discharge the same correction is an ordinary one; other late events are no news.
    assert Story(T).klar("2026-11-23 10:00").case().late_for(late_correction) is None
    assert discharged.late_for(story.events[1]) is None
    died = Story(T).dod("2026-11-24 10:00").case()
    assert "already closed (avliden" in (died.late_for(late_correction) or "")


def test_the_utskrivningsklar_time_survives_the_discharge_and_the_death() -> None:
    ready = when("2026-11-23 10:00")
    assert Story(T).klar("2026-11-23 10:00").case().utskrivningsklar_at == ready
    assert Story(T).klar("2026-11-23 10:00").ut("2026-11-25 10:00").case().utskrivningsklar_at == ready
    assert Story(T).klar("2026-11-23 10:00").dod("2026-11-25 10:00").case().utskrivningsklar_at == ready
    # A notice withdrawn before the discharge: the patient left without being utskrivningsklar.
    withdrawn = Story(T).klar("2026-11-23 10:00").atertag("2026-11-24 10:00").ut("2026-11-25 10:00")
    assert withdrawn.case().utskrivningsklar_at is None


def test_a_discharge_that_arrives_before_the_notice_it_follows() -> None:
    story = Story(T).klar("2026-11-23 10:00").ut("2026-11-25 10:00")
    admission, klar, ut = story.events
    case = DischargeCase.open(admission).with_event(ut).with_event(klar)
    assert case.state is UT and case.ready_periods[0].end == when("2026-11-25 10:00")
    assert case == story.case()


def test_an_event_older_than_the_log_is_replayed_into_place() -> None:
    base = Story(T).klar("2026-11-23 10:00")
    kallelse = ev.KallelseTillSip(
        message_id="k",
        case_id="case-1",
        occurred_at=when("2026-11-23 09:30") - timedelta(minutes=1),
        sender=VC,
    )
    assert base.case().with_event(kallelse).kallelse_at == kallelse.occurred_at
