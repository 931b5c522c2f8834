"""The parties of a case, and who the step table's roles name in it.

The step table (`lus-steps.yaml`, adapter/routing/steps.py) says who may send each step and who
receives it in roles relative to the case (`unit`, `kommun`, `others` …) or to the earlier message a
makulering, kvittens or reply names (`referenced-sender` …), or as party kinds (SV, OV, K). This
module turns those into HSA-ids for one case and one message. The router (who receives) and the
access rules (who may send, who may read) both ask it, so they cannot disagree.

Everything here is a pure function of the case (its events after the message), the message's event
and the routing table; the earlier message is looked up in the case by the id the event names,
which the pipeline has already resolved to the message's origin id (docs/delivery.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from adapter.fhir.issues import Issue
from adapter.fhir.rejected import Rejected
from adapter.process.case import DischargeCase
from adapter.process.events import (
    Event,
    KallelseTillSip,
    Party,
    PlaneringsmoteBokat,
    PlaneringsmoteOmbokat,
)
from adapter.routing.identity import reference
from adapter.routing.steps import Role, StepRule, StepTable, Who
from adapter.routing.table import RoutingTable


class PartyUnknown(Rejected):
    """A role the step needs names a party the routing table does not have (the patient's kommun
    or vårdcentral): the message cannot be routed. `issue` says which and where."""


@dataclass(frozen=True)
class BrokenRule:
    """Why a party may not send a step: the step and the senders its rule allows."""

    step: str
    sender: str
    allowed: tuple[Who, ...]

    @property
    def message(self) -> str:
        allowed = ", ".join(str(w) for w in self.allowed)
        return f"{self.sender} may not send a {self.step} in this case: the step table allows {allowed}."


def case_parties(case: DischargeCase, table: RoutingTable) -> frozenset[str]:
    """Every party of the case: its unit, the kommun of the patient's folkbokföringsadress, the
    patient's vårdcentral, and every party a message of the case named as destination or
    participant. A party that is none of these is no party of the case."""
    parties = {case.unit, *case.named}
    kommun = _kommun(case, table, strict=False)
    if kommun:
        parties.add(kommun)
    if case.patient.vardcentral:
        parties.add(case.patient.vardcentral)
    return frozenset(parties)


def referenced_id(event: Event) -> str | None:
    """The id of the earlier message this one names: the voided, acknowledged, answered or
    approved one."""
    return reference(event)


def referenced_event(case: DischargeCase, event: Event) -> Event | None:
    """The earlier message of the case this one names, or None (none named, or not in the case)."""
    wanted = referenced_id(event)
    if wanted is None:
        return None
    return next((e for e in case.events if e.message_id == wanted and e is not event), None)


def resolve(
    who: Who, *, case: DischargeCase, event: Event, table: RoutingTable, steps: StepTable
) -> frozenset[str]:
    """The HSA-ids a role or party kind of the step table names, for this message in this case
    (`case` already holds the message). Raises PartyUnknown when the patient's kommun or
    vårdcentral is needed and not in the routing table."""
    if isinstance(who, Party):
        return frozenset(p for p in case_parties(case, table) if _kind(p, table) is who)
    match who:
        case Role.UNIT:
            return frozenset({case.unit})
        case Role.KOMMUN:
            kommun = _kommun(case, table, strict=True)
            return frozenset({kommun}) if kommun else frozenset()
        case Role.VARDCENTRAL:
            return _vardcentral(case, table)
        case Role.NAMED:
            return _named(event, table)
        case Role.PARTIES:
            return case_parties(case, table)
        case Role.OTHERS:
            return case_parties(case, table) - {event.sender}
        case Role.SUMMONED:
            return _summoned(case, table, steps)
        case Role.MEETING:
            return _meeting(case, event, table)
        case Role.REFERENCED_SENDER:
            earlier = referenced_event(case, event)
            return frozenset({earlier.sender}) if earlier else frozenset()
        case Role.REFERENCED_RECEIVERS:
            earlier = referenced_event(case, event)
            if earlier is None:
                return frozenset()
            return receivers(steps.rule(earlier.kind), case=case, event=earlier, table=table, steps=steps)
    raise AssertionError(f"unhandled role {who!r}")


def receivers(
    rule: StepRule, *, case: DischargeCase, event: Event, table: RoutingTable, steps: StepTable
) -> frozenset[str]:
    """Who receives this message by its step's rule: the union of the rule's roles (with `first`,
    the first role that names anyone), never the sender."""
    found: set[str] = set()
    for who in rule.receivers:
        named = resolve(who, case=case, event=event, table=table, steps=steps) - {event.sender}
        if rule.first and named:
            return frozenset(named)
        found |= named
    return frozenset(found)


def may_send(
    rule: StepRule, sender: str, *, case: DischargeCase, event: Event, table: RoutingTable, steps: StepTable
) -> BrokenRule | None:
    """None if `sender` is one of those the step's rule lets send it in this case, else the rule
    it breaks. `case` holds the message (for a new case: the case it opens)."""
    for who in rule.senders:
        try:
            if sender in resolve(who, case=case, event=event, table=table, steps=steps):
                return None
        except PartyUnknown:
            continue
    return BrokenRule(event.kind, sender, rule.senders)


# --- the roles that need the routing table ---


def _kind(hsa_id: str, table: RoutingTable) -> Party | None:
    party = table.party(hsa_id)
    return party.kind if party else None


def _kommun(case: DischargeCase, table: RoutingTable, *, strict: bool) -> str | None:
    address = case.patient.address
    kommunkod = address.municipality_code if address else None
    kommun = table.municipality(kommunkod) if kommunkod else None
    if kommun is None and strict:
        raise PartyUnknown(
            Issue(
                "error",
                "not-found",
                f"No municipality with kommunkod {kommunkod} in the routing table: the patient's kommun"
                " cannot be reached.",
                "Patient.address.extension",
                "unknown-municipality",
            )
        )
    return kommun.hsa_id if kommun else None


def _vardcentral(case: DischargeCase, table: RoutingTable) -> frozenset[str]:
    hsa_id = case.patient.vardcentral
    if not hsa_id:
        return frozenset()
    if _kind(hsa_id, table) is not Party.OPPENVARD:
        raise PartyUnknown(
            Issue(
                "error",
                "not-found",
                f"The patient's vårdcentral {hsa_id} is not an öppenvård party in the routing table.",
                "Patient.generalPractitioner",
                "unknown-receiver",
            )
        )
    return frozenset({hsa_id})


def _named(event: Event, table: RoutingTable) -> frozenset[str]:
    """The destinations the message names (each must be a known party) and the organisations
    among its participants that the routing table knows (a person's HSA-id is no party)."""
    for i, hsa_id in enumerate(event.destinations):
        if table.party(hsa_id) is None:
            raise PartyUnknown(
                Issue(
                    "error",
                    "not-found",
                    f"Unknown receiver {hsa_id}: no party with that HSA-id in the routing table.",
                    f"Bundle.entry[0].resource.destination[{i}].receiver",
                    "unknown-receiver",
                )
            )
    participants: Iterable[str] = (
        p.hsa_id for p in getattr(event, "participants", ()) if p.party and p.hsa_id
    )
    return frozenset(event.destinations) | {h for h in participants if table.party(h) is not None}


def _meeting(case: DischargeCase, event: Event, table: RoutingTable) -> frozenset[str]:
    """The parties of the meeting this message is about: who booked or rebooked it and whom each
    booking named (a cancellation names no one itself)."""
    appointment = getattr(event, "appointment_id", None)
    if appointment is None:
        return frozenset()
    found: set[str] = set()
    for e in case.events:
        if (
            isinstance(e, _BOOKINGS)
            and e.appointment_id == appointment
            and e.message_id not in case.cancelled
        ):
            found |= {e.sender} | _named(e, table)
    return frozenset(found)


_BOOKINGS = (KallelseTillSip, PlaneringsmoteBokat, PlaneringsmoteOmbokat)


def _summoned(case: DischargeCase, table: RoutingTable, steps: StepTable) -> frozenset[str]:
    """The parties of the case's latest kallelse till SIP still in force: its sender and receivers."""
    kallelse = next(
        (
            e
            for e in reversed(case.events)
            if isinstance(e, KallelseTillSip) and e.message_id not in case.cancelled
        ),
        None,
    )
    if kallelse is None:
        return frozenset()
    rule = steps.rule(kallelse.kind)
    return frozenset({kallelse.sender}) | receivers(rule, case=case, event=kallelse, table=table, steps=steps)
