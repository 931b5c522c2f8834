"""The gate of a LUS message: a Bundle of type message, its MessageHeader first, and an event
that some loaded MessageHeader profile is written for (that profile then applies)."""

from __future__ import annotations

from typing import Any

from adapter.fhir.bundle import BundleIndex
from adapter.fhir.issues import Issue
from adapter.validation.checkers import ObjectChecker

Event = tuple[str, str]  # (system, code) of MessageHeader.eventCoding


def check_message(
    bundle: dict[str, Any], index: BundleIndex, headers: dict[Event, list[ObjectChecker]]
) -> tuple[list[Issue], list[ObjectChecker]]:
    """Issues of the gate, and the MessageHeader profiles for this message's event."""
    issues: list[Issue] = []
    if bundle.get("type") != "message":
        issues.append(
            Issue(
                "error",
                "invariant",
                f"Bundle.type is {bundle.get('type')!r}; $process-message takes a Bundle of type 'message'"
                " (rule bundle-type-message).",
                "Bundle.type",
                "bundle-type-message",
            )
        )
    header = index.header
    if header is None:
        issues.append(
            Issue(
                "error",
                "invariant",
                "The first entry of a message Bundle must be a MessageHeader (rule bdl-12).",
                "Bundle.entry[0].resource",
                "bdl-12",
            )
        )
        return issues, []
    coding = header.resource.get("eventCoding")
    event = (coding.get("system"), coding.get("code")) if isinstance(coding, dict) else (None, None)
    profiles = headers.get(event) if all(isinstance(part, str) for part in event) else None  # type: ignore[arg-type]
    if not profiles:
        known = sorted({code for _, code in headers})
        systems = sorted({system for system, _ in headers})
        issues.append(
            Issue(
                "error",
                "code-invalid",
                f"MessageHeader.eventCoding {event[0]}#{event[1]} is not a LUS event: no loaded MessageHeader"
                f" profile is written for it; expected a code of {', '.join(systems)} ({', '.join(known)})"
                " (rule lus-event-code).",
                f"{header.path}.eventCoding",
                "lus-event-code",
            )
        )
        return issues, []
    return issues, profiles


def header_profiles(compiler: Any) -> dict[Event, list[ObjectChecker]]:
    """Each MessageHeader profile by the event code it fixes (regional packages may add more)."""
    found: dict[Event, list[ObjectChecker]] = {}
    for url, sd in compiler.definitions.items():
        if sd.get("type") != "MessageHeader":
            continue
        event = (compiler.tree(url).children or {}).get("event[x]")
        coding = event and (event.fixed or event.pattern)
        if isinstance(coding, dict) and "system" in coding and "code" in coding:
            found.setdefault((coding["system"], coding["code"]), []).append(compiler.profile(url))
    return found


def message_bundle_profiles(compiler: Any) -> list[ObjectChecker]:
    """The Bundle profiles that fix Bundle.type to 'message': they apply to every message."""
    found = []
    for url, sd in compiler.definitions.items():
        if sd.get("type") == "Bundle":
            kind = (compiler.tree(url).children or {}).get("type")
            if kind is not None and "message" in (kind.fixed, kind.pattern):
                found.append(compiler.profile(url))
    return found
