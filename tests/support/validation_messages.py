"""A valid message for every LUS event, built from the example inskrivningsmeddelande: what the
tests prove the message profiles accept, and what the benchmark times."""

from __future__ import annotations

import copy
import uuid
from functools import cache
from typing import Any

from adapter.config import PROJECT_ROOT
from adapter.validation.validator import Validator
from tests.support.examples import load_example
from tests.support.parties import KOMMUN

LUS = "https://lus-adapter.org/fhir"
HSA = "urn:oid:1.2.752.29.4.19"
PRN = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "PRN"}]}
EVENTS = [
    "inskrivningsmeddelande",
    "andrat-utskrivningsdatum",
    "fast-vardkontakt-utsedd",
    "planeringsunderlag",
    "utskrivningsklar",
    "atertag-utskrivningsklar",
    "kallelse-sip",
    "planeringsmote-bokat",
    "planeringsmote-ombokat",
    "planeringsmote-avbokat",
    "utskrivningsmeddelande",
    "makulering",
    "kvittens",
    "meddelande",
    "patient-avliden",
    "permission-start",
    "permission-slut",
    "stallningstagande",
    "godkannande",
    "sip-upprattad",
    "sip-uppfoljd",
    "sip-avslutad",
    "dokumenterad-overenskommelse",
]
# The careplan-type each plan step's CarePlan carries.
PLAN_TYPE = {
    "sip-upprattad": "SIP",
    "sip-uppfoljd": "SIP",
    "sip-avslutad": "SIP",
    "dokumenterad-overenskommelse": "DO",
}


@cache
def lus_validator() -> Validator:
    return Validator.from_path(PROJECT_ROOT / "profiles")


def entry(bundle: dict[str, Any], rtype: str) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype)


def url_of(bundle: dict[str, Any], rtype: str) -> str:
    return str(next(e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype))


def add(bundle: dict[str, Any], resource: dict[str, Any]) -> str:
    full_url = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, str(len(bundle['entry'])))}"
    bundle["entry"].append({"fullUrl": full_url, "resource": resource})
    return full_url


def hsa(value: str) -> list[dict[str, Any]]:
    return [{"type": copy.deepcopy(PRN), "system": HSA, "value": value}]


def practitioner_role(bundle: dict[str, Any], n: int) -> str:
    """A PractitionerRole at the vårdcentral, with its Practitioner: two entries."""
    person = add(bundle, {"resourceType": "Practitioner", "identifier": hsa(f"TSTNMT2321000156-P{n:03d}")})
    return add(
        bundle,
        {
            "resourceType": "PractitionerRole",
            "identifier": hsa(f"TSTNMT2321000156-R{n:03d}"),
            "practitioner": {"reference": person},
            "organization": {"reference": url_of(bundle, "Organization")},
            "code": [{"text": "Distriktssköterska"}],
        },
    )


