"""Rules for a LUS message Bundle: header first, a known event, a focus inside the Bundle,
and identifiers that follow the Swedish rules of their system."""

from __future__ import annotations

from typing import Any

from adapter.validation.bundle import BundleIndex
from adapter.validation.identifiers import RULES
from adapter.validation.issues import Issue
from adapter.validation.terminology import Terminology

_IDENTIFIED = ("Patient", "Organization", "Practitioner", "PractitionerRole", "Encounter")


def check_message(bundle: dict[str, Any], index: BundleIndex, terms: Terminology) -> list[Issue]:
    issues: list[Issue] = []
    if bundle.get("type") != "message":
        issues.append(
            Issue(
                "error",
                "invariant",
                f"Bundle.type is {bundle.get('type')!r}; $process-message takes a Bundle of type 'message'.",
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
                "The first entry of a message Bundle must be a MessageHeader (bdl-12).",
                "Bundle.entry[0].resource",
                "bdl-12",
            )
        )
        return issues
    issues += _check_event(header.resource, header.path, terms)
    for i, focus in enumerate(header.resource.get("focus") or []):
        if index.resolve(focus) is None:
            issues.append(
                Issue(
                    "error",
                    "not-found",
                    f"MessageHeader.focus {focus.get('reference')!r} does not resolve to an entry in the"
                    " Bundle; everything a message refers to must travel inside it.",
                    f"{header.path}.focus[{i}]",
                    "focus-in-bundle",
                )
            )
    for rtype in _IDENTIFIED:
        for entry in index.of_type(rtype):
            issues += check_identifiers(entry.resource, entry.path, terms)
    return issues


def _check_event(header: dict[str, Any], path: str, terms: Terminology) -> list[Issue]:
    coding = header.get("eventCoding") or {}
    system, code = coding.get("system"), coding.get("code")
    expected = terms.code_system_url("lus-event")
    codes = terms.codes("lus-event")
    if system != expected or code not in codes:
        return [
            Issue(
                "error",
                "code-invalid",
                f"MessageHeader.eventCoding {system}#{code} is not a LUS event; expected a code from"
                f" {expected} ({', '.join(sorted(codes))}).",
                f"{path}.eventCoding",
                "lus-event-code",
            )
        ]
    return []


def check_identifiers(resource: dict[str, Any], path: str, terms: Terminology) -> list[Issue]:
    """Format rules per identifier system; aliases are accepted with a warning."""
    issues: list[Issue] = []
    for i, identifier in enumerate(resource.get("identifier") or []):
        if not isinstance(identifier, dict):
            continue
        system, value = identifier.get("system"), identifier.get("value")
        naming = terms.lookup(system) if isinstance(system, str) else None
        if naming is None:
            continue
        where = f"{path}.identifier[{i}]"
        if system != naming.preferred:
            issues.append(
                Issue(
                    "warning",
                    "value",
                    f"Identifier system {system} is an alias; the adapter normalises it"
                    f" to {naming.preferred}.",
                    f"{where}.system",
                    "identifier-system-alias",
                )
            )
        if naming.rule and isinstance(value, str):
            problem = RULES[naming.rule](value)
            if problem:
                issues.append(
                    Issue(
                        "error",
                        "value",
                        problem[0].upper() + problem[1:] + ".",
                        f"{where}.value",
                        naming.rule,
                    )
                )
        elif not isinstance(value, str):
            issues.append(
                Issue("error", "required", "Identifier has no value.", f"{where}.value", "identifier-value")
            )
    return issues
