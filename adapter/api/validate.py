"""FHIR `$validate`: POST [base]/fhir/Bundle/$validate and POST [base]/fhir/{type}/$validate.

The body is the resource itself or a Parameters resource (`resource`, optional `profile`); the
profile may also come as the `profile` URL parameter. A message Bundle without a profile is
validated as the adapter validates every message: against the LUS profiles for its event.
As the FHIR specification says, the answer is 200 with an OperationOutcome whether or not the
resource is valid; 4xx means the validation could not be done.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from adapter.api.body import FHIR_BODY, BodyRejected, read_fhir_body
from adapter.api.caller import RuntimeDep, authenticated
from adapter.api.responses import fhir_response, outcome_response
from adapter.fhir.issues import Issue, operation_outcome
from adapter.fhir.rejected import Rejected
from adapter.road.parse import read_json
from adapter.validation.validator import Validator

router = APIRouter(prefix="/fhir", tags=["validation"], dependencies=[Depends(authenticated)])


@router.post(
    "/{resource_type}/$validate",
    summary="Validate a resource against the R4 base, a profile, or the LUS message profiles",
    openapi_extra=FHIR_BODY,
)
async def validate(
    request: Request, runtime: RuntimeDep, resource_type: str, profile: str | None = None
) -> Response:
    try:
        body = await read_fhir_body(request, runtime.settings.max_body_bytes)
    except BodyRejected as rejected:
        return outcome_response(rejected.status, rejected.issue)
    validator: Validator = runtime.validator
    if validator.compiler.resource(resource_type) is None:
        return outcome_response(
            404, Issue("error", "not-supported", f"{resource_type!r} is not a FHIR R4 resource type.")
        )
    try:
        data = read_json(body, runtime.pipeline.limits, resource_type)
    except Rejected as rejected:
        return outcome_response(rejected.status, *rejected.issues)
    resource, profile = _unwrap(data, profile)
    if not isinstance(resource, dict) or resource.get("resourceType") != resource_type:
        found = resource.get("resourceType") if isinstance(resource, dict) else type(resource).__name__
        return outcome_response(
            400,
            Issue(
                "error",
                "structure",
                f"POST to {resource_type}/$validate takes a {resource_type}; found {found!r}.",
            ),
        )
    issues = await run_in_threadpool(validator.validate, resource, profile)
    if any(i.rule == "profile-unknown" for i in issues):
        return outcome_response(400, *issues)  # nothing was validated
    return fhir_response(
        operation_outcome(issues, ok_text=f"Valid against {profile or 'the R4 base and LUS profiles'}.")
    )


def _unwrap(data: Any, profile: str | None) -> tuple[Any, str | None]:
    """The resource and profile from a Parameters body, or the body itself."""
    if not isinstance(data, dict) or data.get("resourceType") != "Parameters":
        return data, profile
    resource = None
    for parameter in data.get("parameter") or []:
        if not isinstance(parameter, dict):
            continue
        if parameter.get("name") == "resource":
            resource = parameter.get("resource")
        elif parameter.get("name") == "profile" and profile is None:
            profile = parameter.get("valueUri") or parameter.get("valueCanonical")
    return resource, profile
