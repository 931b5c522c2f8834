"""Who may write into a case, and send which step.

A case's parties are its slutenvård unit, the patient's kommun and vårdcentral, and the parties its
messages named as destination or participant (adapter/routing/parties.py), never whoever has sent
it something. A party outside the case may not write into it; a party of the case may send only the
steps the step table (`lus-steps.yaml`, `senders`) gives its role: a makulering only the sender of
the message it voids, a kvittens only a receiver of the message it acknowledges. Both are judged on
the case as it stood before the message (a message cannot make its own sender a party); a message
that opens a case comes from the unit it names, a slutenvård party. A refusal (403) names the rule.
"""

from __future__ import annotations

from adapter.fhir.issues import Issue
from adapter.fhir.rejected import Rejected
from adapter.process.case import DischargeCase
from adapter.process.events import Event, Party
from adapter.routing.parties import (
    PartyUnknown,
    case_parties,
    may_send,
    referenced_event,
    referenced_id,
    resolve,
)
from adapter.routing.steps import STEPS_FILE, Role, StepTable, Who
from adapter.routing.table import RoutingTable

SENDER = "Bundle.entry[0].resource.sender"

# What the earlier message a step names is to it.
_REFERENCED = {"makulering": "voided", "kvittens": "acknowledged", "meddelande": "answered"}
_KINDS = {Party.SLUTENVARD: "slutenvård", Party.OPPENVARD: "öppenvård", Party.KOMMUN: "kommun"}


class AccessDenied(Rejected):
    """The sender may not send this message into this case: `issue` says which rule."""

    status = 403


class ReferenceUnknown(Rejected):
    """The message names an earlier message the case does not have: `issue` says which."""


def check_opening(event: Event, case: DischargeCase, table: RoutingTable, steps: StepTable) -> None:
    """A message that opens `case` (an inskrivningsmeddelande): its sender is the unit it names,
    a slutenvård party of the routing table."""
    party = table.party(event.sender)
    if party is None or party.kind is not Party.SLUTENVARD:
        raise AccessDenied(
            _forbidden(
                f"A case is opened by its slutenvård unit ({STEPS_FILE}: {event.kind} senders [unit]);"
                f" {event.sender} is not a slutenvård party in the routing table.",
                "step-sender",
            )
        )
    _check_step(event, case, table, steps)


def check_party(event: Event, case: DischargeCase, table: RoutingTable) -> None:
    """A message into an existing `case` (as it stands before the message) comes from a party of
    it: checked before anything else is read of the case."""
    if event.sender not in case_parties(case, table):
        raise AccessDenied(
            _forbidden(
                f"{event.sender} is no party of case {case.case_id}: a case's parties are its slutenvård"
                " unit, the patient's kommun and vårdcentral, and the parties its messages name as"
                " destination or participant. A party outside a case may neither write into it nor read it.",
                "case-party",
            )
        )


def check_step(event: Event, case: DischargeCase, table: RoutingTable, steps: StepTable) -> None:
    """A party of `case` (as it stands before the message) sends a step its role may send; the
    earlier message a makulering or kvittens names must be the case's."""
    wanted = referenced_id(event)
    if wanted is not None and referenced_event(case, event) is None and event.kind != "meddelande":
        raise ReferenceUnknown(
            Issue(
                "error",
                "not-found",
                f"The {event.kind} names message {wanted}, which is not part of case {case.case_id}.",
                "Bundle.entry[0].resource",
                "not-found",
            )
        )
    _check_step(event, case, table, steps)


def _check_step(event: Event, case: DischargeCase, table: RoutingTable, steps: StepTable) -> None:
    rule = steps.rule(event.kind)
    broken = may_send(rule, event.sender, case=case, event=event, table=table, steps=steps)
    if broken is None:
        return
    allowed = " or ".join(_who(w, event) for w in rule.senders)
    listed = ", ".join(str(w) for w in rule.senders)
    raise AccessDenied(
        _forbidden(
            f"{event.kind} may be sent by {allowed} ({STEPS_FILE}: senders [{listed}]);"
            f" {event.sender} is {_position(event, case, table, steps)}.",
            "step-sender",
        )
    )


def _who(who: Who, event: Event) -> str:
    """A role of the step table in words."""
    if isinstance(who, Party):
        return f"a {_KINDS[who]} party of the case"
    earlier = _REFERENCED.get(event.kind, "named")
    return {
        Role.UNIT: "the case's slutenvård unit",
        Role.KOMMUN: "the patient's kommun",
        Role.VARDCENTRAL: "the patient's vårdcentral",
        Role.NAMED: "a party the message names",
        Role.PARTIES: "any party of the case",
        Role.OTHERS: "another party of the case",
        Role.SUMMONED: "a party summoned to the case's SIP",
        Role.MEETING: "a party of the meeting",
        Role.REFERENCED_SENDER: f"the sender of the {earlier} message",
        Role.REFERENCED_RECEIVERS: f"a receiver of the {earlier} message",
    }.get(who, str(who))


def _position(event: Event, case: DischargeCase, table: RoutingTable, steps: StepTable) -> str:
    """What the sender is in the case, in words: the roles it holds there."""
    roles = [Role.UNIT, Role.KOMMUN, Role.VARDCENTRAL]
    if referenced_event(case, event) is not None:
        roles += [Role.REFERENCED_SENDER, Role.REFERENCED_RECEIVERS]
    held = []
    for role in roles:
        try:
            if event.sender in resolve(role, case=case, event=event, table=table, steps=steps):
                held.append(_who(role, event))
        except PartyUnknown:  # a role whose party the routing table lacks holds no one
            continue
    if not held:
        return "a party of the case in none of those roles"
    return " and ".join(held)


def _forbidden(message: str, rule: str) -> Issue:
    return Issue("error", "forbidden", message, SENDER, rule)
