"""FHIR search parameters (R4 search.html) over resources held in memory: token, reference
(with chaining: `patient.identifier=…`, `subject:Patient.identifier=…`) and date (with the
prefixes eq ne lt gt le ge sa eb). Values separated by commas are alternatives; a parameter
repeated must match every time."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

# A date or time given without an offset is read as Swedish local time.
LOCAL_TIME = ZoneInfo("Europe/Stockholm")

Kind = Literal["token", "reference", "date"]


class SearchError(ValueError):
    """A search the server cannot run as asked: answered 400 with an OperationOutcome."""


@dataclass(frozen=True)
class Param:
    name: str
    kind: Kind
    path: str  # dotted element path in the resource, e.g. "participant.actor"
    target: str | None = None  # for references: the one resource type they point to


def _params(*params: Param) -> dict[str, Param]:
    """Every resource has _id, identifier and status."""
    common = (
        Param("_id", "token", "id"),
        Param("identifier", "token", "identifier"),
        Param("status", "token", "status"),
    )
    return {p.name: p for p in (*common, *params)}


# What CarePlan and Communication share: both are about one stay of one patient.
_OF_A_STAY = (
    Param("category", "token", "category"),
    Param("encounter", "reference", "encounter", "Encounter"),
    Param("patient", "reference", "subject", "Patient"),
    Param("subject", "reference", "subject"),
)

SEARCH_PARAMETERS: dict[str, dict[str, Param]] = {
    "Encounter": _params(
        Param("class", "token", "class"),
        Param("patient", "reference", "subject", "Patient"),
        Param("subject", "reference", "subject"),
        Param("service-provider", "reference", "serviceProvider", "Organization"),
        Param("date", "date", "period"),
    ),
    "CarePlan": _params(*_OF_A_STAY, Param("date", "date", "period")),
    "Appointment": _params(
        Param("date", "date", "start"),
        Param("actor", "reference", "participant.actor"),
        Param("patient", "reference", "participant.actor", "Patient"),
    ),
    "Communication": _params(*_OF_A_STAY, Param("sent", "date", "sent")),
    # The joint sign-off (docs/signoff.md): the ställningstagande and each party's answer to it.
    "ClinicalImpression": _params(*_OF_A_STAY[1:], Param("date", "date", "date")),
    "Task": _params(
        Param("encounter", "reference", "encounter", "Encounter"),
        Param("patient", "reference", "for", "Patient"),
        Param("authored-on", "date", "authoredOn"),
    ),
    "Patient": {p.name: p for p in (Param("_id", "token", "id"), Param("identifier", "token", "identifier"))},
}

# Read (GET [type]/[id]) also covers what the searchable resources point to.
READABLE_TYPES = (*SEARCH_PARAMETERS, "Organization")


def capability_resources() -> list[dict[str, Any]]:
    """CapabilityStatement.rest.resource: what may be read and searched, with which parameters."""
    out: list[dict[str, Any]] = []
    for resource_type in READABLE_TYPES:
        resource: dict[str, Any] = {"type": resource_type, "interaction": [{"code": "read"}]}
        params = SEARCH_PARAMETERS.get(resource_type)
        if params:  # R4 has no empty arrays: a read-only type lists no searchParam at all
            resource["interaction"].append({"code": "search-type"})
            resource["searchParam"] = [{"name": p.name, "type": p.kind} for p in params.values()]
        out.append(resource)
    return out


@dataclass(frozen=True)
class Criterion:
    """One search parameter from the query: `param[:type].chain=value,value`."""

    param: Param
    values: tuple[str, ...]
    target_type: str | None = None  # `subject:Patient…`
    chain: str | None = None  # the rest after the first `.`, a parameter of the target type


def parse_criterion(resource_type: str, key: str, raw: str) -> Criterion | None:
    """The criterion for one query parameter; None for a parameter this server does not know
    (ignored, as R4 asks of lenient handling). Raises SearchError for a known parameter used
    in a way it does not support."""
    head, _, chain = key.partition(".")
    name, _, modifier = head.partition(":")
    param = SEARCH_PARAMETERS[resource_type].get(name)
    if param is None:
        return None
    target = None
    if modifier:
        if param.kind != "reference" or modifier not in SEARCH_PARAMETERS:
            raise SearchError(f"Search parameter {name!r} does not support the modifier :{modifier}.")
        target = modifier
    if chain:
        if param.kind != "reference":
            raise SearchError(f"Search parameter {name!r} is not a reference: it cannot be chained.")
        chained_type = target or param.target
        if chained_type is None:
            raise SearchError(f"Chain {key!r}: name the target type, as in {name}:Patient.{chain}.")
        if parse_criterion(chained_type, chain, raw) is None:
            raise SearchError(f"{chained_type} has no search parameter {chain!r} to chain to.")
    values = tuple(v.replace("\\,", ",") for v in re.split(r"(?<!\\),", raw))
    if param.kind == "date":
        for value in values:
            date_range(value)  # a bad date is the client's error, reported before searching
    return Criterion(param, values, target or param.target, chain or None)


Resolve = Callable[[str], dict[str, Any] | None]  # "Type/id" → resource held


def matches(
    resource: dict[str, Any], criterion: Criterion, resolve: Resolve, canonical: Callable[[str], str]
) -> bool:
    """Whether any of the criterion's values matches the resource. `canonical` maps an
    identifier system to its preferred URI (aliases from the profiles' NamingSystems)."""
    found = list(_elements(resource, criterion.param.path))
    param = criterion.param
    for value in criterion.values:
        if param.kind == "token" and any(_token(e, value, canonical) for e in found):
            return True
        if param.kind == "date" and any(_date(e, value) for e in found):
            return True
        if param.kind == "reference":
            for element in found:
                ref = element.get("reference") if isinstance(element, dict) else None
                if not isinstance(ref, str):
                    continue
                if criterion.target_type and not ref.startswith(f"{criterion.target_type}/"):
                    continue
                if criterion.chain is None:
                    if _same_reference(ref, value, criterion.target_type):
                        return True
                    continue
                target = resolve(ref)
                if target is not None:
                    chained = parse_criterion(target["resourceType"], criterion.chain, value)
                    if chained is not None and matches(target, chained, resolve, canonical):
                        return True
    return False


def _elements(resource: dict[str, Any], path: str) -> Iterator[Any]:
    nodes: list[Any] = [resource]
    for part in path.split("."):
        following: list[Any] = []
        for node in nodes:
            value = node.get(part) if isinstance(node, dict) else None
            if isinstance(value, list):
                following.extend(value)
            elif value is not None:
                following.append(value)
        nodes = following
    yield from nodes


def _token(element: Any, value: str, canonical: Callable[[str], str]) -> bool:
    system, bar, code = value.partition("|")
    if not bar:
        system, code = "", value
    if isinstance(element, str):
        return element == code
    if not isinstance(element, dict):
        return False
    if "coding" in element:  # CodeableConcept
        return any(_token(c, value, canonical) for c in element["coding"] or [])
    found_code = element.get("value", element.get("code"))
    found_system = element.get("system")
    if bar and not system and found_system:  # `|code`: only elements without a system
        return False
    if system and (not found_system or canonical(found_system) != canonical(system)):
        return False
    return not code or found_code == code


def _same_reference(ref: str, value: str, target_type: str | None) -> bool:
    tail = "/".join(value.rstrip("/").split("/")[-2:]) if "/" in value else value
    if "/" not in tail:
        return ref.split("/", 1)[-1] == tail and (target_type is None or ref.startswith(f"{target_type}/"))
    return ref == tail


# --- dates ---

_DATE = re.compile(
    r"^(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?P<fraction>\.\d+)?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_PREFIXES = ("eq", "ne", "lt", "gt", "le", "ge", "sa", "eb")


def date_range(value: str) -> tuple[str, datetime, datetime]:
    """(prefix, start, end) of a date search value: [start, end) at the value's precision."""
    prefix = value[:2] if value[:2].isalpha() else "eq"
    text = value[2:] if value[:2].isalpha() else value
    if prefix not in _PREFIXES:
        raise SearchError(f"Date prefix {prefix!r} is not supported (use one of {', '.join(_PREFIXES)}).")
    start, end = _range(text)
    return prefix, start, end


def _range(text: str) -> tuple[datetime, datetime]:
    m = _DATE.match(text)
    if m is None:
        raise SearchError(f"{text!r} is not a FHIR date, dateTime or instant.")
    g = m.groupdict()
    tz = (
        LOCAL_TIME
        if not g["tz"]
        else datetime.fromisoformat("2000-01-01T00:00" + g["tz"].replace("Z", "+00:00")).tzinfo
    )
    try:
        start = datetime(
            int(g["year"]),
            int(g["month"] or 1),
            int(g["day"] or 1),
            int(g["hour"] or 0),
            int(g["minute"] or 0),
            int(g["second"] or 0),
            int(float(g["fraction"] or 0) * 1_000_000),
            tzinfo=tz,
        )
    except ValueError as exc:
        raise SearchError(f"{text!r} is not a real date: {exc}.") from exc
    if g["fraction"]:
        end = start + timedelta(microseconds=1)
    elif g["second"]:
        end = start + timedelta(seconds=1)
    elif g["minute"]:
        end = start + timedelta(minutes=1)
    elif g["day"]:
        end = _add_days(start, 1)
    elif g["month"]:
        end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    else:
        end = start.replace(year=start.year + 1)
    # Compared in UTC: Python compares two times with one tzinfo by their wall clocks.
    return start.astimezone(UTC), end.astimezone(UTC)


def _add_days(start: datetime, days: int) -> datetime:
    # Calendar days in local time: a day with a daylight-saving change is 23 or 25 hours long.
    return (start.replace(tzinfo=None) + timedelta(days=days)).replace(tzinfo=start.tzinfo)


def _date(element: Any, value: str) -> bool:
    try:
        if isinstance(element, dict):  # Period; an open end reaches into the future
            low = _range(element["start"])[0] if element.get("start") else datetime.min.replace(tzinfo=UTC)
            high = _range(element["end"])[1] if element.get("end") else datetime.max.replace(tzinfo=UTC)
        elif isinstance(element, str):
            low, high = _range(element)
        else:
            return False
    except SearchError:  # a value in a resource that is no date matches no date search
        return False
    prefix, start, end = date_range(value)
    contained = start <= low and high <= end
    return {
        "eq": contained,
        "ne": not contained,
        "lt": low < start,
        "gt": high > end,
        "le": low < start or contained,
        "ge": high > end or contained,
        "sa": low >= end,
        "eb": high <= start,
    }[prefix]
