"""The protected-identity test patient (LUS.md) and an admission notice of theirs."""

from __future__ import annotations

from typing import Any

from tests.support.examples import fresh_copy, load_example

PROTECTED_PNR = "200001252386"  # LUS.md's protected-identity test person
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
PROTECTED_CASE = "SU-2026-000200"


def protected_message(code: str | None = "R") -> dict[str, Any]:
    """An admission notice of the protected test patient: a stay, and a case, of its own."""
    bundle = fresh_copy(load_example("inskrivningsmeddelande.json"))
    bundle["entry"][1]["resource"]["identifier"][0]["value"] = PROTECTED_CASE
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["identifier"][0]["value"] = PROTECTED_PNR
    if code:
        patient["meta"] = {"security": [{"system": CONFIDENTIALITY, "code": code}]}
    return bundle
