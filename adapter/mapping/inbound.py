"""FHIR message Bundle → process event, by the compiled rules."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from adapter.fhir.bundle import BundleIndex
from adapter.fhir.issues import Issue
from adapter.fhir.rejected import Rejected
from adapter.mapping.rules import CompiledField, MessageRule
from adapter.process.events import Event, event_from_dict
from adapter.validation.terminology import Terminology


class MappingFailed(Rejected):
    """A validated message the rules cannot map: a required field absent, or no rule for it."""


def variables(terms: Terminology, package_extensions: dict[str, str]) -> dict[str, Any]:
    """FHIRPath %variables every rule may use: identifier systems, extension and CodeSystem URLs."""
    env: dict[str, Any] = {}
    for ns_id in terms.naming_systems:
        env[ns_id.replace("-", "_")] = sorted(terms.systems(ns_id))
    for ext_id, url in package_extensions.items():
        env["ext_" + ext_id.replace("-", "_")] = url  # e.g. %ext_expected_discharge_date
    for cs_id in terms.code_systems:
        env["cs_" + cs_id.replace("-", "_")] = terms.code_system_url(cs_id)  # e.g. %cs_careplan_type
    return env


def map_inbound(
    rule: MessageRule, index: BundleIndex, terms: Terminology, env: dict[str, Any]
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
            if compiled.each:
                value = [_item(compiled, node, context, terms) for node in values] or None
            else:
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
    issues.extend(_unmapped(rule, scope, paths, context))
    issues.extend(_unreferenced(rule, index))
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
    rule: MessageRule, index: BundleIndex
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
        ref: Any = holder
        for step in element.split("."):  # e.g. participant.individual: the first of each list
            ref = ref.get(step) if isinstance(ref, dict) else None
            if isinstance(ref, list):
                ref = ref[0] if ref else None
        entry = index.resolve(ref)
        if entry is not None:
            scope[name], paths[name] = entry.resource, entry.path
    return scope, paths


def _item(compiled: CompiledField, node: Any, context: dict[str, Any], terms: Terminology) -> dict[str, Any]:
    """One element of a tuple field (`each`): its fields read from the element."""
    item: dict[str, Any] = {}
    for sub in compiled.each:
        value = _convert(sub, sub.evaluate(node, context), terms)
        if value is None:
            value = sub.rule.default
        if value is not None:
            _put(item, sub.name, value)
    return item


def _convert(compiled: CompiledField, values: list[Any], terms: Terminology) -> Any:
    rule = compiled.rule
    if rule.type == "strings":
        return [str(v) for v in values] or None
    if not values:
        return None
    value = values[0]
    if compiled.map is not None:
        value = compiled.map.get(str(value), value)
    if rule.type == "system":
        naming = terms.lookup(str(value))
        return naming.preferred if naming else value
    if rule.type == "dateTime":
        return _datetime(value)
    if rule.type == "date":
        return date.fromisoformat(str(value)[:10]).isoformat()
    if rule.type == "boolean":
        return value in (True, "true")
    return value


_FIRST_ELEMENT = re.compile(r"^\s*([A-Za-z][A-Za-z0-9]*)")
_EXTENSION_VARIABLE = re.compile(r"%(ext_[A-Za-z0-9_]+)")


def _unmapped(
    rule: MessageRule, scope: dict[str, dict[str, Any]], paths: dict[str, str], context: dict[str, Any]
) -> list[Issue]:
    """A warning for each element of the focus resource and of the MessageHeader that no field
    reads: never dropped silently. An element counts as read when a field's path on its resource
    starts with it; an extension, when a field's path names its URL's variable. The items of a tuple
    field (`each`) with a plain dotted path are checked the same way against the item's fields."""
    focus = next(
        (name for name, origin, element in rule.resources if (origin, element) == ("header", "focus")), None
    )
    resource = scope.get(focus) if focus else None
    if resource is None or focus is None:
        return []
    fields = [f for f in rule.fields if f.rule.source == focus]
    read = {element.split(".")[0] for _, origin, element in rule.resources if origin == focus}
    issues = _unread(rule, resource, paths[focus], fields, [*rule.ignore, *read], context)
    for compiled in fields:
        if compiled.each and _DOTTED.match(compiled.rule.path):
            for item, where in _walk(resource, paths[focus], compiled.rule.path.split(".")):
                issues += _unread(rule, item, where, compiled.each, compiled.rule.ignore, context)
    header = scope.get("header")
    if header is not None:  # the MessageHeader, the same way
        fields = [f for f in rule.fields if f.rule.source == "header"]
        read = {element.split(".")[0] for _, origin, element in rule.resources if origin == "header"}
        issues += _unread(rule, header, paths["header"], fields, [*rule.header_ignore, *read], context)
    return issues


def _unread(
    rule: MessageRule,
    node: dict[str, Any],
    where: str,
    fields: list[CompiledField],
    ignore: list[str] | frozenset[str],
    context: dict[str, Any],
) -> list[Issue]:
    read = {name for name in ignore if not name.startswith("%")} | {"resourceType", "id", "meta", "text"}
    urls = {str(context.get(name[1:])) for name in ignore if name.startswith("%")}
    for compiled in fields:
        match = _FIRST_ELEMENT.match(compiled.rule.path)
        if match:
            read.add(match.group(1))
        urls.update(str(context.get(v)) for v in _EXTENSION_VARIABLE.findall(_all_paths(compiled)))
    issues = []
    for key, value in node.items():
        if key == "extension" and isinstance(value, list):
            for i, ext in enumerate(value):
                url = ext.get("url") if isinstance(ext, dict) else None
                if url not in urls:
                    issues.append(_unmapped_issue(rule, f"{where}.extension[{i}]", f"extension {url}"))
        elif key not in read:
            issues.append(_unmapped_issue(rule, f"{where}.{key}", key))
    return issues


_DOTTED = re.compile(r"^[A-Za-z]+(\.[A-Za-z]+)*$")


def _walk(node: Any, where: str, steps: list[str]) -> list[tuple[dict[str, Any], str]]:
    """The elements a dotted path reaches, each with its FHIRPath expression."""
    if not steps:
        return [(node, where)] if isinstance(node, dict) else []
    value = node.get(steps[0]) if isinstance(node, dict) else None
    if isinstance(value, list):
        return [hit for i, v in enumerate(value) for hit in _walk(v, f"{where}.{steps[0]}[{i}]", steps[1:])]
    return _walk(value, f"{where}.{steps[0]}", steps[1:]) if value is not None else []


def _unreferenced(rule: MessageRule, index: BundleIndex) -> list[Issue]:
    """A warning for each entry no reference reaches from the MessageHeader: no rule can read it,
    so it would be dropped silently (an entry that is reached travels with the case it describes)."""
    header = index.header
    if header is None:
        return []
    edges = index.targets()
    reached = {header.index}
    todo = [header.index]
    while todo:
        for target in edges[todo.pop()]:
            if target not in reached:
                reached.add(target)
                todo.append(target)
    return [
        _unmapped_issue(rule, entry.path, f"{entry.resource.get('resourceType')} (referenced by nothing)")
        for entry in index.entries
        if entry.index not in reached
    ]


def _all_paths(compiled: CompiledField) -> str:
    return " ".join([compiled.rule.path, *(_all_paths(sub) for sub in compiled.each)])


def _unmapped_issue(rule: MessageRule, expression: str, what: str) -> Issue:
    return Issue(
        "warning",
        "informational",
        f"{rule.message}: {what} is not mapped by the {rule.dialect} rules and was not passed on.",
        expression,
        "mapping-unmapped",
    )


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
