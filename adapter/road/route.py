"""Route: who receives the event (the step table's receivers, in the routing table's order), and
whether its sender is told that it came after the case closed."""

from __future__ import annotations

from adapter.fhir.issues import Issue
from adapter.road.message import Message, Result
from adapter.routing.router import choose_recipients
from adapter.routing.steps import StepTable
from adapter.routing.table import RoutingTable


class Route:
    def __init__(self, routing: RoutingTable, steps: StepTable, *, send: bool = True) -> None:
        self.routing = routing
        self.steps = steps
        # False: messages change their cases but are sent to no one (`import` of history that
        # the other parties already had from the earlier system).
        self.send = send

    def __call__(self, message: Message) -> Result | None:
        _, event, next_case = message.accepted
        recipients = choose_recipients(event, next_case, self.routing, self.steps, copy=message.copy)
        message.recipients = recipients if self.send else []
        late = message.case.late_for(event) if message.case is not None else None
        # accepted (it is not lost), but its sender is told
        message.late = Issue("warning", "business-rule", late, "Bundle", "case-closed") if late else None
        return None
