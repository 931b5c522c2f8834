"""Admin endpoints (JSON): dead letters and the lines they hold (replay, skip), the outbound messages
of a case with their kvittens, messages still without kvittens, this replica's circuit breakers, and
the avvikelser export (JSON or CSV)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from adapter.api.caller import RuntimeDep, admin
from adapter.api.reader import process_rules
from adapter.process.kalender import STOCKHOLM
from adapter.read import avvikelser as avv
from adapter.routing.deadletters import DeadLetterFilter, NotADeadLetter, audit_shown, requeue, select, skip
from adapter.runtime import Runtime
from adapter.security.identity import Caller

MONTH = avv.MONTH_PATTERN
router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(admin)])


def _filter(
    message_id: str | None, recipient: str | None, since: str | None, until: str | None
) -> DeadLetterFilter:
    try:
        return select(message_id, recipient, since, until)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None


@router.get("/deadletters", summary="Dead letters, oldest first")
def list_dead_letters(
    runtime: RuntimeDep,
    recipient: str | None = None,
    since: Annotated[
        str | None, Query(description="Given up at or after (ISO 8601; UTC if no offset)")
    ] = None,
    until: Annotated[str | None, Query(description="Given up before (ISO 8601)")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    store = runtime.store
    records = store.dead_letters(_filter(None, recipient, since, until), limit=limit)
    return {"count": len(records), "deadletters": [r.to_json() for r in records]}


@router.get("/deadletters/{message_id}", summary="One dead letter: history, message and last answer")
def show_dead_letter(runtime: RuntimeDep, message_id: str, caller: Caller = Depends(admin)) -> dict[str, Any]:
    return _message_view(runtime, message_id, caller)


@router.get("/messages/{message_id}", summary="One outbound message: history, message and last answer")
def show_message(runtime: RuntimeDep, message_id: str, caller: Caller = Depends(admin)) -> dict[str, Any]:
    return _message_view(runtime, message_id, caller)


def _message_view(runtime: Runtime, message_id: str, caller: Caller) -> dict[str, Any]:
    """The message (it holds the patient's details: the read is audited)."""
    found = runtime.store.outbox_message(message_id)
    if found is None:
        raise HTTPException(404, f"No outbound message {message_id}")
    record, body, response = found
    audit_shown(
        runtime.store,
        message_id,
        record.case_id,
        by=caller.party,
        audit_key=runtime.pipeline.audit_key,
        via="api",
    )
    return {**record.to_json(), "message": orjson.loads(body), "response": _json_or_text(response)}


def _json_or_text(raw: bytes | None) -> Any:
    if raw is None:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode(errors="replace")


# Identifiers as the store holds them: no control characters (PostgreSQL text cannot hold NUL).
_NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"


class ReplayRequest(BaseModel):
    message_id: str | None = Field(None, max_length=200, pattern=_NO_CONTROL)
    recipient: str | None = Field(None, max_length=100, pattern=_NO_CONTROL)
    since: str | None = Field(None, max_length=40)
    until: str | None = Field(None, max_length=40)
    all: bool = False


@router.post("/deadletters/replay", summary="Send dead letters again under their original message ids")
def replay_dead_letters(
    runtime: RuntimeDep, body: ReplayRequest, caller: Caller = Depends(admin)
) -> dict[str, Any]:
    which = _filter(body.message_id, body.recipient, body.since, body.until)
    if which == DeadLetterFilter() and not body.all:
        raise HTTPException(400, "Name a message_id, a recipient or a time range, or set all=true")
    now = runtime.pipeline.clock()
    replayed = requeue(runtime.store, which, by=caller.party, now=now, audit_key=runtime.pipeline.audit_key)
    return {"count": len(replayed), "replayed": replayed}


class SkipRequest(BaseModel):
    reason: str


@router.get("/held-lines", summary="The (case, recipient) lines a dead letter holds, oldest first")
def held_lines(
    runtime: RuntimeDep,
    recipient: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    lines = runtime.store.held_lines(recipient=recipient, limit=limit)
    return {"count": len(lines), "held_lines": [line.to_json() for line in lines]}


@router.post(
    "/deadletters/{message_id}/skip",
    summary="Release the line a dead letter holds without sending it (final; audited with the reason)",
)
def skip_dead_letter(
    runtime: RuntimeDep, message_id: str, body: SkipRequest, caller: Caller = Depends(admin)
) -> dict[str, Any]:
    try:
        record = skip(
            runtime.store, message_id, by=caller.party, reason=body.reason, now=runtime.pipeline.clock()
        )
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    except NotADeadLetter as exc:
        raise HTTPException(409 if runtime.store.outbox_message(message_id) else 404, str(exc)) from None
    return record.to_json()


@router.get("/cases/{case_id}/messages", summary="A case's outbound messages: delivery and kvittens")
def case_messages(runtime: RuntimeDep, case_id: str) -> dict[str, Any]:
    records = runtime.store.case_messages(case_id)
    return {"case_id": case_id, "messages": [r.to_json() for r in records]}


@router.get("/unacknowledged", summary="Sent messages with no ok kvittens after the configured time")
def unacknowledged(
    runtime: RuntimeDep,
    older_than: Annotated[
        float | None, Query(ge=0, description="Seconds; default LUS_KVITTENS_TIMEOUT_SECONDS")
    ] = None,
) -> dict[str, Any]:
    age = runtime.settings.kvittens_timeout_seconds if older_than is None else older_than
    records = runtime.store.unacknowledged(age, runtime.pipeline.clock())
    return {"older_than_seconds": age, "count": len(records), "messages": [r.to_json() for r in records]}


@router.get("/circuits", summary="This replica's circuit breakers, per destination")
def circuits(request: Request) -> dict[str, Any]:
    worker = getattr(request.app.state, "delivery_worker", None)
    return {"worker": worker is not None, "circuits": worker.breakers.snapshot() if worker else []}


@router.get(
    "/avvikelser",
    summary="Avvikelser per party and month for the regional follow-up (JSON, or CSV with format=csv)",
)
def avvikelser_export(
    runtime: RuntimeDep,
    caller: Caller = Depends(admin),
    month: Annotated[str | None, Query(description="One month, YYYY-MM", pattern=MONTH)] = None,
    from_: Annotated[
        str | None, Query(alias="from", description="First month, YYYY-MM", pattern=MONTH)
    ] = None,
    to: Annotated[str | None, Query(description="Last month, included, YYYY-MM", pattern=MONTH)] = None,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
    detail: Annotated[bool, Query(description="CSV: one row per deviation, not counts")] = False,
) -> Response:
    first = month or from_
    if first is None or (month is not None and (from_ is not None or to is not None)):
        raise HTTPException(400, "Name a month, or a range with from (and to)")
    try:
        period = avv.Period(
            first=avv.parse_month(first, "month" if month else "from"),
            last=avv.parse_month(month or to or first, "month" if month else "to"),
        )
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    rules = process_rules(runtime)
    parties = avv.parties_from(runtime.routing, runtime.steps)
    now = min(datetime.fromtimestamp(runtime.pipeline.clock(), STOCKHOLM), period.end)
    found = avv.collect(runtime.store.iter_cases(), period, rules, parties, now)
    avv.audit_export(runtime.store, found, caller.party, runtime.pipeline.audit_key, period)
    document = avv.as_document(found.deviations, period, now, rules)
    if format == "csv":
        return Response(avv.to_csv(document, detail=detail), media_type="text/csv; charset=utf-8")
    return Response(avv.to_json(document), media_type="application/json")
