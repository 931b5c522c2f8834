"""The discharge case: the state of one hospital stay's planning, rebuilt from its events.

The case is event-sourced: `replay` applies the event log in event-time order (an event's own
timestamp, not its arrival), so messages that cross on the network still give the case they
describe. A makulering (cancellation) rebuilds the case without the cancelled message, which rolls
every state it changed back to what it was before.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from adapter.process.events import (
    AndratUtskrivningsdatum,
    AtertagUtskrivningsklar,
    CareKind,
    DokumenteradOverenskommelse,
    Event,
    FastVardkontaktUtsedd,
    Godkannande,
    Inskrivningsmeddelande,
    KallelseTillSip,
    Kvittens,
    Makulering,
    Meddelande,
    MeetingMode,
    NeedsCategory,
    Patient,
    PatientAvliden,
    PermissionSlut,
    PermissionStart,
    PlaneringsmoteAvbokat,
    PlaneringsmoteBokat,
    PlaneringsmoteOmbokat,
    Planeringsunderlag,
    SipAvslutad,
    SipUppfoljd,
    SipUpprattad,
    Stallningstagande,
    Utskrivningsklar,
    Utskrivningsmeddelande,
)
from adapter.process.kalender import instant
from adapter.process.signoff import Answer, Signoff


class CaseState(enum.StrEnum):
    INSKRIVEN = "inskriven"  # admitted; planning under way
    UTSKRIVNINGSKLAR = "utskrivningsklar"  # ready for discharge; the payment clock runs
    UTSKRIVEN = "utskriven"  # discharged
    AVLIDEN = "avliden"  # the patient died
    MAKULERAD = "makulerad"  # the admission notice itself was cancelled

    @property
    def closed(self) -> bool:
        return self in (CaseState.UTSKRIVEN, CaseState.AVLIDEN, CaseState.MAKULERAD)


class SipStatus(enum.StrEnum):
    UPPRATTAD = "upprattad"  # drawn up (or sent as a planeringsunderlag of type SIP)
    UPPFOLJD = "uppfoljd"  # followed up
    AVSLUTAD = "avslutad"  # ended


class CaseRejected(Exception):
    """An event that does not fit the case. `reason` is shown to the sender."""

    def __init__(self, reason: str, *, code: str = "business-rule") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass(frozen=True, kw_only=True)
class ReadyPeriod:
    """From an utskrivningsklar notice until its återtag or the discharge (open while None)."""

    start: datetime
    end: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class Meeting:
    appointment_id: str
    start: datetime
    mode: MeetingMode
    sip: bool
    site: str | None = None
    cancelled: bool = False
    slots: tuple[str, ...] = ()  # the tidbok slots it takes: Appointment.slot of its last booking


@dataclass(frozen=True, kw_only=True)
class KvittensReceived:
    message_id: str  # the acknowledged message
    by: str  # HSA-id of the acknowledging party
    code: str
    at: datetime


@dataclass(frozen=True, kw_only=True)
class DischargeCase:
    """Immutable: `apply` returns the next case. Replaying the event log rebuilds it."""

    case_id: str
    state: CaseState
    patient: Patient
    unit: str
    care_kind: CareKind
    needs_region_and_municipality: bool
    admitted_at: datetime
    inskrivning_sent_at: datetime
    expected_discharge: date | None = None
    fast_vardkontakt: str | None = None
    needs_category: NeedsCategory | None = None
    plans: tuple[str, ...] = ()  # plan ids of planeringsunderlag, in order
    ready_periods: tuple[ReadyPeriod, ...] = ()
    kallelse_at: datetime | None = None
    meetings: tuple[Meeting, ...] = ()
    on_leave: bool = False
    discharged_at: datetime | None = None
    discharge_disposition: str | None = None
    died_at: datetime | None = None
    kvittenser: tuple[KvittensReceived, ...] = ()
    signoff: Signoff | None = None  # the ställningstagande in force and the answers to it
    sip: SipStatus | None = None
    overenskommelse_at: datetime | None = None  # when the latest dokumenterad överenskommelse was sent
    messages: int = 0
    cancelled: frozenset[str] = frozenset()  # message ids made void by a makulering
    # Parties any message named as destination or as a participant (an organisation, with its kind):
    # parties of the case beside its unit, kommun and vårdcentral.
    named: frozenset[str] = frozenset()
    events: tuple[Event, ...] = field(default=())

    # --- creation and replay ---

    @staticmethod
    def open(event: Event) -> DischargeCase:
        """The case created by its first event: an inskrivningsmeddelande."""
        _require_offsets(event)
        if not isinstance(event, Inskrivningsmeddelande):
            raise CaseRejected(
                f"No case {event.case_id!r} exists: a case starts with an inskrivningsmeddelande,"
                f" not with {event.kind}.",
                code="not-found",
            )
        return DischargeCase(
            case_id=event.case_id,
            named=_named_by(event),
            state=CaseState.INSKRIVEN,
            patient=event.patient,
            unit=event.unit,
            care_kind=event.care_kind,
            needs_region_and_municipality=event.needs_region_and_municipality,
            admitted_at=event.admitted_at,
            inskrivning_sent_at=event.occurred_at,
            expected_discharge=event.expected_discharge,
            events=(event,),
        )

    @property
    def utskrivningsklar_at(self) -> datetime | None:
        """Since when the patient is utskrivningsklar: the start of the open ready period, or of
        the one the discharge or death ended (the case still shows when the patient was ready)."""
        if not self.ready_periods:
            return None
        last = self.ready_periods[-1]
        closed_at = self.discharged_at or self.died_at
        if last.end is None or (closed_at is not None and instant(last.end) == instant(closed_at)):
            return last.start
        return None

    @property
    def booked_slots(self) -> dict[str, tuple[str, ...]]:
        """The slots each meeting holds as the case stands (a cancelled meeting, or any meeting of a
        case whose admission was made void, none): what the tidbok must match after every message,
        a makulering included."""
        void = self.state is CaseState.MAKULERAD
        return {m.appointment_id: () if void or m.cancelled else m.slots for m in self.meetings}

    def late_for(self, event: Event) -> str | None:
        """Why an event applied to this case, though accepted, deserves a warning to its sender:
        an inskrivningsmeddelande that reaches a closed case corrects the admission (it happened
        before the discharge or death, in event time) but leaves the case closed."""
        if not isinstance(event, Inskrivningsmeddelande) or not self.state.closed:
            return None
        closed_at = self.discharged_at or self.died_at
        what = f"{self.state.value} {closed_at.isoformat()}" if closed_at else self.state.value
        return (
            f"Case {self.case_id} is already closed ({what}): this inskrivningsmeddelande is applied"
            f" as a correction of the admission, in event time, and the case stays {self.state.value}."
        )

    def with_event(self, event: Event) -> DischargeCase:
        """This case with one more event, applied in event-time order among the others."""
        if instant(event.occurred_at) >= instant(self.events[-1].occurred_at):
            return self.apply(event)
        return replay([*self.events, event])

    # --- transitions ---

    def apply(self, event: Event) -> DischargeCase:
        _require_offsets(event)
        if event.case_id != self.case_id:
            raise CaseRejected(f"Event for case {event.case_id!r} applied to case {self.case_id!r}.")
        if any(e.message_id == event.message_id for e in self.events):
            raise CaseRejected(f"Message {event.message_id} is already part of the case.", code="duplicate")
        handler = _TRANSITIONS.get(type(event))
        if handler is None:
            raise CaseRejected(f"The case cannot take a {event.kind} event.", code="not-supported")
        if self.state is CaseState.MAKULERAD and not isinstance(event, Kvittens | Makulering):
            raise CaseRejected("The case was cancelled (its inskrivningsmeddelande was made void).")
        next_case = handler(self, event)
        named = _named_by(event)
        if named - next_case.named:
            next_case = replace(next_case, named=next_case.named | named)
        return replace(next_case, events=(*next_case.events, event))

    def _require(self, event: Event, *allowed: CaseState) -> None:
        if self.state not in allowed:
            raise CaseRejected(
                f"A {event.kind} does not fit a case that is {self.state.value}"
                f" (it fits: {', '.join(s.value for s in allowed)}).",
            )

    def _inskrivning(self, e: Inskrivningsmeddelande) -> DischargeCase:
        # A second admission notice for the same stay corrects the first.
        self._require(e, CaseState.INSKRIVEN, CaseState.UTSKRIVNINGSKLAR)
        return replace(
            self,
            patient=e.patient,
            unit=e.unit,
            care_kind=e.care_kind,
            needs_region_and_municipality=e.needs_region_and_municipality,
            admitted_at=e.admitted_at,
            expected_discharge=e.expected_discharge,
        )

    def _andrat_datum(self, e: AndratUtskrivningsdatum) -> DischargeCase:
        self._require(e, CaseState.INSKRIVEN, CaseState.UTSKRIVNINGSKLAR)
        return replace(self, expected_discharge=e.expected_discharge)

    def _fast_vardkontakt(self, e: FastVardkontaktUtsedd) -> DischargeCase:
        self._require(e, CaseState.INSKRIVEN, CaseState.UTSKRIVNINGSKLAR, CaseState.UTSKRIVEN)
        return replace(self, fast_vardkontakt=e.contact_hsa_id)

    def _planeringsunderlag(self, e: Planeringsunderlag) -> DischargeCase:
        self._require(e, CaseState.INSKRIVEN, CaseState.UTSKRIVNINGSKLAR)
        plans = self.plans if e.plan_id in self.plans else (*self.plans, e.plan_id)
        # A SIP or överenskommelse sent as planeringsunderlag (before they had codes of their own).
        sip = self.sip or (SipStatus.UPPRATTAD if e.plan_type == "SIP" else None)
        documented = e.occurred_at if e.plan_type == "DO" else self.overenskommelse_at
        return replace(
            self, plans=plans, needs_category=e.needs_category, sip=sip, overenskommelse_at=documented
        )

    def _stallningstagande(self, e: Stallningstagande) -> DischargeCase:
        self._require(e, CaseState.INSKRIVEN, CaseState.UTSKRIVNINGSKLAR)
        return replace(self, signoff=Signoff(stallningstagande=e.message_id, sent_at=e.occurred_at))

    def _godkannande(self, e: Godkannande) -> DischargeCase:
        self._require(e, CaseState.INSKRIVEN, CaseState.UTSKRIVNINGSKLAR, CaseState.UTSKRIVEN)
        if not any(x.message_id == e.stallningstagande for x in self.events):
            raise CaseRejected(f"No ställningstagande {e.stallningstagande} in this case.", code="not-found")
        signoff = self.signoff
        if signoff is None or signoff.stallningstagande != e.stallningstagande:
            raise CaseRejected(
                f"Ställningstagande {e.stallningstagande} has been replaced"
                f"{f' by {signoff.stallningstagande}' if signoff else ''}: answer the one in force."
            )
        answer = Answer(party=e.sender, approved=e.approved, at=e.occurred_at, comment=e.comment)
        return replace(self, signoff=signoff.answered(answer))

    def _sip(self, e: SipUpprattad | SipAvslutad) -> DischargeCase:
        # A SIP follows the patient home: it is drawn up, followed up and ended after discharge too.
        self._require(e, CaseState.INSKRIVEN, CaseState.UTSKRIVNINGSKLAR, CaseState.UTSKRIVEN)
        if e.kind != SipUpprattad.kind and e.plan_id not in self.plans:
            raise CaseRejected(f"No SIP {e.plan_id} has been drawn up in this case.", code="not-found")
        status = {
            SipUpprattad.kind: SipStatus.UPPRATTAD,
            SipUppfoljd.kind: SipStatus.UPPFOLJD,
            SipAvslutad.kind: SipStatus.AVSLUTAD,
        }[e.kind]
        plans = self.plans if e.plan_id in self.plans else (*self.plans, e.plan_id)
        return replace(self, sip=status, plans=plans)

    def _overenskommelse(self, e: DokumenteradOverenskommelse) -> DischargeCase:
        self._require(e, CaseState.INSKRIVEN, CaseState.UTSKRIVNINGSKLAR, CaseState.UTSKRIVEN)
        plans = self.plans if e.plan_id in self.plans else (*self.plans, e.plan_id)
        return replace(self, overenskommelse_at=e.occurred_at, plans=plans)

    def _utskrivningsklar(self, e: Utskrivningsklar) -> DischargeCase:
        self._require(e, CaseState.INSKRIVEN)
        if self.on_leave:
            raise CaseRejected("The patient is on leave (permission); end the leave before utskrivningsklar.")
        return replace(
            self,
            state=CaseState.UTSKRIVNINGSKLAR,
            ready_periods=(*self.ready_periods, ReadyPeriod(start=e.occurred_at)),
        )

    def _atertag(self, e: AtertagUtskrivningsklar) -> DischargeCase:
        self._require(e, CaseState.UTSKRIVNINGSKLAR)
        return replace(
            self, state=CaseState.INSKRIVEN, ready_periods=_close_last(self.ready_periods, e.occurred_at)
        )

    def _kallelse(self, e: KallelseTillSip) -> DischargeCase:
        self._require(e, CaseState.INSKRIVEN, CaseState.UTSKRIVNINGSKLAR, CaseState.UTSKRIVEN)
        return replace(self, kallelse_at=self.kallelse_at or e.occurred_at)

    def _mote_bokat(self, e: PlaneringsmoteBokat) -> DischargeCase:
        # Planning meetings happen before discharge or within days after it.
        self._require(e, CaseState.INSKRIVEN, CaseState.UTSKRIVNINGSKLAR, CaseState.UTSKRIVEN)
        if any(m.appointment_id == e.appointment_id for m in self.meetings):
            raise CaseRejected(f"Meeting {e.appointment_id} is already booked; send planeringsmote-ombokat.")
        meeting = Meeting(
            appointment_id=e.appointment_id, start=e.start, mode=e.mode, sip=e.sip, site=e.site, slots=e.slots
        )
        return replace(self, meetings=(*self.meetings, meeting))

    def _mote_ombokat(self, e: PlaneringsmoteOmbokat) -> DischargeCase:
        self._require(e, CaseState.INSKRIVEN, CaseState.UTSKRIVNINGSKLAR, CaseState.UTSKRIVEN)
        meeting = self._meeting(e.appointment_id)
        return self._replace_meeting(replace(meeting, start=e.start, mode=e.mode, slots=e.slots))

    def _mote_avbokat(self, e: PlaneringsmoteAvbokat) -> DischargeCase:
        self._require(
            e, CaseState.INSKRIVEN, CaseState.UTSKRIVNINGSKLAR, CaseState.UTSKRIVEN, CaseState.AVLIDEN
        )
        return self._replace_meeting(replace(self._meeting(e.appointment_id), cancelled=True))

    def _utskrivning(self, e: Utskrivningsmeddelande) -> DischargeCase:
        if self.state is CaseState.AVLIDEN:
            raise CaseRejected("The patient has died: a discharge after death is not possible.")
        self._require(e, CaseState.INSKRIVEN, CaseState.UTSKRIVNINGSKLAR)
        self._require_after_admission("discharged_at", e.discharged_at)
        return replace(
            self,
            state=CaseState.UTSKRIVEN,
            discharged_at=e.discharged_at,
            discharge_disposition=e.disposition,
            on_leave=False,
            ready_periods=_close_last(self.ready_periods, e.discharged_at),
        )

    def _avliden(self, e: PatientAvliden) -> DischargeCase:
        self._require(e, CaseState.INSKRIVEN, CaseState.UTSKRIVNINGSKLAR)
        self._require_after_admission("died_at", e.died_at)
        return replace(
            self,
            state=CaseState.AVLIDEN,
            died_at=e.died_at,
            on_leave=False,
            ready_periods=_close_last(self.ready_periods, e.died_at),
        )

    def _permission_start(self, e: PermissionStart) -> DischargeCase:
        self._require(e, CaseState.INSKRIVEN, CaseState.UTSKRIVNINGSKLAR)
        if self.on_leave:
            raise CaseRejected("The patient is already on leave.")
        return replace(self, on_leave=True)

    def _permission_slut(self, e: PermissionSlut) -> DischargeCase:
        self._require(e, CaseState.INSKRIVEN, CaseState.UTSKRIVNINGSKLAR)
        if not self.on_leave:
            raise CaseRejected("The patient is not on leave.")
        return replace(self, on_leave=False)

    def _kvittens(self, e: Kvittens) -> DischargeCase:
        ack = KvittensReceived(
            message_id=e.acknowledged_message_id, by=e.sender, code=e.code, at=e.occurred_at
        )
        return replace(self, kvittenser=(*self.kvittenser, ack))

    def _meddelande(self, e: Meddelande) -> DischargeCase:
        return replace(self, messages=self.messages + 1)

    def _makulering(self, e: Makulering) -> DischargeCase:
        target = next((x for x in self.events if x.message_id == e.cancelled_message_id), None)
        if target is None:
            raise CaseRejected(
                f"Makulering of message {e.cancelled_message_id}, which is not part of case {self.case_id}.",
                code="not-found",
            )
        if target.message_id in self.cancelled:
            raise CaseRejected(f"Message {target.message_id} is already cancelled.")
        if isinstance(target, Makulering):
            # Undoing a cancellation would revive a message its sender withdrew: send it anew instead.
            raise CaseRejected(f"Message {target.message_id} is a makulering, which cannot be cancelled.")
        if target is self.events[0]:
            return replace(self, state=CaseState.MAKULERAD, cancelled=self.cancelled | {target.message_id})
        try:
            rebuilt = replay(x for x in self.events if x is not target)
        except CaseRejected as exc:
            raise CaseRejected(
                f"Makulering of {target.kind} {target.message_id} leaves later messages invalid: {exc.reason}"
            ) from exc
        # The log keeps the cancelled message: replaying it with this makulering gives this case.
        return replace(rebuilt, events=self.events, cancelled=rebuilt.cancelled | {target.message_id})

    def _require_after_admission(self, name: str, moment: datetime) -> None:
        if instant(moment) < instant(self.admitted_at):
            raise CaseRejected(
                f"{name} {moment.isoformat()} is before the admission {self.admitted_at.isoformat()}."
            )

    def _meeting(self, appointment_id: str) -> Meeting:
        meeting = next((m for m in self.meetings if m.appointment_id == appointment_id), None)
        if meeting is None:
            raise CaseRejected(f"No meeting {appointment_id} is booked in this case.", code="not-found")
        return meeting

    def _replace_meeting(self, meeting: Meeting) -> DischargeCase:
        meetings = tuple(meeting if m.appointment_id == meeting.appointment_id else m for m in self.meetings)
        return replace(self, meetings=meetings)


def _named_by(event: Event) -> frozenset[str]:
    """The parties a message names: its destinations and the organisations among its participants."""
    participants = getattr(event, "participants", ())
    return frozenset(event.destinations) | {p.hsa_id for p in participants if p.party and p.hsa_id}


def _close_last(periods: tuple[ReadyPeriod, ...], end: datetime) -> tuple[ReadyPeriod, ...]:
    if periods and periods[-1].end is None:
        return (*periods[:-1], replace(periods[-1], end=end))
    return periods


_TRANSITIONS: dict[type[Event], Callable[[DischargeCase, Any], DischargeCase]] = {
    Inskrivningsmeddelande: DischargeCase._inskrivning,
    AndratUtskrivningsdatum: DischargeCase._andrat_datum,
    FastVardkontaktUtsedd: DischargeCase._fast_vardkontakt,
    Planeringsunderlag: DischargeCase._planeringsunderlag,
    Utskrivningsklar: DischargeCase._utskrivningsklar,
    AtertagUtskrivningsklar: DischargeCase._atertag,
    KallelseTillSip: DischargeCase._kallelse,
    PlaneringsmoteBokat: DischargeCase._mote_bokat,
    PlaneringsmoteOmbokat: DischargeCase._mote_ombokat,
    PlaneringsmoteAvbokat: DischargeCase._mote_avbokat,
    Utskrivningsmeddelande: DischargeCase._utskrivning,
    PatientAvliden: DischargeCase._avliden,
    PermissionStart: DischargeCase._permission_start,
    PermissionSlut: DischargeCase._permission_slut,
    Kvittens: DischargeCase._kvittens,
    Meddelande: DischargeCase._meddelande,
    Makulering: DischargeCase._makulering,
    Stallningstagande: DischargeCase._stallningstagande,
    Godkannande: DischargeCase._godkannande,
    SipUpprattad: DischargeCase._sip,
    SipUppfoljd: DischargeCase._sip,
    SipAvslutad: DischargeCase._sip,
    DokumenteradOverenskommelse: DischargeCase._overenskommelse,
}


def _require_offsets(event: Event) -> None:
    """Event times must carry their UTC offset: a local time without one is ambiguous twice a year."""
    for name in _time_fields(type(event)):
        value = getattr(event, name)
        if isinstance(value, datetime) and value.utcoffset() is None:
            raise CaseRejected(f"{event.kind}.{name} has no UTC offset.", code="invalid")


_TIME_FIELDS: dict[type[Event], tuple[str, ...]] = {}


def _time_fields(kind: type[Event]) -> tuple[str, ...]:
    names = _TIME_FIELDS.get(kind)
    if names is None:
        names = _TIME_FIELDS[kind] = tuple(
            f.name for f in dataclasses.fields(kind) if "datetime" in str(f.type)
        )
    return names


def replay(events: Iterable[Event]) -> DischargeCase:
    """Rebuild a case from its event log, in event-time order (stable for equal times)."""
    events = list(events)
    for event in events:
        _require_offsets(event)
    ordered = sorted(events, key=lambda e: instant(e.occurred_at))
    if not ordered:
        raise CaseRejected("A case needs at least one event.")
    case = DischargeCase.open(ordered[0])
    for event in ordered[1:]:
        case = case.apply(event)
    return case
