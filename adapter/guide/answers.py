"""What the adapter answers a message: `ok` for the example, and the OperationOutcomes a vendor
meets most, made by running the adapter's validator on small mutations of the example."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from adapter.fhir.issues import Issue, operation_outcome
from adapter.guide.profile_table import profile_table
from adapter.mapping.response import response_message
from adapter.validation.validator import Validator

Bundle = dict[str, Any]


@dataclass(frozen=True)
class Answer:
    title: str  # Swedish: what the vendor did wrong
    change: str  # what was changed in the example, as a FHIRPath expression and a sentence
    issues: list[Issue]
    message: Bundle  # the example as changed: what a vendor would have sent

    @property
    def outcome(self) -> dict[str, Any]:
        return operation_outcome(self.issues)


def ok_answer(bundle: Bundle, source_endpoint: str) -> dict[str, Any]:
    """The response message the adapter sends back for a valid message (ids are random per answer)."""
    header = bundle["entry"][0]["resource"]
    return response_message(
        header, code="ok", source_endpoint=source_endpoint, now=datetime.fromisoformat(bundle["timestamp"])
    )


def rejections(validator: Validator, bundle: Bundle, focus_profile: str | None) -> list[Answer]:
    """Each mutation that applies to this example, with the issues the validator gives it."""
    found = []
    for mutate in (
        _missing_required(validator, focus_profile),
        _personnummer(validator),
        _sender_hsa_id(validator),
        _focus_dangles,
        _unknown_event,
    ):
        changed = copy.deepcopy(bundle)
        made = mutate(changed)
        if made is not None:
            title, change = made
            found.append(Answer(title, change, validator.validate_message(changed), changed))
    return found


Mutation = Callable[[Bundle], tuple[str, str] | None]


def _entries(bundle: Bundle, rtype: str) -> list[tuple[int, dict[str, Any]]]:
    return [
        (i, e["resource"])
        for i, e in enumerate(bundle.get("entry") or [])
        if (e.get("resource") or {}).get("resourceType") == rtype
    ]


def _focus(bundle: Bundle) -> tuple[int, dict[str, Any]] | None:
    ref = ((bundle["entry"][0]["resource"].get("focus") or [{}])[0]).get("reference")
    for i, entry in enumerate(bundle["entry"]):
        if entry.get("fullUrl") == ref:
            return i, entry["resource"]
    return None


def _missing_required(validator: Validator, focus_profile: str | None) -> Mutation:
    """The first element the focus profile itself requires, removed."""

    def mutate(bundle: Bundle) -> tuple[str, str] | None:
        found = _focus(bundle)
        if found is None or focus_profile is None:
            return None
        i, resource = found
        rows = profile_table(validator, focus_profile).rows
        for row in sorted(rows, key=lambda r: not r.own):
            name = row.path.partition(".")[2]
            if row.depth == 1 and row.cardinality.startswith("1") and ":" not in name and name in resource:
                del resource[name]
                return (
                    f"Ett obligatoriskt element saknas ({row.path})",
                    f"Bundle.entry[{i}].resource.{name} removed",
                )
        return None

    return mutate


def _personnummer(validator: Validator) -> Mutation:
    """The patient's personnummer with a wrong check digit (the last digit changed)."""
    systems = validator.terminology.systems("personnummer")

    def mutate(bundle: Bundle) -> tuple[str, str] | None:
        for i, patient in _entries(bundle, "Patient"):
            for j, ident in enumerate(patient.get("identifier") or []):
                value = ident.get("value")
                if ident.get("system") in systems and isinstance(value, str) and value[-1:].isdigit():
                    ident["value"] = value[:-1] + str((int(value[-1]) + 1) % 10)
                    return (
                        "Personnummer med fel kontrollsiffra",
                        f"Bundle.entry[{i}].resource.identifier[{j}].value: the last digit changed",
                    )
        return None

    return mutate


def _sender_hsa_id(validator: Validator) -> Mutation:
    """The sender's HSA-id not of the HSA-id form."""
    systems = validator.terminology.systems("hsa-id")

    def mutate(bundle: Bundle) -> tuple[str, str] | None:
        ref = (bundle["entry"][0]["resource"].get("sender") or {}).get("reference")
        for i, entry in enumerate(bundle["entry"]):
            if entry.get("fullUrl") != ref:
                continue
            for j, ident in enumerate(entry["resource"].get("identifier") or []):
                if ident.get("system") in systems:
                    ident["value"] = "SE 2321000156-SV41"
                    return (
                        "Avsändarens HSA-id har fel form",
                        f"Bundle.entry[{i}].resource.identifier[{j}].value = 'SE 2321000156-SV41'",
                    )
        return None

    return mutate


def _focus_dangles(bundle: Bundle) -> tuple[str, str] | None:
    """MessageHeader.focus names a resource that is not in the Bundle."""
    header = bundle["entry"][0]["resource"]
    if not header.get("focus"):
        return None
    header["focus"][0]["reference"] = "urn:uuid:00000000-0000-4000-8000-000000000000"
    return (
        "MessageHeader.focus pekar på en resurs som inte finns i meddelandet",
        "Bundle.entry[0].resource.focus[0].reference = 'urn:uuid:00000000-0000-4000-8000-000000000000'",
    )


def _unknown_event(bundle: Bundle) -> tuple[str, str] | None:
    """An event code no MessageHeader profile fixes."""
    coding = bundle["entry"][0]["resource"].get("eventCoding")
    if not isinstance(coding, dict):
        return None
    coding["code"] = "utskrivningsklar-ny"
    return "Okänd händelsekod", "Bundle.entry[0].resource.eventCoding.code = 'utskrivningsklar-ny'"
