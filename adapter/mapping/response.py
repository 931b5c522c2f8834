"""Response messages: what the adapter answers a sender (MessageHeader.response)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from adapter.fhir.ids import random_uuid

ResponseCode = Literal["ok", "transient-error", "fatal-error"]


def response_message(
    request_header: dict[str, Any],
    *,
    code: ResponseCode,
    source_endpoint: str,
    now: datetime | None = None,
    outcome: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A message Bundle whose MessageHeader answers `request_header`."""
    header_id = random_uuid()
    header: dict[str, Any] = {
        "resourceType": "MessageHeader",
        "id": header_id,
        "eventCoding": request_header.get("eventCoding"),
        "source": {"endpoint": source_endpoint},
        "response": {"identifier": request_header["id"], "code": code},
    }
    request_source = (request_header.get("source") or {}).get("endpoint")
    if request_source:
        header["destination"] = [{"endpoint": request_source}]
    entries: list[dict[str, Any]] = [{"fullUrl": f"urn:uuid:{header_id}", "resource": header}]
    if outcome is not None:
        outcome_id = random_uuid()
        header["response"]["details"] = {"reference": f"urn:uuid:{outcome_id}"}
        entries.append({"fullUrl": f"urn:uuid:{outcome_id}", "resource": {**outcome, "id": outcome_id}})
    return {
        "resourceType": "Bundle",
        "id": random_uuid(),
        "type": "message",
        "timestamp": (now or datetime.now(UTC)).isoformat(),
        "entry": entries,
    }


def response_code(bundle: Any) -> str | None:
    """The MessageHeader.response.code of a response message, or None if it is not one. A
    transaction-response (what a transaction or communication dialect recipient answers) is ok
    when every entry succeeded."""
    if isinstance(bundle, dict) and bundle.get("type") == "transaction-response":
        statuses = [
            str(((e or {}).get("response") or {}).get("status", "")) for e in bundle.get("entry") or []
        ]
        return "ok" if statuses and all(s.startswith("2") for s in statuses) else "fatal-error"
    if not isinstance(bundle, dict) or bundle.get("type") != "message":
        return None
    entries = bundle.get("entry") or []
    first = entries[0].get("resource") if entries and isinstance(entries[0], dict) else None
    if not isinstance(first, dict) or first.get("resourceType") != "MessageHeader":
        return None
    code = (first.get("response") or {}).get("code")
    return code if isinstance(code, str) else None
