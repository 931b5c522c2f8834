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

import enum
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from adapter.process.events import field_names

MISSING: Any = object()


class TemplateError(Exception):
    """A template that cannot be rendered (unknown field, variable, table or entry)."""


def as_json(value: Any) -> Any:
    if type(value) is str:  # most values: one test instead of six
        return value
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


Reader = Callable[[Mapping[str, Any]], Any]


def reader(dotted: str) -> Reader:
    """Reads `a.b.c` from a scope (names) and then attribute by attribute; None when absent. Split
    once: templates read the same names for every message."""
    head, *rest = dotted.split(".")

    def read(scope: Mapping[str, Any]) -> Any:
        if head not in scope:
            raise TemplateError(f"unknown field {dotted!r}")
        value = scope[head]
        for name in rest:
            if value is None:
                return None
            if isinstance(value, Mapping):
                value = value.get(name)
            elif name in field_names(value.__class__):
                value = getattr(value, name)
            else:
                raise TemplateError(f"unknown field {dotted!r}")
        return value

    return read


_MOST_COMPILED = 10_000  # far more than every template of every rule
Rendered = tuple[Any, bool, bool]  # (value or MISSING, whether it read event values, whether any was present)
Node = Callable[["Template", Mapping[str, Any]], Rendered]


class Template:
    """Renders templates against a scope. `refer` and `org` add entries to the message.

    Each template is compiled once into closures (`compiled`, shared by every Template of a
    renderer and keyed by the template object, which must therefore live as long as the cache:
    the rules' own templates do); rendering then only runs them."""

    def __init__(
        self,
        variables: Mapping[str, Any],
        codes: Mapping[str, Mapping[str, str]],
        refer: Callable[[str], str],
        org: Callable[[str], str],
        compiled: dict[int, tuple[Any, Node]] | None = None,
    ) -> None:
        self.variables = variables
        self.codes = codes
        self.refer = refer
        self.org = org
        self.compiled = {} if compiled is None else compiled

    def render(self, template: Any, scope: Mapping[str, Any]) -> Any:
        return self.node(template)(self, scope)[0]

    def node(self, template: Any) -> Node:
        held = self.compiled.get(id(template))
        if held is None or held[0] is not template:
            if len(self.compiled) >= _MOST_COMPILED:  # a caller rendering throwaway templates
                self.compiled.clear()
            held = self.compiled[id(template)] = (template, _compile(template))
        return held[1]

    def translate(self, table: str, value: Any) -> Any:
        codes = self.codes.get(table)
        if codes is None:
            raise TemplateError(f"unknown codes table {table!r}")
        key = str(value).lower() if isinstance(value, bool) else str(value)
        if key not in codes:
            raise TemplateError(f"codes table {table!r} has no entry for {key!r}")
        return codes[key]


def _compile(t: Any) -> Node:
    if isinstance(t, str):
        return _compile_text(t)
    if isinstance(t, list):
        return _compile_list(t)
    if isinstance(t, dict):
        directive = next((k for k in t if k.startswith("$")), None)
        return _compile_object(t) if directive is None else _compile_directive(directive, t)
    if t is None:  # `element: null` removes an element of a shared template
        return lambda _tpl, _scope: (MISSING, False, False)
    constant = (t, False, False)
    return lambda _tpl, _scope: constant


def _compile_text(t: str) -> Node:
    if t.startswith("${") and t.endswith("}"):
        read = reader(t[2:-1])

        def field(_tpl: Template, scope: Mapping[str, Any]) -> Rendered:
            value = as_json(read(scope))
            return value, True, value is not MISSING

        return field
    if t.startswith("%"):
        name = t[1:]

        def variable(tpl: Template, _scope: Mapping[str, Any]) -> Rendered:
            if name not in tpl.variables:
                raise TemplateError(f"unknown variable {t!r}")
            return tpl.variables[name], False, False

        return variable
    constant = (t, False, False)
    return lambda _tpl, _scope: constant


def _compile_list(t: list[Any]) -> Node:
    # An `$each` in a list adds its items to the list rather than a list of them.
    parts = [(_compile(item), isinstance(item, dict) and "$each" in item) for item in t]

    def sequence(tpl: Template, scope: Mapping[str, Any]) -> Rendered:
        values: list[Any] = []
        reads = present = False
        for node, spreads in parts:
            value, r, p = node(tpl, scope)
            reads, present = reads or r, present or p
            if value is MISSING:
                continue
            if spreads:
                values.extend(value)
            else:
                values.append(value)
        return (values or MISSING), reads, bool(values) and present

    return sequence


def _compile_object(t: dict[str, Any]) -> Node:
    parts = [(key, _compile(sub)) for key, sub in t.items()]

    def mapping(tpl: Template, scope: Mapping[str, Any]) -> Rendered:
        out: dict[str, Any] = {}
        reads = present = False
        for key, node in parts:
            value, r, p = node(tpl, scope)
            reads, present = reads or r, present or p
            if value is not MISSING:
                out[key] = value
        if (reads and not present) or not out:
            return MISSING, reads, False
        return out, reads, present

    return mapping


def _compile_directive(name: str, t: dict[str, Any]) -> Node:
    if name == "$value":
        read, table = reader(t["$value"]), t.get("$map")
        otherwise = reader(t["$else"]) if t.get("$else") is not None else None

        def value_of(tpl: Template, scope: Mapping[str, Any]) -> Rendered:
            raw = read(scope)
            if raw is None and otherwise is not None:
                raw = otherwise(scope)
            if raw is None:
                return MISSING, True, False
            value = as_json(raw)
            return (value if table is None else tpl.translate(table, value)), True, True

        return value_of
    if name == "$if":
        condition, then = reader(t["$if"]), _compile(t["$then"])

        def if_(tpl: Template, scope: Mapping[str, Any]) -> Rendered:
            if not condition(scope):
                return MISSING, True, False
            value = then(tpl, scope)[0]
            return value, True, value is not MISSING

        return if_
    if name == "$each":
        items_of, each, as_ = reader(t["$each"]), _compile(t["$do"]), t.get("$as", "item")

        def each_(tpl: Template, scope: Mapping[str, Any]) -> Rendered:
            rendered = [each(tpl, {**scope, as_: item})[0] for item in items_of(scope) or ()]
            values = [v for v in rendered if v is not MISSING]
            return (values or MISSING), True, bool(values)

        return each_
    if name == "$ref":
        entry = t["$ref"]
        return lambda tpl, _scope: ({"reference": tpl.refer(entry)}, False, False)
    if name == "$org":
        hsa = _compile(t["$org"])

        def org(tpl: Template, scope: Mapping[str, Any]) -> Rendered:
            hsa_id, reads, present = hsa(tpl, scope)
            if hsa_id is MISSING:
                return MISSING, reads, False
            return {"reference": tpl.org(str(hsa_id))}, reads, present

        return org

    def unknown(_tpl: Template, _scope: Mapping[str, Any]) -> Rendered:
        raise TemplateError(f"unknown directive {name!r}")

    return unknown


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


def names_read(template: Any) -> set[str]:
    """The first names of every field a template reads (`to` for `${to.recipient_hsa_id}`)."""
    if isinstance(template, str):
        return (
            {template[2:-1].split(".")[0]} if template.startswith("${") and template.endswith("}") else set()
        )
    if isinstance(template, list):
        return set().union(*(names_read(t) for t in template)) if template else set()
    if isinstance(template, dict):
        found = {str(template[d]).split(".")[0] for d in ("$value", "$else", "$if", "$each") if d in template}
        return found.union(*(names_read(v) for k, v in template.items() if k != "$as"))
    return set()


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
