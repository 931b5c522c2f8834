"""FHIR responses."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import Response

from adapter.fhir.issues import Issue, operation_outcome

FHIR_JSON = "application/fhir+json"


def fhir_response(body: bytes | dict[str, Any], status: int = 200) -> Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return Response(content=content, status_code=status, media_type=FHIR_JSON)


def outcome_response(status: int, *issues: Issue) -> Response:
    return fhir_response(operation_outcome(issues), status)
