"""Tidbok resources and planeringsmöte messages that book into them, from the canonical example
case (SU-2026-000123: the vårdcentral books the SIP-möte with the kommun)."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from tests.support.examples import fresh_copy, load_example

HSA = "urn:oid:1.2.752.29.4.19"
PLACE = "https://lus-adapter.org/fhir/CodeSystem/meeting-place"
CASE = "SU-2026-000123"
FIRST_STEPS = [
    f"canonical/{name}"
    for name in (
        "01-inskrivningsmeddelande.json",
        "02-fast-vardkontakt-utsedd.json",
        "03-planeringsunderlag.json",
        "04-utskrivningsklar.json",
        "05-kallelse-sip.json",
    )
]


def schedule(actor: str) -> dict[str, Any]:
    return {
        "resourceType": "Schedule",
        "active": True,
        "actor": [{"identifier": {"system": HSA, "value": actor}, "display": "Planeringsmöten"}],
        "comment": "Tider för planeringsmöten",
    }


def slot(
    schedule_id: str, start: str, end: str, place: str = "video", status: str = "free"
) -> dict[str, Any]:
    return {
        "resourceType": "Slot",
        "schedule": {"reference": f"Schedule/{schedule_id}"},
        "serviceType": [{"coding": [{"system": PLACE, "code": place}]}],
        "status": status,
        "start": start,
        "end": end,
    }


def _appointment(bundle: dict[str, Any]) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Appointment")


def booking(
    appointment_id: str, slot_refs: list[str], start: str = "2026-11-26T10:00:00+01:00"
) -> dict[str, Any]:
    """Planeringsmöte bokat by the vårdcentral's system (the kommun invited), into the slots."""
    bundle = fresh_copy(load_example("canonical/06-planeringsmote-bokat.json"))
    appointment = _appointment(bundle)
    appointment["identifier"] = [{"value": appointment_id}]
    appointment["slot"] = [
        {"type": "Slot", "identifier": {"system": "urn:ietf:rfc:3986", "value": ref}} for ref in slot_refs
    ]
    appointment["start"] = start
    appointment.pop("end", None)
    return bundle


def rebooking(
    appointment_id: str, slot_refs: list[str], start: str = "2026-11-26T13:00:00+01:00"
) -> dict[str, Any]:
    """Planeringsmöte ombokat by the vårdcentral's system, into other slots (the kommun invited)."""
    bundle = fresh_copy(load_example("canonical/07-planeringsmote-ombokat.json"))
    appointment = _appointment(bundle)
    booked = _appointment(load_example("canonical/06-planeringsmote-bokat.json"))
    appointment["participant"] = copy.deepcopy(booked["participant"])
    appointment["identifier"] = [{"value": appointment_id}]
    appointment["slot"] = [
        {"type": "Slot", "identifier": {"system": "urn:ietf:rfc:3986", "value": ref}} for ref in slot_refs
    ]
    appointment["start"] = start
    appointment.pop("end", None)
    return bundle


def cancellation(appointment_id: str) -> dict[str, Any]:
    """Planeringsmöte avbokat by the vårdcentral's system (the kommun invited)."""
    bundle = rebooking(appointment_id, [])
    header = bundle["entry"][0]["resource"]
    header["eventCoding"] = {
        **header["eventCoding"],
        "code": "planeringsmote-avbokat",
        "display": "Planeringsmöte avbokat",
    }
    appointment = _appointment(bundle)
    for name in ("extension", "start", "end", "slot"):
        appointment.pop(name, None)
    appointment["status"] = "cancelled"
    appointment["cancelationReason"] = {"text": "Ny tid behövs"}
    return bundle


def makulering(message: dict[str, Any]) -> dict[str, Any]:
    """Makulering by the vårdcentral's system of one of its planeringsmöte messages."""
    bundle = fresh_copy(load_example("canonical/12-makulering.json"))
    vardcentral = next(
        e["fullUrl"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Organization"
        and e["resource"]["identifier"][0]["value"].endswith("-VC01")
    )
    bundle["entry"][0]["resource"]["sender"] = {"reference": vardcentral}
    provenance = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Provenance")
    provenance["agent"] = [{"who": {"reference": vardcentral}}]
    provenance["entity"][0]["what"]["identifier"]["value"] = message["entry"][0]["resource"]["id"]
    return bundle


def new_id() -> str:
    return f"PM-{uuid.uuid4().hex[:12]}"
