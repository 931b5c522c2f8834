"""The first check of every request: its path and query hold no control characters.

A path or query parameter is an identifier the store looks up (a case id, a message id, a search
value); PostgreSQL text cannot hold NUL and no identifier of the process holds any control
character. Refused here, once for every route, as a 400 OperationOutcome that does not echo them.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Receive, Scope, Send

from adapter.api.responses import outcome_response
from adapter.fhir.issues import Issue
from adapter.security.limits import CONTROL_CHARACTERS


class RefuseControlCharacters:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            where = _control_character_in(scope)
            if where is not None:
                issue = Issue(
                    "error",
                    "invalid",
                    f"The request's {where} holds a control character; no identifier does.",
                    None,
                    "control-character",
                )
                await outcome_response(400, issue)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _control_character_in(scope: Scope) -> str | None:
    if CONTROL_CHARACTERS.search(scope.get("path", "")):
        return "path"
    query = scope.get("query_string", b"")
    if query and (b"%" in query or CONTROL_CHARACTERS.search(query.decode("latin-1"))):
        decoded = unquote_to_bytes(query).decode("latin-1")
        if CONTROL_CHARACTERS.search(decoded):
            return "query"
    return None
