"""What a case view shows of the joint planning (docs/signoff.md): the ställningstagande in force,
who has approved it, who has not, each answer with its comment; the SIP's status and whether a
dokumenterad överenskommelse has been sent. Shared by the JSON read API and the dashboard."""

from __future__ import annotations

from typing import Any

from adapter.process.case import DischargeCase
from adapter.read.case_view import local
from adapter.routing.parties import PartyUnknown
from adapter.routing.signoff import missing_approvals
from adapter.routing.steps import StepTable
from adapter.routing.table import RoutingTable


def planning_json(case: DischargeCase, routing: RoutingTable, steps: StepTable) -> dict[str, Any]:
    signoff = case.signoff
    shown: dict[str, Any] | None = None
    if signoff is not None:
        try:
            waiting: list[str] | None = list(missing_approvals(case, routing, steps))
        except PartyUnknown:  # the patient's kommun is not in the routing table: who must approve is unknown
            waiting = None
        shown = {
            "stallningstagande": signoff.stallningstagande,
            "sent_at": local(signoff.sent_at),
            "approved_by": sorted(signoff.approved_by()),
            "not_approved_by": waiting,
            "answers": [
                {"party": a.party, "approved": a.approved, "comment": a.comment, "at": local(a.at)}
                for a in signoff.answers
            ],
        }
    return {
        "signoff": shown,
        "sip": case.sip.value if case.sip else None,
        "overenskommelse_at": local(case.overenskommelse_at),
    }
