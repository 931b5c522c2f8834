"""Process event → outbound FHIR message Bundle for one recipient."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from adapter.process.events import Event, Inskrivningsmeddelande, Patient
from adapter.validation.terminology import Terminology

# Stable ids: the same event sent to the same recipient always has the same MessageHeader.id,
# so a replay or a resend is deduplicated by the receiver.
_NS = uuid.UUID("5f1c4f0e-8c4e-4f55-9b7a-6c1e2a0d4b11")


def outbound_message_id(source_message_id: str, recipient: str) -> str:
    return str(uuid.uuid5(_NS, f"{source_message_id}|{recipient}"))


def _urn(*parts: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NS, '|'.join(parts))}"


@dataclass(frozen=True)
class Addressing:
    """Who sends and who receives one outbound message."""

    recipient_hsa_id: str
    recipient_endpoint: str
    source_endpoint: str
    source_name: str


class Renderer:
    def __init__(self, terms: Terminology, extensions: dict[str, str], constants: dict[str, str]) -> None:
        self.terms = terms
        self.ext = extensions  # extension id → URL
        self.constants = constants
        self.hsa = terms.system("hsa-id")
        self.event_system = terms.code_system_url("lus-event")
        self.event_display = terms.codes("lus-event")

    def render(self, event: Event, to: Addressing) -> dict[str, Any]:
        if isinstance(event, Inskrivningsmeddelande):
            return self._inskrivningsmeddelande(event, to)
        raise NotImplementedError(f"no outbound rendering for {event.kind} yet")

    def _header(self, event: Event, to: Addressing, focus: str, sender: str) -> dict[str, Any]:
        return {
            "fullUrl": _urn("header", event.message_id, to.recipient_hsa_id),
            "resource": {
                "resourceType": "MessageHeader",
                "id": outbound_message_id(event.message_id, to.recipient_hsa_id),
                "eventCoding": {
                    "system": self.event_system,
                    "code": event.kind,
                    "display": self.event_display.get(event.kind, event.kind),
                },
                "destination": [
                    {
                        "endpoint": to.recipient_endpoint,
                        "receiver": {"identifier": {"system": self.hsa, "value": to.recipient_hsa_id}},
                    }
                ],
                "sender": {"reference": sender},
                "source": {"name": to.source_name, "endpoint": to.source_endpoint},
                "focus": [{"reference": focus}],
            },
        }

    def _organization(self, hsa_id: str) -> dict[str, Any]:
        return {
            "fullUrl": _urn("organization", hsa_id),
            "resource": {
                "resourceType": "Organization",
                "identifier": [
                    {
                        "type": {
                            "coding": [
                                {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "PRN"}
                            ]
                        },
                        "system": self.hsa,
                        "value": hsa_id,
                    }
                ],
            },
        }

    def _patient(self, patient: Patient, case_id: str) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": "Patient",
            "identifier": [{"system": patient.identifier_system, "value": patient.identifier}],
        }
        if patient.family or patient.given:
            name: dict[str, Any] = {"use": "official"}
            if patient.family:
                name["family"] = patient.family
            if patient.given:
                name["given"] = list(patient.given)
            resource["name"] = [name]
        if patient.address is not None:
            addr = patient.address
            address: dict[str, Any] = {
                "extension": [
                    {
                        "url": self.ext["SEBaseAddressPersonExtension"],
                        "valueCodeableConcept": {
                            "coding": [
                                {
                                    "system": self.terms.system("snomed-ct"),
                                    "code": self.constants["folkbokforingsadress"],
                                    "display": "folkbokföringsadress",
                                }
                            ]
                        },
                    }
                ]
            }
            if addr.municipality_code:
                address["extension"].append(
                    {
                        "url": self.ext["municipality"],
                        "valueCoding": {
                            "system": self.terms.system("kv-kommun"),
                            "code": addr.municipality_code,
                        },
                    }
                )
            if addr.lines:
                address["line"] = list(addr.lines)
            if addr.postal_code:
                address["postalCode"] = addr.postal_code
            if addr.city:
                address["city"] = addr.city
            resource["address"] = [address]
        if patient.vardcentral:
            resource["generalPractitioner"] = [{"reference": _urn("organization", patient.vardcentral)}]
        return {"fullUrl": _urn("patient", case_id), "resource": resource}

    def _inskrivningsmeddelande(self, event: Inskrivningsmeddelande, to: Addressing) -> dict[str, Any]:
        encounter_url = _urn("encounter", event.case_id)
        patient = self._patient(event.patient, event.case_id)
        extensions: list[dict[str, Any]] = [
            {"url": self.ext["care-kind"], "valueCode": event.care_kind.value},
            {
                "url": self.ext["needs-region-and-municipality"],
                "valueBoolean": event.needs_region_and_municipality,
            },
        ]
        if event.expected_discharge:
            extensions.insert(
                0,
                {
                    "url": self.ext["expected-discharge-date"],
                    "valueDate": event.expected_discharge.isoformat(),
                },
            )
        encounter = {
            "fullUrl": encounter_url,
            "resource": {
                "resourceType": "Encounter",
                "extension": extensions,
                "identifier": [{"use": "official", "value": event.case_id}],
                "status": "in-progress",
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "IMP",
                    "display": "inpatient encounter",
                },
                "subject": {"reference": patient["fullUrl"]},
                "period": {"start": event.admitted_at.isoformat()},
                "serviceProvider": {"reference": _urn("organization", event.unit)},
            },
        }
        orgs = {event.sender, event.unit}
        if event.patient.vardcentral:
            orgs.add(event.patient.vardcentral)
        entries = [
            self._header(event, to, encounter_url, _urn("organization", event.sender)),
            encounter,
            patient,
            *(self._organization(hsa_id) for hsa_id in sorted(orgs)),
        ]
        return {
            "resourceType": "Bundle",
            "id": str(uuid.uuid4()),
            "type": "message",
            "timestamp": event.occurred_at.isoformat(),
            "entry": entries,
        }
