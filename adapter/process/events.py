"""Process events: one class per step of the discharge-planning process.

An event is what happened, in domain terms, independent of how it travelled (FHIR dialect,
message bundle). Every event carries the id of the message that carried it, so that a later
makulering or kvittens can name it, and its own event time, so that events that arrive out of
order over the network can be applied in event-time order.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar, TypeVar


class Party(enum.StrEnum):
    """The three kinds of party in LUS."""

    SLUTENVARD = "SV"
    OPPENVARD = "OV"
    KOMMUN = "K"


class CareKind(enum.StrEnum):
    """Somatic or psychiatric inpatient care: payment rules differ."""

    SOMATIC = "somatic"
    PSYCHIATRIC = "psychiatric"


class NeedsCategory(enum.StrEnum):
    """Why planning differs per patient (Halland's categories from Lifecare data)."""

    UNCHANGED = "unchanged"
    NEW_SOCIAL = "new-social"
    NEW_HEALTH = "new-health"
    NEW_ADVANCED = "new-advanced"


class MeetingMode(enum.StrEnum):
    IN_PERSON = "in-person"
    PHONE = "phone"
    VIDEO = "video"


@dataclass(frozen=True, kw_only=True)
class Address:
    lines: tuple[str, ...] = ()
    postal_code: str | None = None
    city: str | None = None
    municipality_code: str | None = None  # SCB kommunkod (KV Kommun), routes to the municipality


@dataclass(frozen=True, kw_only=True)
class Patient:
    """Who the case is about. Only the identifier is needed by the process; the rest travels."""

    identifier_system: str
    identifier: str
    given: tuple[str, ...] = ()
    family: str | None = None
    address: Address | None = None  # folkbokföringsadress
    protected: bool = False  # sekretessmarkering / skyddad folkbokföring
    vardcentral: str | None = None  # HSA-id of the patient's listed vårdcentral


@dataclass(frozen=True, kw_only=True)
class Participant:
    party: Party | None = None  # None for the patient and närstående
    hsa_id: str | None = None
    role: str | None = None  # e.g. "patient", "narstaende", "fast-vardkontakt"
    display: str | None = None


@dataclass(frozen=True, kw_only=True)
class Activity:
    """A planned contribution by one party (hemtjänst, hemsjukvård, rehab, hjälpmedel, läkemedel)."""

    kind: str
    party: Party | None = None  # None: what the patient does
    description: str | None = None


E = TypeVar("E", bound="Event")


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of all events. `kind` is the code in the LUS event CodeSystem."""

    kind: ClassVar[str]
    message_id: str  # MessageHeader.id of the message that carried this event
    case_id: str  # the episode-of-care identifier that ties a case together across parties
    occurred_at: datetime  # event time (timezone-aware), not arrival time
    sender: str  # HSA-id of the sending unit
    # HSA-ids the message names as its destination (MessageHeader.destination): parties of the case
    # from then on (a region's extra receiver, the party a meddelande is addressed to).
    destinations: tuple[str, ...] = ()
    # The id of the copy this adapter received, when another adapter made it: `message_id` is then
    # the origin id its sender gave it (docs/delivery.md, "Message identity across hops").
    received_as: str | None = None


@dataclass(frozen=True, kw_only=True)
class Inskrivningsmeddelande(Event):
    kind: ClassVar[str] = "inskrivningsmeddelande"
    patient: Patient
    admitted_at: datetime
    unit: str  # HSA-id of the admitting unit
    expected_discharge: date | None = None
    care_kind: CareKind = CareKind.SOMATIC
    needs_region_and_municipality: bool = True  # decides whether a kallelse till SIP is required


@dataclass(frozen=True, kw_only=True)
class AndratUtskrivningsdatum(Event):
    kind: ClassVar[str] = "andrat-utskrivningsdatum"
    expected_discharge: date


@dataclass(frozen=True, kw_only=True)
class FastVardkontaktUtsedd(Event):
    kind: ClassVar[str] = "fast-vardkontakt-utsedd"
    contact_hsa_id: str
    unit: str | None = None


@dataclass(frozen=True, kw_only=True)
class Planeringsunderlag(Event):
    kind: ClassVar[str] = "planeringsunderlag"
    plan_id: str
    needs_category: NeedsCategory
    activities: tuple[Activity, ...] = ()
    note: str | None = None
    plan_type: str = "SPU"  # careplan-type: SPU, SIP or DO (dokumenterad överenskommelse)
    status: str = "active"  # CarePlan.status: draft, active, on-hold, revoked, completed
    # fast läkarkontakt, fast vårdkontakt, omsorgskontakt … (role), each with party and HSA-id
    contacts: tuple[Participant, ...] = ()
    next_steps: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Utskrivningsklar(Event):
    kind: ClassVar[str] = "utskrivningsklar"


@dataclass(frozen=True, kw_only=True)
class AtertagUtskrivningsklar(Event):
    kind: ClassVar[str] = "atertag-utskrivningsklar"
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class KallelseTillSip(Event):
    kind: ClassVar[str] = "kallelse-sip"
    proposed_start: datetime | None = None
    participants: tuple[Participant, ...] = ()
    appointment_id: str | None = None  # the SIP-möte proposed; sent as the message id when absent
    mode: MeetingMode = MeetingMode.IN_PERSON
    url: str | None = None  # where to join a video meeting


@dataclass(frozen=True, kw_only=True)
class PlaneringsmoteBokat(Event):
    kind: ClassVar[str] = "planeringsmote-bokat"
    appointment_id: str
    start: datetime
    end: datetime | None = None
    mode: MeetingMode = MeetingMode.IN_PERSON
    site: str | None = None
    participants: tuple[Participant, ...] = ()
    sip: bool = False  # a SIP-möte rather than a planeringsmöte
    url: str | None = None  # where to join a video meeting
    slots: tuple[str, ...] = ()  # Appointment.slot: the tidbok slots it takes (docs/tidbok.md)


@dataclass(frozen=True, kw_only=True)
class PlaneringsmoteOmbokat(Event):
    kind: ClassVar[str] = "planeringsmote-ombokat"
    appointment_id: str
    start: datetime
    end: datetime | None = None
    mode: MeetingMode = MeetingMode.IN_PERSON
    site: str | None = None
    participants: tuple[Participant, ...] = ()
    sip: bool = False
    url: str | None = None
    slots: tuple[str, ...] = ()  # the slots it takes now; those it held before are freed


@dataclass(frozen=True, kw_only=True)
class PlaneringsmoteAvbokat(Event):
    kind: ClassVar[str] = "planeringsmote-avbokat"
    appointment_id: str
    reason: str | None = None
    sip: bool = False


@dataclass(frozen=True, kw_only=True)
class Utskrivningsmeddelande(Event):
    kind: ClassVar[str] = "utskrivningsmeddelande"
    discharged_at: datetime
    disposition: str | None = None  # e.g. "home", "sabo", "other-hospital"


@dataclass(frozen=True, kw_only=True)
class Makulering(Event):
    kind: ClassVar[str] = "makulering"
    cancelled_message_id: str
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class Kvittens(Event):
    kind: ClassVar[str] = "kvittens"
    acknowledged_message_id: str
    code: str = "ok"  # ok | transient-error | fatal-error


@dataclass(frozen=True, kw_only=True)
class Meddelande(Event):
    kind: ClassVar[str] = "meddelande"
    text: str
    thread_id: str | None = None
    in_response_to: str | None = None
    # A deviation reported by hand: its code (CodeSystem avvikelse) and the party it concerns.
    avvikelse: str | None = None
    concerns: str | None = None  # HSA-id


@dataclass(frozen=True, kw_only=True)
class PatientAvliden(Event):
    kind: ClassVar[str] = "patient-avliden"
    died_at: datetime


@dataclass(frozen=True, kw_only=True)
class PermissionStart(Event):
    kind: ClassVar[str] = "permission-start"
    expected_return: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class PermissionSlut(Event):
    kind: ClassVar[str] = "permission-slut"


@dataclass(frozen=True, kw_only=True)
class Stallningstagande(Event):
    """The unit's ställningstagande för utskrivning and summary of the stay, written once and sent
    to the case's other parties for approval (Skåne's joint sign-off, docs/signoff.md). A new one
    replaces it: the approvals start again."""

    kind: ClassVar[str] = "stallningstagande"
    text: str  # the ställningstagande för utskrivning
    summary: str | None = None  # the summary of the stay


@dataclass(frozen=True, kw_only=True)
class Godkannande(Event):
    """A party's answer to a ställningstagande: approved, or a comment (which approves nothing)."""

    kind: ClassVar[str] = "godkannande"
    stallningstagande: str  # the message id of the ställningstagande it answers
    approved: bool = True
    comment: str | None = None


