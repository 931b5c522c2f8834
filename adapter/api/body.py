"""Reading a FHIR request body: the media type, and the size limit while it streams in."""

from __future__ import annotations

from fastapi import Request

from adapter.fhir.issues import Issue
from adapter.fhir.rejected import Rejected

_ACCEPTED_TYPES = ("application/fhir+json", "application/json")

# For the OpenAPI document of a route that reads its body with read_fhir_body.
FHIR_BODY = {
    "requestBody": {"required": True, "content": {"application/fhir+json": {"schema": {"type": "object"}}}}
}


class BodyRejected(Rejected):
    def __init__(self, status: int, issue: Issue) -> None:
        super().__init__(issue, status=status)


async def read_fhir_body(request: Request, limit: int) -> bytes:
    """The body as bytes, or BodyRejected (415 wrong media type, 413 larger than `limit`)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _ACCEPTED_TYPES:
        raise BodyRejected(
            415,
            Issue(
                "error",
                "not-supported",
                f"Content-Type {content_type or '(none)'} is not accepted; send application/fhir+json.",
            ),
        )
    too_large = BodyRejected(413, Issue("error", "too-costly", f"The body is larger than {limit} bytes."))
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)
