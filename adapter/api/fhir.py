"""The FHIR endpoints: $process-message and the CapabilityStatement."""

from __future__ import annotations

from functools import partial
from typing import Any

import anyio
import anyio.lowlevel
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from adapter import __version__
from adapter.api import tidbok
from adapter.api.body import FHIR_BODY, BodyRejected, read_fhir_body
from adapter.api.caller import RuntimeDep, authenticated
from adapter.api.responses import fhir_response, outcome_response
from adapter.read.search_params import capability_resources
from adapter.runtime import Runtime
from adapter.security.identity import Caller

router = APIRouter(prefix="/fhir", tags=["fhir"])

# The inbox keeps every message id for good (docs/delivery.md); unsignedInt has no "forever", so
# the reliable-messaging cache is advertised as its largest value, in minutes.
RELIABLE_CACHE_MINUTES = 2_147_483_647


@router.post(
    "/$process-message",
    summary="Accept a LUS message Bundle",
    openapi_extra=FHIR_BODY,
)
async def process_message(
    request: Request, runtime: RuntimeDep, caller: Caller = Depends(authenticated)
) -> Response:
    try:
        body = await read_fhir_body(request, runtime.settings.max_body_bytes)
    except BodyRejected as rejected:
        return outcome_response(rejected.status, rejected.issue)
    work = partial(runtime.pipeline.process_message, body, caller=caller.party)
    turns = _pipeline_turns(request, runtime)
    if isinstance(turns, anyio.CapacityLimiter):
        result = await anyio.to_thread.run_sync(work, limiter=turns)
    else:
        async with turns:
            result = work()
            # One message per turn of the loop: whatever else is ready (a health check, a read)
            # runs before the next message, instead of after all of those already waiting.
            await anyio.lowlevel.checkpoint()
    return fhir_response(result.body, result.status)


def _pipeline_turns(request: Request, runtime: Runtime) -> anyio.CapacityLimiter | anyio.Lock:
    """The turns at the pipeline (settings.pipeline_threads), handed out first come, first served:
    at its threads, or at the event loop where messages are processed there."""
    state = request.app.state
    if not hasattr(state, "pipeline_turns"):  # made here, on the event loop: anyio needs one
        threads = runtime.settings.pipeline_threads_for(runtime.store.is_sqlite)
        state.pipeline_turns = anyio.CapacityLimiter(threads) if threads else anyio.Lock(fast_acquire=True)
    turns: anyio.CapacityLimiter | anyio.Lock = state.pipeline_turns
    return turns


@router.post(
    "",
    summary="Accept a transaction Bundle in the caller's dialect (mappings/README.md, Dialects)",
    openapi_extra=FHIR_BODY,
)
async def transaction(
    request: Request, runtime: RuntimeDep, caller: Caller = Depends(authenticated)
) -> Response:
    return await process_message(request, runtime, caller)


@router.get("/metadata", summary="CapabilityStatement")
def metadata(runtime: RuntimeDep) -> Response:
    return fhir_response(capability_statement(runtime.routing.self_.base_url))


def capability_statement(base_url: str) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-23",
        "kind": "instance",
        "software": {"name": "lus-adapter", "version": __version__},
        "implementation": {"description": "LUS adapter (lag 2017:612 discharge planning)", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "resource": capability_resources() + tidbok.capability(),
                "interaction": [{"code": "transaction"}],
                "operation": [
                    {
                        "name": "process-message",
                        "definition": "http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message",
                    },
                    {
                        "name": "validate",
                        "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate",
                        "documentation": "POST [base]/{type}/$validate for every R4 resource type"
                        " (adapter/api/validate.py).",
                    },
                ],
            }
        ],
        "messaging": [
            {
                "endpoint": [
                    {
                        "protocol": {
                            "system": "http://terminology.hl7.org/CodeSystem/message-transport",
                            "code": "http",
                        },
                        "address": f"{base_url}/$process-message",
                    }
                ],
                "reliableCache": RELIABLE_CACHE_MINUTES,
                "documentation": "Reliable messaging: every message id is remembered without expiry"
                " (reliableCache is the largest unsignedInt); a resend gets the original response.",
            }
        ],
    }
