"""The canonical example messages (examples/bundles/canonical) retold for any case and sender:
tests of who may write into a case, and who may send which step, build their messages here."""

from __future__ import annotations

import uuid
from typing import Any

from tests.support.examples import fresh_copy, load_example

HSA_ID = "urn:oid:1.2.752.29.4.19"
PERSONNUMMER = "http://electronichealth.se/identifier/personnummer"


def message(
    name: str,
    case_id: str,
    sender: str | None = None,
    *,
    patient: str | None = None,
    voids: str | None = None,
    acknowledges: str | None = None,
) -> dict[str, Any]:
    """examples/bundles/canonical/<name>.json under new ids, about `case_id`, sent by `sender`
    (else the example's own), about `patient` (a personnummer), voiding or acknowledging a message."""
    bundle = fresh_copy(load_example(f"canonical/{name}.json"))
    entries = bundle["entry"]
    header = entries[0]["resource"]
    for entry in entries:
        resource = entry["resource"]
        if resource["resourceType"] == "Encounter":
            resource["identifier"][0]["value"] = case_id
        if resource["resourceType"] == "Patient" and patient is not None:
            resource["identifier"] = [{"system": PERSONNUMMER, "value": patient}]
        if resource["resourceType"] == "Provenance" and voids is not None:
            resource["entity"][0]["what"]["identifier"]["value"] = voids
    if acknowledges is not None:
        header["response"]["identifier"] = acknowledges
    if sender is not None:
        url = f"urn:uuid:{uuid.uuid4()}"
        organization = {
            "resourceType": "Organization",
            "identifier": [
                {
                    "type": {
                        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "PRN"}]
                    },
                    "system": HSA_ID,
                    "value": sender,
                }
            ],
            "name": f"Test party {sender}",
        }
        entries.append({"fullUrl": url, "resource": organization})
        header["sender"] = {"reference": url}
    return bundle


def message_id(bundle: dict[str, Any]) -> str:
    return str(bundle["entry"][0]["resource"]["id"])
