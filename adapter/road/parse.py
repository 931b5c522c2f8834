"""Parse and limits: the body as JSON within the input limits, and a Bundle. `read_json` is the one
JSON reader of request bodies; `$validate` reads its body with it too."""

from __future__ import annotations

from typing import Any

import orjson

from adapter.fhir.issues import Issue
from adapter.fhir.rejected import Rejected
from adapter.road.message import Message, Result
from adapter.security.limits import JsonLimits


def parse_json(raw: bytes, limits: JsonLimits, root: str = "Bundle") -> Any:
    """JSON → Python, or Rejected(400) saying where the body broke. A body with more members than
    are worth parsing is refused before the parser sees it."""
    too_many = limits.prescreen(raw, root)
    if too_many is not None:
        raise Rejected(too_many, status=400)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Rejected(
            Issue(
                "fatal",
                "structure",
                f"The body is not valid JSON: {exc.msg} at position {exc.pos}.",
                None,
                "json",
            ),
            status=400,
        ) from exc


def within_limits(data: Any, raw: bytes, limits: JsonLimits, root: str = "Bundle") -> None:
    """Rejected(400) at the first input limit `data` breaks: nothing walks it before this."""
    too_costly = limits.check(data, root, raw=raw)
    if too_costly is not None:
        raise Rejected(too_costly, status=400)


def read_json(raw: bytes, limits: JsonLimits, root: str = "Bundle") -> Any:
    """A request body as JSON within the input limits (`root`: the resource type it should be)."""
    data = parse_json(raw, limits, root)
    within_limits(data, raw, limits, root)
    return data


class Parse:
    def __init__(self, limits: JsonLimits) -> None:
        self.limits = limits

    def __call__(self, message: Message) -> Result | None:
        message.bundle = parse_json(message.raw, self.limits)
        return None


class Limits:
    """The input limits, then a Bundle: only a body within the limits is looked into."""

    def __init__(self, limits: JsonLimits) -> None:
        self.limits = limits

    def __call__(self, message: Message) -> Result | None:
        data: Any = message.bundle
        within_limits(data, message.raw, self.limits)
        if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
            found = data.get("resourceType") if isinstance(data, dict) else type(data).__name__
            raise Rejected(
                Issue(
                    "fatal",
                    "structure",
                    f"Expected a FHIR Bundle resource, found {found!r}.",
                    "Bundle",
                    "resource-type",
                ),
                status=400,
            )
        return None
