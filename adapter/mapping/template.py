"""Outbound templates: the `render:` part of a mapping file, filled from an event.

A template is plain FHIR JSON (as YAML) in which some values are directives:

- `"${field.sub}"`: a value of the event (or of `case.…`, or of a `$each` item), as JSON
  (dates ISO 8601, enums their code, tuples lists). Absent (None, empty) → the element is left out.
- `"%name"`: a variable: an extension URL (`%ext_care_kind`), the preferred URI of a NamingSystem
  (`%hsa_id`), a CodeSystem URL (`%cs_lus_event`) or a file constant.
- `{$value: field, $map: table, $else: other}`: the value translated by a `codes:` table (also
  read inbound); `other` when the field is absent.
- `{$if: field, $then: template}`: the template when the value is true, else nothing.
- `{$each: field, $as: name, $do: template}`: one rendered item per element of a tuple.
- `{$ref: entry}`: a Reference to another entry of the message (rendered once, added to the Bundle).
- `{$org: "${field}"}`: a Reference to the Organization with that HSA-id (added once).

A mapping that holds `${…}` values and none of them is present is left out whole, so an optional
extension or name disappears with its value instead of leaving an empty shell.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

MISSING: Any = object()


class TemplateError(Exception):
    """A template that cannot be rendered (unknown field, variable, table or entry)."""


def as_json(value: Any) -> Any:
    if value is None or value == () or value == []:
        return MISSING
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [as_json(v) for v in value]
    return value


def lookup(scope: Mapping[str, Any], dotted: str) -> Any:
    """`a.b.c` read from the scope (names) and then attribute by attribute; None when absent."""
    head, *rest = dotted.split(".")
    if head not in scope:
        raise TemplateError(f"unknown field {dotted!r}")
    value = scope[head]
    for name in rest:
        if value is None:
            return None
        if isinstance(value, Mapping):
            value = value.get(name)
        elif name in _field_names(value.__class__):
            value = getattr(value, name)
        else:
            raise TemplateError(f"unknown field {dotted!r}")
    return value


@functools.cache
def _field_names(cls: type) -> frozenset[str]:
    """The fields of a dataclass (none of any other type): looked up once per class."""
    return (
        frozenset(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else frozenset()
    )


class Template:
    """Renders one template against a scope. `refer` and `org` add entries to the message."""

    def __init__(
        self,
        variables: Mapping[str, Any],
        codes: Mapping[str, Mapping[str, str]],
        refer: Callable[[str], str],
        org: Callable[[str], str],
    ) -> None:
        self.variables = variables
        self.codes = codes
        self.refer = refer
        self.org = org

    def render(self, template: Any, scope: Mapping[str, Any]) -> Any:
        value, _, _ = self._render(template, scope)
        return value

    def _render(self, t: Any, scope: Mapping[str, Any]) -> tuple[Any, bool, bool]:
        """(value or MISSING, whether it read event values, whether any was present)."""
        if isinstance(t, str):
            if t.startswith("${") and t.endswith("}"):
                value = as_json(lookup(scope, t[2:-1]))
                return value, True, value is not MISSING
            if t.startswith("%"):
                if t[1:] not in self.variables:
                    raise TemplateError(f"unknown variable {t!r}")
                return self.variables[t[1:]], False, False
            return t, False, False
        if isinstance(t, list):
            items = [self._render(item, scope) for item in t]
            values: list[Any] = []
            for sub, (v, _, _) in zip(t, items, strict=True):
                if v is MISSING:
                    continue
                if isinstance(sub, dict) and "$each" in sub:  # an `$each` in a list adds its items
                    values.extend(v)
                else:
                    values.append(v)
            reads = any(r for _, r, _ in items)
            return (values or MISSING), reads, bool(values) and any(p for _, _, p in items)
        if isinstance(t, dict):
            directive = next((k for k in t if k.startswith("$")), None)
            if directive is not None:
                return self._directive(directive, t, scope)
            out: dict[str, Any] = {}
            reads = present = False
            for key, sub in t.items():
                value, r, p = self._render(sub, scope)
                reads, present = reads or r, present or p
                if value is not MISSING:
                    out[key] = value
            if (reads and not present) or not out:
                return MISSING, reads, False
            return out, reads, present
        if t is None:  # `element: null` removes an element of a shared template
            return MISSING, False, False
        return t, False, False

    def _directive(self, name: str, t: dict[str, Any], scope: Mapping[str, Any]) -> tuple[Any, bool, bool]:
        if name == "$value":
            raw = lookup(scope, t["$value"])
            if raw is None and "$else" in t:
                raw = lookup(scope, t["$else"])
            if raw is None:
                return MISSING, True, False
            table = t.get("$map")
            value = as_json(raw)
            if table is not None:
                value = self._translate(table, value)
            return value, True, True
        if name == "$if":
            if not lookup(scope, t["$if"]):
                return MISSING, True, False
            value = self.render(t["$then"], scope)
            return value, True, value is not MISSING
        if name == "$each":
            items = lookup(scope, t["$each"]) or ()
            rendered = [self.render(t["$do"], {**scope, t.get("$as", "item"): item}) for item in items]
            values = [v for v in rendered if v is not MISSING]
            return (values or MISSING), True, bool(values)
        if name == "$ref":
            return {"reference": self.refer(t["$ref"])}, False, False
        if name == "$org":
            hsa_id, reads, present = self._render(t["$org"], scope)
            if hsa_id is MISSING:
                return MISSING, reads, False
            return {"reference": self.org(str(hsa_id))}, reads, present
        raise TemplateError(f"unknown directive {name!r}")

    def _translate(self, table: str, value: Any) -> Any:
        codes = self.codes.get(table)
        if codes is None:
            raise TemplateError(f"unknown codes table {table!r}")
        key = str(value).lower() if isinstance(value, bool) else str(value)
        if key not in codes:
            raise TemplateError(f"codes table {table!r} has no entry for {key!r}")
        return codes[key]


def check(template: Any, names: set[str], where: str) -> None:
    """Start-up check: every `${…}` and field directive of a template starts with a known name
    (an event field, `case`, `to` … or a `$each` item), so a typo stops start-up, not a message."""
    if isinstance(template, str):
        if template.startswith("${") and template.endswith("}"):
            _known(template[2:-1], names, where)
    elif isinstance(template, list):
        for item in template:
            check(item, names, where)
    elif isinstance(template, dict):
        for directive in ("$value", "$else", "$if", "$each"):
            if directive in template:
                _known(template[directive], names, where)
        inner = names | {template.get("$as", "item")} if "$each" in template else names
        for key, sub in template.items():
            if key not in ("$value", "$else", "$if", "$each", "$as", "$map", "$ref"):
                check(sub, inner, where)


def _known(dotted: Any, names: set[str], where: str) -> None:
    if str(dotted).split(".")[0] not in names:
        raise TemplateError(f"{where}: unknown field {dotted!r} (known: {', '.join(sorted(names))})")


def entries_named(template: Any) -> set[str]:
    """The entry templates a template pulls in: `$ref` and `$use` names."""
    if isinstance(template, list):
        return set().union(*(entries_named(t) for t in template)) if template else set()
    if isinstance(template, dict):
        found = {str(template[k]) for k in ("$ref", "$use") if k in template}
        return found.union(*(entries_named(v) for v in template.values()))
    return set()
