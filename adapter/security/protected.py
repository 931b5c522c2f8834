"""Protected identities (sekretessmarkering, skyddad folkbokföring): the patient's name and
address leave the adapter only to parties configured to need them (`sees_protected_details` in
the routing table). Applied to the event before any rendering, so whatever renders it never has
the details to leak; the municipality code stays (it routes the message, and names no one)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from adapter.process.case import DischargeCase
from adapter.process.events import Event, Patient

E = TypeVar("E", bound=Event)

CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
DATA_ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
_MASKED_NAME = {"extension": [{"url": DATA_ABSENT_REASON, "valueCode": "masked"}]}


def render_for(
    event: Event,
    case: DischargeCase | None,
    sees_details: bool,
    render: Callable[[Event, DischargeCase | None], dict[str, Any]],
) -> dict[str, Any]:
    """The message for one recipient: rendered from the event and the case as that recipient may
    see them; a protected patient is labelled restricted (meta.security R) and a withheld name is
    marked `masked` (data-absent-reason), so the receiver knows why it is missing."""
    bundle = render(for_recipient(event, sees_details), case_for_recipient(case, sees_details))
    patient = case.patient if case is not None else getattr(event, "patient", None)
    if isinstance(patient, Patient) and patient.protected:
        label = {"system": CONFIDENTIALITY, "code": "R", "display": "restricted"}
        for entry in bundle.get("entry", []):
            resource = entry.get("resource", {})
            if resource.get("resourceType") == "Patient":
                security = resource.setdefault("meta", {}).setdefault("security", [])
                if not any(s.get("system") == CONFIDENTIALITY and s.get("code") == "R" for s in security):
                    security.append(label)
                if "name" not in resource:
                    resource["name"] = [_MASKED_NAME]
    return bundle


def for_recipient(event: E, sees_details: bool) -> E:
    """The event as a recipient may see it."""
    patient = getattr(event, "patient", None)
    if sees_details or not isinstance(patient, Patient) or not patient.protected:
        return event
    return replace(event, patient=withheld(patient))  # type: ignore[call-arg]


def case_for_recipient(case: DischargeCase | None, sees_details: bool) -> DischargeCase | None:
    """The case as a recipient may see it (outbound messages render the case's patient)."""
    if case is None or sees_details or not case.patient.protected:
        return case
    return replace(case, patient=withheld(case.patient))


def withheld(patient: Patient) -> Patient:
    """The patient without name or address lines, postal code and city."""
    address = patient.address
    if address is not None:
        address = replace(address, lines=(), postal_code=None, city=None)
    return replace(patient, given=(), family=None, address=address)
