"""The region's waiting rule of the joint sign-off (docs/signoff.md): where
`utskrivningsmeddelande_waits_for_approval` is set, an utskrivningsmeddelande is refused (409) while
a party that must approve the ställningstagande has not. Who must approve is who receives the
ställningstagande by the step table, so a region that adds a receiver adds an approver."""

from __future__ import annotations

from adapter.fhir.issues import Issue
from adapter.fhir.rejected import Rejected
from adapter.process.case import DischargeCase
from adapter.process.events import Event, Stallningstagande, Utskrivningsmeddelande
from adapter.routing.parties import receivers
from adapter.routing.steps import StepTable
from adapter.routing.table import RoutingTable


class AwaitingApproval(Rejected):
    """The utskrivningsmeddelande waits for approvals: refused at once, its sender told who."""

    status = 409


def missing_approvals(case: DischargeCase, table: RoutingTable, steps: StepTable) -> tuple[str, ...]:
    """The parties that must approve the ställningstagande in force and whose last answer is not an
    approval (every such party, when no ställningstagande has been sent)."""
    signoff = case.signoff
    sent = next((e for e in case.events if signoff and e.message_id == signoff.stallningstagande), None)
    about = sent or Stallningstagande(
        message_id="", case_id=case.case_id, occurred_at=case.admitted_at, sender=case.unit, text=""
    )
    required = receivers(steps.rule(Stallningstagande.kind), case=case, event=about, table=table, steps=steps)
    return tuple(sorted(required - (signoff.approved_by() if signoff else frozenset())))


def check_discharge(event: Event, case: DischargeCase, table: RoutingTable, steps: StepTable) -> None:
    """Raises AwaitingApproval for an utskrivningsmeddelande that some party has not approved."""
    if not isinstance(event, Utskrivningsmeddelande):
        return
    missing = missing_approvals(case, table, steps)
    if not missing:
        return
    what = "the ställningstagande" if case.signoff else "a ställningstagande (none has been sent)"
    raise AwaitingApproval(
        Issue(
            "error",
            "conflict",
            f"The region's rules have the utskrivningsmeddelande wait until every party has approved"
            f" {what}; not approved by: {', '.join(missing)}.",
            "Bundle",
            "approval-missing",
        )
    )
