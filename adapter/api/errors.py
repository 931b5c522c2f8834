"""Every error the HTTP API gives is an OperationOutcome."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from adapter.api.responses import outcome_response
from adapter.fhir.issues import Issue
from adapter.logging import get_logger

log = get_logger("adapter.api")

_CODES = {
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    413: "too-costly",
    415: "not-supported",
}


def install(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> Response:
        code = _CODES.get(exc.status_code, "processing")
        reply = outcome_response(exc.status_code, Issue("error", code, str(exc.detail)))
        reply.headers.update(exc.headers or {})
        return reply

    @app.exception_handler(RequestValidationError)
    async def request_error(_request: Request, exc: RequestValidationError) -> Response:
        issues = [
            Issue("error", "invalid", f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}")
            for e in exc.errors()
        ]
        return outcome_response(400, *issues)

    @app.exception_handler(Exception)
    async def server_error(_request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", error_type=type(exc).__name__)
        return outcome_response(
            500, Issue("fatal", "exception", "Internal error; the message was not accepted. Resend it.")
        )
