"""FHIR reads and searches over the cases this adapter holds, scoped to the calling party:
`GET /fhir/Encounter?patient.identifier=…&status=…`, `/fhir/CarePlan?encounter=…`,
`/fhir/Appointment?date=…`, `/fhir/Communication?encounter=…`, and `GET /fhir/[type]/[id]`.
Every case a result comes from is written to the audit log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from adapter.api.caller import RuntimeDep, authenticated
from adapter.api.responses import fhir_response, outcome_response
from adapter.fhir.ids import random_uuid
from adapter.fhir.issues import Issue, operation_outcome
from adapter.read import search as engine
from adapter.read.search_params import (
    READABLE_TYPES,
    SEARCH_PARAMETERS,
    Criterion,
    SearchError,
    parse_criterion,
)
from adapter.security.access import reading_scope
from adapter.security.identity import Caller

router = APIRouter(prefix="/fhir", tags=["fhir"])

DEFAULT_COUNT = 100
MAX_COUNT = 1000
# Result parameters this server reads itself; other `_` parameters are ignored like unknown ones.
_PAGING = ("_count", "_offset")


def _search_endpoint(resource_type: str) -> Callable[..., Response]:
    def search(request: Request, runtime: RuntimeDep, caller: Caller = Depends(authenticated)) -> Response:
        try:
            criteria, ignored, count, offset = _read_query(resource_type, request)
        except SearchError as exc:
            return outcome_response(400, Issue("error", "invalid", str(exc)))
        party = caller.party
        found = engine.search(
            runtime.holdings,
            runtime.fhir_view,
            resource_type,
            criteria,
            reading_scope(caller),
            runtime.routing.sees_protected_details(party),
            engine.canonical_system(runtime.mapper.terms),
        )
        page = found[offset : offset + count]
        runtime.audit.reads(
            party,
            {h.row.case_id: h.case.patient.identifier for h, _ in page}.items(),
            "fhir-search",
            {"type": resource_type, "parameters": sorted({c.param.name for c in criteria})},
        )
        base = runtime.routing.self_.base_url
        used = [
            (k, v) for k, v in request.query_params.multi_items() if k not in ignored and k not in _PAGING
        ]
        links = [{"relation": "self", "url": _url(base, resource_type, used, count, offset)}]
        if offset + count < len(found):
            links.append({"relation": "next", "url": _url(base, resource_type, used, count, offset + count)})
        entries: list[dict[str, Any]] = [
            {"fullUrl": f"{base}/{resource_type}/{r['id']}", "resource": r, "search": {"mode": "match"}}
            for _, r in page
        ]
        if ignored:
            issue = Issue(
                "warning",
                "not-supported",
                f"Search parameters not supported on {resource_type}, ignored: {', '.join(sorted(ignored))}.",
            )
            entries.append({"resource": operation_outcome([issue]), "search": {"mode": "outcome"}})
        return fhir_response(
            {
                "resourceType": "Bundle",
                "id": random_uuid(),
                "meta": {"lastUpdated": datetime.now(UTC).isoformat(timespec="seconds")},
                "type": "searchset",
                "total": len(found),
                "link": links,
                "entry": entries,
            }
        )

    search.__name__ = f"search_{resource_type.lower()}"
    return search


def _read_endpoint(resource_type: str) -> Callable[..., Response]:
    def read(resource_id: str, runtime: RuntimeDep, caller: Caller = Depends(authenticated)) -> Response:
        wanted, party, scope = f"{resource_type}/{resource_id}", caller.party, reading_scope(caller)
        details = runtime.routing.sees_protected_details(party)
        found = engine.read(runtime.holdings, runtime.fhir_view, wanted, scope, details)
        if found is not None:
            held, resource = found
            case = [(held.row.case_id, held.case.patient.identifier)]
            runtime.audit.reads(party, case, "fhir-read", {"type": resource_type})
            return fhir_response(resource)
        # Answered as not known either way; audited as denied where a case the caller is no party of holds it.
        owner = (
            engine.read(runtime.holdings, runtime.fhir_view, wanted, None, details)
            if scope is not None
            else None
        )
        runtime.audit.unseen(
            party,
            "fhir-read",
            (owner[0].row.case_id, owner[0].case.patient.identifier) if owner else None,
            {"type": resource_type, "id": resource_id[:200]},
        )
        return outcome_response(404, Issue("error", "not-found", f"{wanted} is not known here."))

    read.__name__ = f"read_{resource_type.lower()}"
    return read


for _type in SEARCH_PARAMETERS:
    router.add_api_route(
        f"/{_type}",
        _search_endpoint(_type),
        methods=["GET"],
        summary=f"Search {_type} resources ({', '.join(SEARCH_PARAMETERS[_type])})",
    )
for _type in READABLE_TYPES:
    router.add_api_route(
        f"/{_type}/{{resource_id}}", _read_endpoint(_type), methods=["GET"], summary=f"Read a {_type}"
    )


def _read_query(resource_type: str, request: Request) -> tuple[list[Criterion], set[str], int, int]:
    criteria: list[Criterion] = []
    ignored: set[str] = set()
    for key, value in request.query_params.multi_items():
        if key in _PAGING:
            continue
        criterion = parse_criterion(resource_type, key, value)
        if criterion is None:
            ignored.add(key)
        else:
            criteria.append(criterion)
    if ignored and "handling=strict" in request.headers.get("prefer", "").replace(" ", ""):
        raise SearchError(f"Unknown search parameters on {resource_type}: {', '.join(sorted(ignored))}.")
    count = _integer(request, "_count", DEFAULT_COUNT)
    return criteria, ignored, min(count, MAX_COUNT), _integer(request, "_offset", 0)


def _integer(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise SearchError(f"{name} must be a whole number ≥ 0, found {raw!r}.")
    return int(raw)


def _url(base: str, resource_type: str, params: list[tuple[str, str]], count: int, offset: int) -> str:
    paging = [("_count", str(count))] + ([("_offset", str(offset))] if offset else [])
    return f"{base}/{resource_type}?{urlencode(params + paging)}"