@dataclass(frozen=True, kw_only=True)
class SipUpprattad(Event):
    """A SIP drawn up (careplan-type SIP): each party's activities, the named contacts, next steps."""

    kind: ClassVar[str] = "sip-upprattad"
    plan_id: str
    activities: tuple[Activity, ...] = ()
    contacts: tuple[Participant, ...] = ()
    note: str | None = None
    next_steps: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class SipUppfoljd(SipUpprattad):
    """The SIP followed up: the plan as it stands after the follow-up."""

    kind: ClassVar[str] = "sip-uppfoljd"


@dataclass(frozen=True, kw_only=True)
class SipAvslutad(Event):
    kind: ClassVar[str] = "sip-avslutad"
    plan_id: str
    note: str | None = None  # why it ended


@dataclass(frozen=True, kw_only=True)
class DokumenteradOverenskommelse(Event):
    """The documented agreement in four parts: the agreement (`agreement`), the fast contacts
    (`contacts`), the continued planning (`next_steps`) and the joint plan (`activities`)."""

    kind: ClassVar[str] = "dokumenterad-overenskommelse"
    plan_id: str
    agreement: str
    contacts: tuple[Participant, ...] = ()
    next_steps: tuple[str, ...] = ()
    activities: tuple[Activity, ...] = ()


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        Inskrivningsmeddelande,
        AndratUtskrivningsdatum,
        FastVardkontaktUtsedd,
        Planeringsunderlag,
        Utskrivningsklar,
        AtertagUtskrivningsklar,
        KallelseTillSip,
        PlaneringsmoteBokat,
        PlaneringsmoteOmbokat,
        PlaneringsmoteAvbokat,
        Utskrivningsmeddelande,
        Makulering,
        Kvittens,
        Meddelande,
        PatientAvliden,
        PermissionStart,
        PermissionSlut,
        Stallningstagande,
        Godkannande,
        SipUpprattad,
        SipUppfoljd,
        SipAvslutad,
        DokumenteradOverenskommelse,
    )
}


