"""The read API over cases: `GET /cases/{id}` (state, deadlines, betalningsansvar) and
`GET /cases/{id}/timeline` (every message in and out, deliveries, kvittenser, deadlines, liable
days). Scoped to the calling party; every read is written to the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request

from adapter.api.caller import audit_reads, caller_party, runtime_of
from adapter.api.case_view import case_summary, now_of, process_rules, timeline
from adapter.api.holdings import HeldCase, Holdings, holdings
from adapter.process.rules import ProcessRules
from adapter.store import queries

router = APIRouter(prefix="/cases", tags=["cases"])


def _readable(request: Request, case_id: str, party: str, held_cases: Holdings, action: str) -> HeldCase:
    held = held_cases.case(party, case_id)
    if held is None:
        raise HTTPException(404, f"No case {case_id} that you may read.")
    audit_reads(runtime_of(request), party, [(case_id, held.case.patient.identifier)], action, {})
    return held


@router.get("/{case_id}", summary="A case: state, deadlines, betalningsansvar")
def read_case(
    case_id: str,
    request: Request,
    party: str = Depends(caller_party),
    held_cases: Holdings = Depends(holdings),
    rules: ProcessRules = Depends(process_rules),
    now: datetime = Depends(now_of),
) -> dict[str, Any]:
    held = _readable(request, case_id, party, held_cases, "read-case")
    return case_summary(held, rules, now)


@router.get("/{case_id}/timeline", summary="Every message in and out of a case, in time order")
def read_timeline(
    case_id: str,
    request: Request,
    party: str = Depends(caller_party),
    held_cases: Holdings = Depends(holdings),
    rules: ProcessRules = Depends(process_rules),
    now: datetime = Depends(now_of),
) -> dict[str, Any]:
    held = _readable(request, case_id, party, held_cases, "read-timeline")
    with runtime_of(request).store.engine.connect() as conn:
        events = queries.case_events(conn, case_id)
        outbox = queries.case_outbox(conn, case_id)
    entries = timeline(held, events, outbox, rules, now)
    return {"case_id": case_id, "state": held.case.state.value, "entries": [e.to_json() for e in entries]}
