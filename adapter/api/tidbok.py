"""The tidbok (docs/tidbok.md): this adapter's own party publishes the times it can take planning
meetings as FHIR Schedule and Slot; every party in the routing table searches the free ones.

    POST /fhir/Schedule, PUT /fhir/Schedule/{id}      the own party's system only
    POST /fhir/Slot,     PUT /fhir/Slot/{id}          the own party's system only
    GET  /fhir/Schedule?actor=…  GET /fhir/Schedule/{id}
    GET  /fhir/Slot?schedule.actor=…&start=ge…&status=free&service-type=…  GET /fhir/Slot/{id}

A slot is booked by the planeringsmöte message whose Appointment references it (adapter/store/
tidbok.py, applied in the pipeline's transaction), never by writing the Slot. A Slot carries no
patient data: who booked it stays in the store."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import anyio
import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from adapter.api.body import FHIR_BODY, BodyRejected, read_fhir_body
from adapter.api.caller import RuntimeDep, caller_party
from adapter.api.responses import fhir_response, outcome_response
from adapter.fhir.ids import random_uuid
from adapter.fhir.issues import Issue
from adapter.fhir.rejected import Rejected
from adapter.runtime import Runtime
from adapter.store import tidbok
from adapter.store.tidbok import SlotRow, SlotSearch, SlotTaken

router = APIRouter(prefix="/fhir", tags=["tidbok"])

# A date without a time in a search means that day in Sweden.
_LOCAL = ZoneInfo("Europe/Stockholm")
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
# What a party may publish a slot as; `busy` is what a booking makes it.
_PUBLISHED_STATUS = ("free", "busy-unavailable")
_STATUSES = ("free", "busy", "busy-unavailable")
DEFAULT_COUNT = 100
MAX_COUNT = 1000
T = TypeVar("T")


class Refused(Rejected):
    def __init__(self, status: int, issue: Issue) -> None:
        super().__init__(issue, status=status)


def _refused(status: int, code: str, message: str, expression: str | None = None) -> Refused:
    return Refused(status, Issue("error", code, message, expression, "tidbok"))


async def _in_thread(work: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(work)


# --- publishing (the own party only) ---


@router.post("/Schedule", summary="Publish a Schedule (the own party's system)", openapi_extra=FHIR_BODY)
async def create_schedule(
    request: Request, runtime: RuntimeDep, party: str = Depends(caller_party)
) -> Response:
    return await _publish(request, runtime, party, "Schedule", None)


@router.put("/Schedule/{resource_id}", summary="Publish or change a Schedule", openapi_extra=FHIR_BODY)
async def update_schedule(
    request: Request, runtime: RuntimeDep, resource_id: str, party: str = Depends(caller_party)
) -> Response:
    return await _publish(request, runtime, party, "Schedule", resource_id)


@router.post("/Slot", summary="Publish a Slot (the own party's system)", openapi_extra=FHIR_BODY)
async def create_slot(request: Request, runtime: RuntimeDep, party: str = Depends(caller_party)) -> Response:
    return await _publish(request, runtime, party, "Slot", None)


@router.put(
    "/Slot/{resource_id}", summary="Publish or change a Slot no meeting holds", openapi_extra=FHIR_BODY
)
async def update_slot(
    request: Request, runtime: RuntimeDep, resource_id: str, party: str = Depends(caller_party)
) -> Response:
    return await _publish(request, runtime, party, "Slot", resource_id)


async def _publish(
    request: Request, runtime: Runtime, party: str, resource_type: str, resource_id: str | None
) -> Response:
    own = runtime.routing.self_.hsa_id
    try:
        if party != own:
            await _in_thread(lambda: _audit_denied(runtime, party, request))
            raise _refused(
                403,
                "forbidden",
                f"Only this adapter's own party ({own}) publishes its {resource_type} resources;"
                f" {party} publishes at its own adapter and searches here.",
            )
        if resource_id is not None and not _ID.fullmatch(resource_id):
            raise _refused(400, "value", "The id is 1-64 of A-Z a-z 0-9 - and '.'.", f"{resource_type}.id")
        resource = await _read_resource(request, runtime, resource_type)
        if resource_id is not None and resource.get("id") not in (None, resource_id):
            raise _refused(
                400, "value", "The id in the body differs from the id in the URL.", f"{resource_type}.id"
            )
        issues = await _in_thread(lambda: runtime.validator.validate_resource(resource))
        blocking = [i for i in issues if i.blocking]
        if blocking:
            return outcome_response(422, *blocking)
        new_id = resource_id or random_uuid()
        resource = {**resource, "id": new_id}
        publish = _put_schedule if resource_type == "Schedule" else _put_slot
        created, body = await _in_thread(lambda: publish(runtime, own, resource))
    except Refused as refused:
        return outcome_response(refused.status, refused.issue)
    reply = fhir_response(body, 201 if created else 200)
    reply.headers["Location"] = f"{runtime.routing.self_.base_url}/{resource_type}/{new_id}"
    return reply


async def _read_resource(request: Request, runtime: Runtime, resource_type: str) -> dict[str, Any]:
    try:
        body = await read_fhir_body(request, runtime.settings.max_body_bytes)
    except BodyRejected as rejected:
        raise Refused(rejected.status, rejected.issue) from None
    limits = runtime.pipeline.limits
    too_many = limits.prescreen(body, resource_type)
    if too_many is not None:
        raise Refused(400, too_many)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _refused(
            400, "structure", f"The body is not valid JSON: {exc.msg} at position {exc.pos}."
        ) from None
    too_costly = limits.check(data, resource_type, raw=body)
    if too_costly is not None:
        raise Refused(400, too_costly)
    if not isinstance(data, dict) or data.get("resourceType") != resource_type:
        found = data.get("resourceType") if isinstance(data, dict) else type(data).__name__
        raise _refused(400, "structure", f"Expected a {resource_type}; found {found!r}.", resource_type)
    return data


def _put_schedule(runtime: Runtime, own: str, resource: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    hsa_systems = runtime.mapper.terms.systems("hsa-id")
    actor = next(
        (
            ident.get("value")
            for a in resource.get("actor") or []
            if isinstance(ident := (a or {}).get("identifier"), dict) and ident.get("system") in hsa_systems
        ),
        None,
    )
    if not isinstance(actor, str) or not 0 < len(actor) <= 100:
        raise _refused(
            422,
            "required",
            f"Schedule.actor needs the unit's HSA-id: an actor with identifier.system"
            f" {runtime.mapper.terms.system('hsa-id')}.",
            "Schedule.actor",
        )
    with runtime.store.transaction() as conn:
        created = tidbok.schedule_put(conn, resource["id"], own, actor, resource, _now())
    return created, resource


def _put_slot(runtime: Runtime, own: str, resource: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    reference = (resource.get("schedule") or {}).get("reference")
    if not isinstance(reference, str) or "Schedule/" not in reference:
        raise _refused(422, "required", "Slot.schedule must reference Schedule/<id>.", "Slot.schedule")
    schedule_id = tidbok.slot_id(reference)
    start, end = _instant(resource, "start"), _instant(resource, "end")
    if end <= start:
        raise _refused(422, "value", "Slot.end must be after Slot.start.", "Slot.end")
    status = resource.get("status")
    if status not in _PUBLISHED_STATUS:
        raise _refused(
            422,
            "value",
            f"A party publishes a slot as {' or '.join(_PUBLISHED_STATUS)}; it becomes busy when a"
            " planeringsmöte references it.",
            "Slot.status",
        )
    mode = _mode(runtime, resource)
    with runtime.store.transaction() as conn:
        schedule = tidbok.schedule_get(conn, schedule_id)
        if schedule is None:
            raise _refused(
                422, "not-found", f"No Schedule/{schedule_id} here: publish it first.", "Slot.schedule"
            )
        row = SlotRow(
            slot_id=resource["id"],
            schedule_id=schedule_id,
            owner=own,
            actor=schedule[1],
            start=start,
            end=end,
            status=status,
            mode=mode,
            case_id=None,
            appointment_id=None,
            resource=resource,
        )
        try:
            created = tidbok.slot_put(conn, row, _now())
        except SlotTaken:
            raise _refused(
                409,
                "conflict",
                f"Slot {row.slot_id} is booked by a planning meeting; it changes when the meeting is"
                " rebooked or cancelled.",
                "Slot",
            ) from None
    return created, resource


def _instant(resource: dict[str, Any], name: str) -> float:
    value = resource.get(name)
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) else None
        seconds = when.timestamp() if when is not None and when.tzinfo is not None else None
    except (ValueError, OverflowError):
        seconds = None
    if seconds is None:
        raise _refused(422, "required", f"Slot.{name} must be an instant with a time zone.", f"Slot.{name}")
    return seconds


def _mode(runtime: Runtime, resource: dict[str, Any]) -> str | None:
    """The meeting place or channel (Slot.serviceType, CodeSystem meeting-place): one per slot."""
    system = runtime.mapper.terms.code_system_url("meeting-place")
    codes = [
        coding.get("code")
        for concept in resource.get("serviceType") or []
        for coding in (concept or {}).get("coding") or []
        if (coding or {}).get("system") == system
    ]
    if len(codes) > 1:
        raise _refused(
            422, "value", "A slot offers one meeting place; publish one slot per place.", "Slot.serviceType"
        )
    known = runtime.mapper.terms.codes("meeting-place")
    if codes and codes[0] not in known:
        raise _refused(
            422,
            "code-invalid",
            f"Slot.serviceType from {system} is one of {', '.join(known)}.",
            "Slot.serviceType",
        )
    return codes[0] if codes else None


def _audit_denied(runtime: Runtime, party: str, request: Request) -> None:
    runtime.store.audit(
        None,
        party=party,
        action="authorize",
        outcome="denied",
        detail={
            "method": request.method,
            "path": request.url.path[:200],
            "reason": "tidbok of another party",
        },
    )


# --- reading and searching (every party in the routing table) ---


@router.get("/Schedule/{resource_id}", summary="One Schedule")
def read_schedule(runtime: RuntimeDep, resource_id: str, _party: str = Depends(caller_party)) -> Response:
    with runtime.store.reading() as conn:
        found = tidbok.schedule_get(conn, resource_id) if _ID.fullmatch(resource_id) else None
    if found is None:
        return outcome_response(404, Issue("error", "not-found", f"No Schedule/{resource_id} here."))
    return fhir_response(found[2])


@router.get("/Slot/{resource_id}", summary="One Slot, with its current status")
def read_slot(runtime: RuntimeDep, resource_id: str, _party: str = Depends(caller_party)) -> Response:
    with runtime.store.reading() as conn:
        found = tidbok.slot_get(conn, resource_id) if _ID.fullmatch(resource_id) else None
    if found is None:
        return outcome_response(404, Issue("error", "not-found", f"No Slot/{resource_id} here."))
    return fhir_response(_slot_resource(found))


@router.get("/Schedule", summary="Schedules by actor (the unit's HSA-id)")
def search_schedules(request: Request, runtime: RuntimeDep, _party: str = Depends(caller_party)) -> Response:
    try:
        actors = _values(request, "actor", "actor:identifier")
        count = _count(request)
    except Refused as refused:
        return outcome_response(refused.status, refused.issue)
    with runtime.store.reading() as conn:
        found = tidbok.schedules_of(conn, actors, count)
    return fhir_response(_searchset(runtime, request, "Schedule", found, count))


@router.get("/Slot", summary="Slots by schedule.actor, schedule, start, status and service-type")
def search_slots(request: Request, runtime: RuntimeDep, _party: str = Depends(caller_party)) -> Response:
    try:
        after, before = _start_range(request.query_params.getlist("start"))
        statuses = _values(request, "status")
        bad = [s for s in statuses if s not in _STATUSES]
        if bad:
            raise _refused(
                400, "value", f"status is one of {', '.join(_STATUSES)}; not {bad[0]!r}.", "status"
            )
        search = SlotSearch(
            actors=tuple(_values(request, "schedule.actor", "schedule.actor:identifier")),
            schedules=tuple(tidbok.slot_id(s) for s in _values(request, "schedule")),
            statuses=tuple(statuses),
            modes=tuple(_values(request, "service-type")),
            after=after,
            before=before,
            count=_count(request),
        )
    except Refused as refused:
        return outcome_response(refused.status, refused.issue)
    with runtime.store.reading() as conn:
        found = tidbok.slots_search(conn, search)
    return fhir_response(
        _searchset(runtime, request, "Slot", [_slot_resource(r) for r in found], search.count)
    )


def _slot_resource(row: SlotRow) -> dict[str, Any]:
    """The Slot as published, with its status now (the meeting that holds it is not shown)."""
    return {**row.resource, "id": row.slot_id, "status": row.status}


def _values(request: Request, *names: str) -> list[str]:
    """Token values of the parameters (comma means or); `system|value` → value."""
    return [
        value.rpartition("|")[2]
        for name in names
        for raw in request.query_params.getlist(name)
        for value in raw.split(",")
        if value
    ]


def _count(request: Request) -> int:
    raw = request.query_params.get("_count")
    if raw is None:
        return DEFAULT_COUNT
    if not raw.isdigit() or not 0 < int(raw) <= MAX_COUNT:
        raise _refused(400, "value", f"_count is a whole number from 1 to {MAX_COUNT}.", "_count")
    return int(raw)


_PREFIX = re.compile(r"(eq|ge|gt|le|lt)?(.+)")


def _start_range(values: list[str]) -> tuple[float | None, float | None]:
    """start=[prefix]date|dateTime, repeated for a range, as [after, before) in epoch seconds."""
    after: float | None = None
    before: float | None = None
    for raw in values:
        match = _PREFIX.fullmatch(raw)
        assert match is not None  # .+ matches any non-empty value
        prefix, text = match.group(1) or "eq", match.group(2)
        low, high = _period(text)
        if prefix in ("ge", "eq"):
            after = max(after or low, low)
        if prefix == "gt":
            after = max(after or high, high)
        if prefix in ("lt",):
            before = min(before or low, low)
        if prefix in ("le", "eq"):
            before = min(before or high, high)
    return after, before


def _period(text: str) -> tuple[float, float]:
    """A date is its whole day in Sweden; a dateTime (with its offset) is that instant."""
    try:
        if len(text) == 10:
            day = datetime.combine(datetime.strptime(text, "%Y-%m-%d").date(), time(), _LOCAL)
            return day.timestamp(), (day + timedelta(days=1)).timestamp()
        when = datetime.fromisoformat(text)
        when.timestamp()
    except (ValueError, OverflowError):  # 9999-12-31 has no next day
        when = None
    if when is None or when.tzinfo is None:
        raise _refused(
            400,
            "value",
            "start is a date (YYYY-MM-DD) or a dateTime with its offset, after eq|ge|gt|le|lt.",
            "start",
        )
    return when.timestamp(), when.timestamp() + 1e-6


def _searchset(
    runtime: Runtime, request: Request, resource_type: str, resources: list[dict[str, Any]], count: int
) -> dict[str, Any]:
    base = runtime.routing.self_.base_url
    query = request.url.query
    return {
        "resourceType": "Bundle",
        "id": random_uuid(),
        "type": "searchset",
        **({"total": len(resources)} if len(resources) < count else {}),  # else there may be more
        "link": [{"relation": "self", "url": f"{base}/{resource_type}" + (f"?{query}" if query else "")}],
        "entry": [
            {"fullUrl": f"{base}/{resource_type}/{r['id']}", "resource": r, "search": {"mode": "match"}}
            for r in resources
        ],
    }


def _now() -> float:
    return datetime.now().timestamp()


def capability() -> list[dict[str, Any]]:
    """CapabilityStatement.rest.resource entries for the tidbok."""
    interactions = [{"code": c} for c in ("read", "search-type", "create", "update")]
    return [
        {
            "type": "Schedule",
            "interaction": interactions,
            "searchParam": [{"name": "actor", "type": "reference"}],
        },
        {
            "type": "Slot",
            "interaction": interactions,
            "searchParam": [
                {"name": "schedule.actor", "type": "reference"},
                {"name": "schedule", "type": "reference"},
                {"name": "start", "type": "date"},
                {"name": "status", "type": "token"},
                {"name": "service-type", "type": "token"},
            ],
        },
    ]
