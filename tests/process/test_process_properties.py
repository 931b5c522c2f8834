"""Property tests of the process model over random stays (hypothesis, bounded to run in seconds).

The generator knows the LUS process independently of the case code: in each state it draws only a
step the process allows there, at a later time than the step before (times cross daylight-saving
changes and carry +01:00 or +02:00, as they arrive over the wire).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.config import PROJECT_ROOT
from adapter.process import events as ev
from adapter.process.betalningsansvar import betalningsansvar
from adapter.process.case import CaseRejected, DischargeCase, replay
from adapter.process.deadlines import deadlines
from adapter.process.events import EVENT_TYPES, Event, event_from_dict, event_to_dict
from adapter.process.kalender import local_day
from adapter.process.measures import outcome_measures
from adapter.process.rules import PaymentModel
from adapter.rules_config import load_rules
from tests.support.lus_story import SV, TZ, VC

RULES = load_rules(PROJECT_ROOT / "examples" / "config")
PER_CASE = [a for a in RULES.agreements.values() if a.model is PaymentModel.PER_CASE]
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def wire_time(instant: datetime) -> datetime:
    """Swedish local time with a fixed offset, as an ISO timestamp from another party carries it."""
    local = instant.astimezone(TZ)
    offset = local.utcoffset()
    assert offset is not None
    return local.replace(tzinfo=timezone(offset))


@dataclass
class Model:
    """What the generator knows about the stay so far (its own model, not the case's)."""

    state: str = "inskriven"
    on_leave: bool = False
    meetings: list[str] = field(default_factory=list)
    last_cancellable: str | None = None  # the last message, if a makulering may cancel it
    before_last: Model | None = None  # the model before that message


def _allowed(model: Model) -> list[str]:
    s = model.state
    if s == "makulerad":
        return ["kvittens"]
    steps = ["kvittens", "meddelande"]
    if s in ("inskriven", "utskrivningsklar"):
        steps += ["andrat", "underlag", "ut", "dod", "inskrivning"]
        steps.append("perm-slut" if model.on_leave else "perm-start")
    if s == "inskriven" and not model.on_leave:
        steps += ["klar"] * 6  # weights: most stays become ready, and most ready patients go home
    if s == "utskrivningsklar":
        steps += ["atertag", "ut", "ut", "kallelse", "kallelse"]
    if s != "avliden":
        steps += ["fvk", "kallelse", "bokat"]
        if model.meetings:
            steps.append("ombokat")
    if model.meetings:
        steps.append("avbokat")
    if model.last_cancellable:
        steps.append("makulering")
    return steps


@st.composite
def stays(draw: st.DrawFn, *, valid: bool = True) -> list[Event]:
    start = draw(st.datetimes(min_value=datetime(2019, 1, 1), max_value=datetime(2029, 12, 1))).replace(
        tzinfo=UTC
    )
    admission = ev.Inskrivningsmeddelande(
        message_id="m0",
        case_id="c",
        occurred_at=wire_time(start + timedelta(minutes=draw(st.integers(0, 2000)))),
        sender=SV,
        patient=ev.Patient(
            identifier_system="http://electronichealth.se/identifier/personnummer",
            identifier="191212121212",
            address=ev.Address(municipality_code=draw(st.sampled_from(["1480", "0180", None]))),
        ),
        admitted_at=wire_time(start),
        unit=SV,
        care_kind=draw(st.sampled_from(ev.CareKind)),
        needs_region_and_municipality=draw(st.booleans()),
    )
    events: list[Event] = [admission]
    model = Model(last_cancellable="m0", before_last=Model())
    now = admission.occurred_at
    for n in range(1, draw(st.integers(0, 14)) + 1):
        now = wire_time(now + timedelta(minutes=draw(st.integers(1, 4 * 24 * 60))))
        steps = _allowed(model) if valid else sorted(_ALL_STEPS)
        step = draw(st.sampled_from(steps))
        if not valid:
            model.last_cancellable = draw(st.sampled_from(events)).message_id
        event = _make(step, f"m{n}", now, events, model, draw)
        events.append(event)
        if valid:
            _advance(model, step, event)
    return events


_ALL_STEPS = {
    "klar", "atertag", "ut", "dod", "andrat", "underlag", "inskrivning", "perm-start", "perm-slut", "fvk",
    "kallelse", "bokat", "ombokat", "avbokat", "kvittens", "meddelande", "makulering",
}  # fmt: skip


def _make(step: str, mid: str, at: datetime, events: list[Event], model: Model, draw: st.DrawFn) -> Event:
    c: dict[str, Any] = {"message_id": mid, "case_id": "c", "occurred_at": at, "sender": SV}
    meeting = draw(st.sampled_from(model.meetings)) if model.meetings else "a-none"
    admitted = events[0].admitted_at if isinstance(events[0], ev.Inskrivningsmeddelande) else at
    builders: dict[str, Any] = {
        "klar": lambda: ev.Utskrivningsklar(**c),
        "atertag": lambda: ev.AtertagUtskrivningsklar(**c),
        "ut": lambda: ev.Utskrivningsmeddelande(
            **c, discharged_at=max(admitted, at - timedelta(hours=draw(st.integers(0, 9))))
        ),
        "dod": lambda: ev.PatientAvliden(**c, died_at=at),
        "andrat": lambda: ev.AndratUtskrivningsdatum(
            **c, expected_discharge=local_day(at) + timedelta(days=2)
        ),
        "underlag": lambda: ev.Planeringsunderlag(
            **c, plan_id="p1", needs_category=draw(st.sampled_from(ev.NeedsCategory))
        ),
        "inskrivning": lambda: _correction(events[0], c),
        "perm-start": lambda: ev.PermissionStart(**c),
        "perm-slut": lambda: ev.PermissionSlut(**c),
        "fvk": lambda: ev.FastVardkontaktUtsedd(**c, contact_hsa_id="SE2321000131-P000000123456"),
        "kallelse": lambda: ev.KallelseTillSip(**{**c, "sender": VC}),
        "bokat": lambda: ev.PlaneringsmoteBokat(**c, appointment_id=f"a-{mid}", start=at + timedelta(days=1)),
        "ombokat": lambda: ev.PlaneringsmoteOmbokat(
            **c, appointment_id=meeting, start=at + timedelta(days=2)
        ),
        "avbokat": lambda: ev.PlaneringsmoteAvbokat(**c, appointment_id=meeting),
        "kvittens": lambda: ev.Kvittens(**c, acknowledged_message_id=events[-1].message_id),
        "meddelande": lambda: ev.Meddelande(**c, text="Ring avdelningen"),
        "makulering": lambda: ev.Makulering(
            **c, cancelled_message_id=model.last_cancellable or events[-1].message_id
        ),
    }
    event: Event = builders[step]()
    return event


def _correction(first: Event, common: dict[str, Any]) -> Event:
    assert isinstance(first, ev.Inskrivningsmeddelande)
    return ev.Inskrivningsmeddelande(
        **common,
        patient=first.patient,
        admitted_at=first.admitted_at,
        unit=first.unit,
        care_kind=first.care_kind,
        needs_region_and_municipality=first.needs_region_and_municipality,
        expected_discharge=local_day(common["occurred_at"]) + timedelta(days=3),
    )


def _advance(model: Model, step: str, event: Event) -> None:
    """The generator's own idea of the next state."""
    before = Model(model.state, model.on_leave, list(model.meetings))
    if step == "makulering":
        # Cancelling the last message rolls back to the state before it (the admission: all void).
        previous = model.before_last or before
        model.state, model.on_leave, model.meetings = previous.state, previous.on_leave, previous.meetings
        if model.last_cancellable == "m0":
            model.state = "makulerad"
        model.last_cancellable = model.before_last = None
        return
    moves = {"klar": "utskrivningsklar", "atertag": "inskriven", "ut": "utskriven", "dod": "avliden"}
    model.state = moves.get(step, model.state)
    model.on_leave = {"perm-start": True, "perm-slut": False, "ut": False, "dod": False}.get(
        step, model.on_leave
    )
    if isinstance(event, ev.PlaneringsmoteBokat):
        model.meetings.append(event.appointment_id)
    # Only the last message may be cancelled, so that no later message depends on it.
    model.last_cancellable, model.before_last = event.message_id, before


def _ready_days(case: DischargeCase, now: datetime) -> int:
    """Calendar days between each utskrivningsklar and the end of its period (or now), summed."""
    return sum(max(0, (local_day(p.end or now) - local_day(p.start)).days) for p in case.ready_periods)


@FAST
@given(stays())
def test_random_valid_stays_never_raise_and_end_where_the_generator_expects(events: list[Event]) -> None:
    case = DischargeCase.open(events[0])
    for event in events[1:]:
        case = case.with_event(event)
    assert case == replay(events)


@FAST
@given(stays(valid=False))
def test_random_steps_in_any_state_are_taken_or_refused_with_a_reason(events: list[Event]) -> None:
    case = DischargeCase.open(events[0])
    for event in events[1:]:
        try:
            case = case.with_event(event)
        except CaseRejected as exc:
            assert exc.reason and exc.code
    assert replay(case.events) == case


@FAST
@given(stays(), st.integers(0, 60))
def test_liable_days_are_never_negative_nor_more_than_the_days_ready(events: list[Event], later: int) -> None:
    case = replay(events)
    now = events[-1].occurred_at + timedelta(days=later)
    for agreement in PER_CASE:
        result = betalningsansvar(case, agreement, now)
        assert 0 <= result.liable_days <= _ready_days(case, now) == result.ready_days
        assert len(set(result.days)) == result.liable_days  # no day is paid twice
        assert result.amount == sum(agreement.day_amounts.for_day(d) for d in result.days) >= 0


@FAST
@given(stays())
def test_replaying_the_stored_event_log_rebuilds_the_same_case(events: list[Event]) -> None:
    case = replay(events)
    stored = [event_from_dict(event_to_dict(e)) for e in case.events]
    assert replay(stored) == case
    assert replay(reversed(stored)) == case  # the log's own order does not matter, event time does


@FAST
@given(stays(), st.integers(0, 30))
def test_deadlines_and_measures_are_defined_for_every_stay(events: list[Event], later: int) -> None:
    case = replay(events)
    now = events[-1].occurred_at + timedelta(days=later)
    for deadline in deadlines(case, now, RULES):
        assert deadline.kind in EVENT_TYPES
        assert deadline.met_at is not None or deadline.late is False
    start = case.admitted_at - timedelta(days=1)
    measures = outcome_measures([case], start, now + timedelta(days=1), RULES, now)
    assert 0 <= measures.discharged_within_24h <= measures.discharged_after_ready <= 1
    assert sum(measures.needs_mix.values()) == (0 if case.state.value == "makulerad" else 1)


def test_the_generator_reaches_every_state() -> None:
    # A guard on the generator itself: a model that never discharges would test little.
    seen: set[str] = set()

    @settings(max_examples=150, deadline=None, derandomize=True)
    @given(stays())
    def collect(events: list[Event]) -> None:
        seen.add(replay(events).state.value)

    collect()
    assert seen >= {"inskriven", "utskrivningsklar", "utskriven", "avliden", "makulerad"}


def test_a_day_in_the_window_is_a_real_day() -> None:
    assert local_day(wire_time(datetime(2028, 2, 29, 12, tzinfo=UTC))) == date(2028, 2, 29)
