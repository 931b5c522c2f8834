"""The read API over cases: `GET /cases/{id}` (state, deadlines, betalningsansvar) and
`GET /cases/{id}/timeline` (every message in and out, deliveries, kvittenser, deadlines, liable
days). Scoped to the calling party; every read is written to the audit log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from adapter.api.reader import Reader, reader
from adapter.api.signoff_view import planning_json
from adapter.read.case_view import case_summary

router = APIRouter(prefix="/cases", tags=["cases"])


@router.get("/{case_id}", summary="A case: state, deadlines, betalningsansvar, joint sign-off")
def read_case(case_id: str, read: Reader = Depends(reader)) -> dict[str, Any]:
    held = read.case(case_id, "read-case")
    planning = planning_json(held.case, read.runtime.routing, read.runtime.steps)
    return {**case_summary(held, read.rules, read.now), **planning}


@router.get("/{case_id}/timeline", summary="Every message in and out of a case, in time order")
def read_timeline(case_id: str, read: Reader = Depends(reader)) -> dict[str, Any]:
    held = read.case(case_id, "read-timeline")
    entries = read.timeline(held)
    return {"case_id": case_id, "state": held.case.state.value, "entries": [e.to_json() for e in entries]}
