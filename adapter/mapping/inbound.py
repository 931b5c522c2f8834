"""FHIR message Bundle → process event, by the compiled rules."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from adapter.mapping.rules import CompiledField, InboundRule
from adapter.process.events import Event, event_from_dict
from adapter.validation.bundle import BundleIndex
from adapter.validation.issues import Issue
from adapter.validation.terminology import Terminology


class MappingFailed(Exception):
    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("; ".join(i.message for i in issues))
        self.issues = issues


def variables(terms: Terminology, package_extensions: dict[str, str]) -> dict[str, Any]:
    """FHIRPath %variables every rule may use: identifier systems and extension URLs."""
    env: dict[str, Any] = {}
    for ns_id in terms.naming_systems:
        env[ns_id.replace("-", "_")] = sorted(terms.systems(ns_id))
    for ext_id, url in package_extensions.items():
        env["ext_" + ext_id.replace("-", "_")] = url  # e.g. %ext_expected_discharge_date
    return env


def map_inbound(
    rule: InboundRule, index: BundleIndex, terms: Terminology, env: dict[str, Any]
) -> tuple[Event, list[Issue]]:
    """The event a message carries. Raises MappingFailed when a required field is absent."""
    scope, paths = _resolve_resources(rule, index)
    context = {**env, **rule.constants}
    data: dict[str, Any] = {"kind": rule.event}
    issues: list[Issue] = []
    for compiled in rule.fields:
        resource = scope.get(compiled.rule.source)
        where = paths.get(compiled.rule.source, "Bundle")
        try:
            values = compiled.evaluate(resource, context) if resource is not None else []
            value = _convert(compiled, values, terms)
        except (TypeError, ValueError) as exc:
            issues.append(
                Issue(
                    "error",
                    "value",
                    f"{rule.message}: {compiled.name} at {compiled.rule.path} of {compiled.rule.source}"
                    f" cannot be read: {exc}.",
                    where,
                    f"mapping:{rule.dialect}/{rule.message}:{compiled.name}",
                )
            )
            continue
        if value is None:
            if compiled.rule.required:
                issues.append(
                    Issue(
                        "error",
                        "required",
                        f"{rule.message}: {compiled.name} is required, found nothing at"
                        f" {compiled.rule.path} of {compiled.rule.source}.",
                        where,
                        f"mapping:{rule.dialect}/{rule.message}:{compiled.name}",
                    )
                )
                continue
            value = compiled.rule.default
            if value is None:
                continue
        _put(data, compiled.name, value)
    if any(i.blocking for i in issues):
        raise MappingFailed(issues)
    try:
        return event_from_dict(data), issues
    except (TypeError, ValueError) as exc:
        raise MappingFailed(
            [
                Issue(
                    "error",
                    "value",
                    f"{rule.message}: {exc}",
                    "Bundle",
                    f"mapping:{rule.dialect}/{rule.message}",
                )
            ]
        ) from exc


def _resolve_resources(
    rule: InboundRule, index: BundleIndex
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    scope: dict[str, dict[str, Any]] = {"bundle": index.bundle}
    paths = {"bundle": "Bundle"}
    header = index.header
    if header is not None:
        scope["header"], paths["header"] = header.resource, header.path
    for name, origin, element in rule.resources:
        holder = scope.get(origin)
        if holder is None:
            continue
        ref = holder.get(element)
        if isinstance(ref, list):
            ref = ref[0] if ref else None
        entry = index.resolve(ref)
        if entry is not None:
            scope[name], paths[name] = entry.resource, entry.path
    return scope, paths


def _convert(compiled: CompiledField, values: list[Any], terms: Terminology) -> Any:
    rule = compiled.rule
    if rule.type == "strings":
        return [str(v) for v in values] or None
    if not values:
        return None
    value = values[0]
    if rule.map is not None:
        value = rule.map.get(str(value), value)
    if rule.type == "system":
        naming = terms.lookup(str(value))
        return naming.preferred if naming else value
    if rule.type == "dateTime":
        return _datetime(value)
    if rule.type == "date":
        return date.fromisoformat(str(value)[:10]).isoformat()
    if rule.type == "boolean":
        return bool(value)
    return value


def _datetime(value: Any) -> str:
    text = str(value)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"dateTime {text!r} has no time zone")
    return parsed.isoformat()


def _put(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
