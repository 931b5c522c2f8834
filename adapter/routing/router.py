"""Message Router: which parties receive what a sender said about a case."""

from __future__ import annotations

from adapter.process.case import DischargeCase
from adapter.process.events import Event, Party
from adapter.routing.table import PartyConfig, RoutingTable
from adapter.validation.issues import Issue


class RoutingRejected(Exception):
    def __init__(self, issue: Issue) -> None:
        super().__init__(issue.message)
        self.issue = issue


def choose_recipients(
    event: Event, case: DischargeCase, table: RoutingTable, destinations: list[str]
) -> list[PartyConfig]:
    """The named destinations when the sender gave any, else the case's parties: the kommun of the
    patient's folkbokföringsadress and the patient's vårdcentral. Never the sender itself."""
    if destinations:
        chosen = []
        for i, hsa_id in enumerate(destinations):
            party = table.party(hsa_id)
            if party is None:
                raise RoutingRejected(
                    Issue(
                        "error",
                        "not-found",
                        f"Unknown receiver {hsa_id}: no party with that HSA-id in the routing table.",
                        f"Bundle.entry[0].resource.destination[{i}].receiver",
                        "unknown-receiver",
                    )
                )
            chosen.append(party)
        return [p for p in chosen if p.hsa_id != event.sender]
    recipients: list[PartyConfig] = []
    address = case.patient.address
    kommunkod = address.municipality_code if address else None
    kommun = table.municipality(kommunkod) if kommunkod else None
    if kommun is None:
        raise RoutingRejected(
            Issue(
                "error",
                "not-found",
                f"No municipality with kommunkod {kommunkod} in the routing table: the patient's kommun"
                " cannot be reached.",
                "Patient.address.extension",
                "unknown-municipality",
            )
        )
    recipients.append(kommun)
    if case.patient.vardcentral:
        vardcentral = table.party(case.patient.vardcentral)
        if vardcentral is None or vardcentral.kind is not Party.OPPENVARD:
            raise RoutingRejected(
                Issue(
                    "error",
                    "not-found",
                    f"The patient's vårdcentral {case.patient.vardcentral} is not an öppenvård party in the"
                    " routing table.",
                    "Patient.generalPractitioner",
                    "unknown-receiver",
                )
            )
        recipients.append(vardcentral)
    return [p for p in recipients if p.hsa_id != event.sender]
