"""Message Router: which parties receive what a sender said about a case.

A message from a party's own system is routed by the step table (`lus-steps.yaml`): its step's
receivers, resolved for the case (adapter/routing/parties.py). A copy that another adapter made
(it carries the origin message id, docs/delivery.md) was routed there already: this adapter hands
it only to its own party, which the copy's header must name as destination (it is never sent on).
So every party gets one copy, from the adapter beside the sender.
"""

from __future__ import annotations

from adapter.fhir.issues import Issue
from adapter.process.case import DischargeCase
from adapter.process.events import Event
from adapter.routing.parties import PartyUnknown, receivers
from adapter.routing.steps import StepTable
from adapter.routing.table import PartyConfig, RoutingTable


def choose_recipients(
    event: Event, case: DischargeCase, routing: RoutingTable, steps: StepTable, *, copy: bool = False
) -> list[PartyConfig]:
    """The recipients of `event` (`case` holds it), in the routing table's order, never the sender.
    Raises PartyUnknown when a receiver the step needs is not in the routing table."""
    if copy:  # routed by the adapter that made it: here only to this adapter's own party
        own = routing.self_.hsa_id
        if own not in event.destinations:
            raise PartyUnknown(
                Issue(
                    "error",
                    "not-found",
                    f"This copy is addressed to {', '.join(event.destinations) or 'no one'}, not to {own},"
                    " the party this adapter stands beside; a copy is not sent on.",
                    "Bundle.entry[0].resource.destination",
                    "not-addressed-here",
                )
            )
        chosen = frozenset({own})
    else:
        chosen = receivers(steps.rule(event.kind), case=case, event=event, table=routing, steps=steps)
        missing = sorted(h for h in chosen if routing.party(h) is None)
        if missing:
            raise PartyUnknown(_unknown(missing[0], "Bundle"))
    return [p for p in routing.parties if p.hsa_id in chosen and p.hsa_id != event.sender]


def _unknown(hsa_id: str, where: str) -> Issue:
    return Issue(
        "error",
        "not-found",
        f"Unknown receiver {hsa_id}: no party with that HSA-id in the routing table.",
        where,
        "unknown-receiver",
    )
