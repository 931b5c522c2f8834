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

from adapter.api.caller import audit_reads, authenticated, reading_scope, runtime_of, sees_protected_details
from adapter.api.fhir_view import FhirView
from adapter.api.holdings import HeldCase, Holdings, holdings
from adapter.api.responses import fhir_response, outcome_response
from adapter.api.search_params import (
    READABLE_TYPES,
    SEARCH_PARAMETERS,
    Criterion,
    SearchError,
    matches,
    parse_criterion,
)
from adapter.fhir.issues import Issue, operation_outcome
from adapter.mapping.outbound import Addressing
from adapter.security.audit import patient_hash
from adapter.security.identity import Caller
from adapter.uuids import random_uuid

router = APIRouter(prefix="/fhir", tags=["fhir"])

DEFAULT_COUNT = 100
MAX_COUNT = 1000
# Result parameters this server reads itself; other `_` parameters are ignored like unknown ones.
_PAGING = ("_count", "_offset")


def fhir_view(request: Request) -> FhirView:
    """FastAPI dependency: the app's one FhirView, made on first use."""
    state = request.app.state
    found = getattr(state, "fhir_view", None)
    if found is None:
        runtime = runtime_of(request)
        pipeline = runtime.pipeline
        addressing = Addressing(
            runtime.routing.self_.hsa_id,
            runtime.routing.self_.base_url,
            pipeline.source_endpoint,
            pipeline.source_name,
        )
        found = state.fhir_view = FhirView(runtime.mapper, addressing)
    return found


def _search_endpoint(resource_type: str) -> Callable[..., Response]:
    def search(
        request: Request,
        caller: Caller = Depends(authenticated),
        held_cases: Holdings = Depends(holdings),
        view: FhirView = Depends(fhir_view),
    ) -> Response:
        try:
            criteria, ignored, count, offset = _read_query(resource_type, request)
        except SearchError as exc:
            return outcome_response(400, Issue("error", "invalid", str(exc)))
        runtime, party = runtime_of(request), caller.party
        canonical = _canonical_system(request)
        found: list[tuple[HeldCase, dict[str, Any]]] = []
        details = sees_protected_details(runtime, party)
        for held in held_cases.cases(reading_scope(caller)):
            resources = view.resources(held, details)
            for resource in resources.values():
                if resource["resourceType"] == resource_type and all(
                    matches(resource, c, resources.get, canonical) for c in criteria
                ):
                    found.append((held, resource))
        if resource_type == "Patient":
            found = _one_per_person(found, canonical)
        page = found[offset : offset + count]
        audit_reads(
            runtime,
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


def _one_per_person(
    found: list[tuple[HeldCase, dict[str, Any]]], canonical: Callable[[str], str]
) -> list[tuple[HeldCase, dict[str, Any]]]:
    """Each case renders its own Patient; a person with several stays is one Patient in a search:
    the one of the newest case (the latest name and address), where the person was first found."""
    by_person: dict[tuple[str, ...], int] = {}
    people: list[tuple[HeldCase, dict[str, Any]]] = []
    for held, patient in found:
        person = tuple(
            sorted(
                f"{canonical(i.get('system', ''))}|{i.get('value')}"
                for i in patient.get("identifier") or []
                if isinstance(i, dict)
            )
        ) or (f"Patient/{patient['id']}",)
        if person in by_person:
            people[by_person[person]] = (held, patient)  # cases come oldest first
        else:
            by_person[person] = len(people)
            people.append((held, patient))
    return people


def _read_endpoint(resource_type: str) -> Callable[..., Response]:
    def read(
        resource_id: str,
        request: Request,
        caller: Caller = Depends(authenticated),
        held_cases: Holdings = Depends(holdings),
        view: FhirView = Depends(fhir_view),
    ) -> Response:
        wanted, party, scope = f"{resource_type}/{resource_id}", caller.party, reading_scope(caller)
        runtime = runtime_of(request)
        details = sees_protected_details(runtime, party)
        for held in held_cases.cases(scope):
            resource = view.resources(held, details).get(wanted)
            if resource is not None:
                audit_reads(
                    runtime,
                    party,
                    [(held.row.case_id, held.case.patient.identifier)],
                    "fhir-read",
                    {"type": resource_type},
                )
                return fhir_response(resource)
        # Answered as not known either way; audited as denied where a case the caller is no party of holds it.
        owner = None
        if scope is not None:
            owner = next((h for h in held_cases.cases(None) if wanted in view.resources(h, details)), None)
        runtime.store.audit(
            None,
            party=party,
            action="fhir-read",
            outcome="denied" if owner else "not-found",
            case_id=owner.row.case_id if owner else None,
            patient_hash=patient_hash(owner.case.patient.identifier, runtime.pipeline.audit_key)
            if owner
            else None,
            detail={"type": resource_type, "id": resource_id[:200], "status": 404},
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


def _canonical_system(request: Request) -> Callable[[str], str]:
    terms = runtime_of(request).mapper.terms

    def canonical(system: str) -> str:
        naming = terms.lookup(system)
        return naming.preferred if naming else system

    return canonical


def _url(base: str, resource_type: str, params: list[tuple[str, str]], count: int, offset: int) -> str:
    paging = [("_count", str(count))] + ([("_offset", str(offset))] if offset else [])
    return f"{base}/{resource_type}?{urlencode(params + paging)}"