# --- plain-data form (JSON-ready), used by the store's event log and the translate command ---

_NESTED: dict[str, type] = {
    "patient": Patient,
    "address": Address,
}
_TUPLES: dict[str, type] = {"activities": Activity, "participants": Participant, "contacts": Participant}


def event_to_dict(event: Event) -> dict[str, Any]:
    """The event as plain JSON-ready data, with its kind."""
    return {"kind": event.kind, **_plain(event)}


def field_names(cls: type) -> tuple[str, ...]:
    """The field names of a dataclass (none of any other type), read once per class."""
    return _field_names(cls)


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else ()


def _plain(value: Any) -> Any:
    # Walks the dataclasses itself: dataclasses.asdict deep-copies every value first, which cost
    # more than the rest of storing the event.
    cls = type(value)
    if dataclasses.is_dataclass(cls):
        value = {name: getattr(value, name) for name in field_names(cls)}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None and v != ()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def event_from_dict(data: dict[str, Any]) -> Event:
    """Inverse of `event_to_dict`; raises KeyError/TypeError/ValueError on malformed data."""
    cls = EVENT_TYPES[data["kind"]]
    return _build(cls, {k: v for k, v in data.items() if k != "kind"})


def _build(cls: type[E], data: dict[str, Any]) -> E:
    hints = _field_types(cls)
    kwargs: dict[str, Any] = {}
    for name, raw in data.items():
        kwargs[name] = _coerce(name, hints[name], raw)
    return cls(**kwargs)


def _field_types(cls: type) -> dict[str, str]:
    return {f.name: str(f.type) for f in dataclasses.fields(cls) if f.init}


def _coerce(name: str, type_text: str, raw: Any) -> Any:
    if raw is None:
        return None
    if name in _NESTED:
        return _build(_NESTED[name], raw)
    if name in _TUPLES:
        return tuple(_build(_TUPLES[name], item) for item in raw)
    base = type_text.replace(" | None", "")
    if base == "datetime":
        return datetime.fromisoformat(raw)
    if base == "date":
        return date.fromisoformat(raw)
    if base.startswith("tuple"):
        return tuple(raw)
    enum_type = _ENUMS.get(base)
    if enum_type is not None:
        return enum_type(raw)
    return raw


_ENUMS: dict[str, type[enum.Enum]] = {
    "Party": Party,
    "CareKind": CareKind,
    "NeedsCategory": NeedsCategory,
    "MeetingMode": MeetingMode,
}

__all__ = [
    "EVENT_TYPES",
    "Activity",
    "Address",
    "CareKind",
    "Event",
    "MeetingMode",
    "NeedsCategory",
    "Participant",
    "Party",
    "Patient",
    "event_from_dict",
    "event_to_dict",
    "field_names",
]