def message(event: str, *, performers: int = 1) -> dict[str, Any]:
    """A valid LUS message for `event` (a copy: change it freely)."""
    bundle = copy.deepcopy(load_example("inskrivningsmeddelande.json"))
    bundle["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"bundle/{event}"))
    header = bundle["entry"][0]["resource"]
    header["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"header/{event}"))
    header["eventCoding"] = {"system": f"{LUS}/CodeSystem/lus-event", "code": event}
    encounter, patient = entry(bundle, "Encounter"), entry(bundle, "Patient")
    case = {"reference": url_of(bundle, "Encounter")}
    subject = {"reference": url_of(bundle, "Patient")}
    sender = {"reference": url_of(bundle, "Organization")}
    focus: str | None = None
    if event == "fast-vardkontakt-utsedd":
        role = practitioner_role(bundle, 1)
        encounter["participant"] = [
            {
                "type": [{"coding": [{"system": "urn:oid:1.2.752.129.5.1.69", "code": "1"}]}],
                "individual": {"reference": role},
            }
        ]
    elif event == "planeringsunderlag":
        roles = [practitioner_role(bundle, n) for n in range(performers)]
        focus = add(bundle, care_plan(subject, case, roles))
    elif event in (
        "kallelse-sip",
        "planeringsmote-bokat",
        "planeringsmote-ombokat",
        "planeringsmote-avbokat",
    ):
        focus = add(bundle, appointment(event, case, {"reference": practitioner_role(bundle, 1)}))
    elif event == "utskrivningsmeddelande":
        encounter["status"] = "finished"
        encounter["period"]["end"] = "2026-11-27T14:00:00+01:00"
    elif event == "makulering":
        focus = add(
            bundle,
            {
                "resourceType": "Provenance",
                "target": [case],
                "recorded": "2026-11-23T10:00:00+01:00",
                "agent": [{"who": sender}],
                "entity": [
                    {
                        "role": "removal",
                        "what": {"identifier": {"value": "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a"}},
                    }
                ],
            },
        )
    elif event == "kvittens":
        header["response"] = {"identifier": "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a", "code": "ok"}
    elif event == "meddelande":
        focus = add(
            bundle,
            {
                "resourceType": "Communication",
                "status": "completed",
                "subject": subject,
                "encounter": case,
                "sent": "2026-11-23T10:00:00+01:00",
                "sender": sender,
                "payload": [{"contentString": "Patienten har hemtjänst sedan tidigare."}],
            },
        )
    elif event in PLAN_TYPE:
        plan = care_plan(subject, case, [practitioner_role(bundle, 1)])
        plan["category"][0]["coding"][0]["code"] = PLAN_TYPE[event]
        plan["identifier"] = [{"value": "SIP-2026-000042"}]
        del plan["extension"]  # the needs category is the planeringsunderlag's
        if event == "sip-avslutad":
            plan["status"] = "completed"
            plan["description"] = "Målen är uppnådda."
            del plan["activity"]
        if event == "dokumenterad-overenskommelse":
            plan["description"] = "Hemtjänst morgon och kväll; vårdcentralen följer upp såret."
            plan["note"] = [{"text": "Uppföljning hos vårdcentralen inom två veckor."}]
            team = add(bundle, care_team(subject, case))
            plan["careTeam"] = [{"reference": team}]
        focus = add(bundle, plan)
    elif event == "stallningstagande":
        focus = add(
            bundle,
            {
                "resourceType": "ClinicalImpression",
                "identifier": [{"value": header["id"]}],
                "status": "completed",
                "subject": subject,
                "encounter": case,
                "date": "2026-11-25T10:00:00+01:00",
                "summary": "Utskrivningsklar när hemtjänsten är på plats.",
                "description": "Inlagd för höftfraktur, opererad dag 1, mobiliseras med rollator.",
            },
        )
    elif event == "godkannande":
        focus = add(
            bundle,
            {
                "resourceType": "Task",
                "status": "completed",
                "intent": "order",
                "businessStatus": {
                    "coding": [{"system": f"{LUS}/CodeSystem/signoff-answer", "code": "commented"}]
                },
                "focus": {"identifier": {"value": "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a"}},
                "for": subject,
                "encounter": case,
                "authoredOn": "2026-11-25T11:00:00+01:00",
                "owner": sender,
                "note": [{"text": "Hemtjänsten kan börja först på måndag."}],
            },
        )
    elif event == "patient-avliden":
        patient["deceasedDateTime"] = "2026-11-25T03:10:00+01:00"
    elif event == "permission-start":
        encounter["status"] = "onleave"
    if focus:
        header["focus"] = [{"reference": focus}]
    return bundle


def care_plan(subject: dict[str, str], case: dict[str, str], performers: list[str]) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "extension": [
            {
                "url": f"{LUS}/StructureDefinition/needs-category",
                "valueCoding": {"system": f"{LUS}/CodeSystem/needs-category", "code": "new-social"},
            }
        ],
        "identifier": [{"value": "SPU-2026-000123"}],
        "status": "active",
        "intent": "plan",
        "category": [{"coding": [{"system": f"{LUS}/CodeSystem/careplan-type", "code": "SPU"}]}],
        "subject": subject,
        "encounter": case,
        "activity": [
            {
                "detail": {
                    "extension": [{"url": f"{LUS}/StructureDefinition/party", "valueCode": "K"}],
                    "status": "scheduled",
                    "description": "Hemtjänst morgon och kväll",
                    "performer": [{"reference": role}],
                }
            }
            for role in performers
        ],
    }


def care_team(subject: dict[str, str], case: dict[str, str]) -> dict[str, Any]:
    return {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": subject,
        "encounter": case,
        "participant": [
            {
                "extension": [{"url": f"{LUS}/StructureDefinition/party", "valueCode": "OV"}],
                "role": [{"text": "fast vårdkontakt"}],
                "member": {"identifier": {"system": HSA, "value": "TSTNMT2321000156-P001"}},
            }
        ],
    }


def appointment(event: str, case: dict[str, str], caller: dict[str, str]) -> dict[str, Any]:
    status = {"kallelse-sip": "proposed", "planeringsmote-avbokat": "cancelled"}.get(event, "booked")
    kind = "sip-mote" if event == "kallelse-sip" else "planeringsmote"
    return {
        "resourceType": "Appointment",
        "extension": [
            {
                "url": f"{LUS}/StructureDefinition/meeting-mode",
                "valueCoding": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode",
                    "code": "VIDEOCONF",
                },
            },
            {
                "url": f"{LUS}/StructureDefinition/meeting-url",
                "valueUrl": "https://video.example.invalid/mote/123",
            },
        ],
        "identifier": [{"value": f"MOTE-{event}"}],
        "status": status,
        "appointmentType": {"coding": [{"system": f"{LUS}/CodeSystem/meeting-type", "code": kind}]},
        "start": "2026-11-26T10:00:00+01:00",
        "end": "2026-11-26T10:45:00+01:00",
        "supportingInformation": [case],
        "participant": [
            {"actor": caller, "status": "accepted"},
            {"actor": {"identifier": {"system": HSA, "value": KOMMUN}}, "status": "needs-action"},
        ],
    }
