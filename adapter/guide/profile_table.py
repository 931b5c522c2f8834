"""A profile as a table: the elements the package constrains, read from the validator's own
compiled element tree (compiler.tree), so that the guide shows exactly what is checked."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from adapter.validation.r4 import BASE
from adapter.validation.snapshot import Node
from adapter.validation.validator import Validator


@dataclass(frozen=True)
class TypeCell:
    code: str
    profiles: tuple[str, ...] = ()  # canonical URLs: an extension's definition, a datatype profile
    targets: tuple[str, ...] = ()  # Reference targets


@dataclass(frozen=True)
class Invariant:
    key: str
    severity: str
    human: str
    expression: str


@dataclass(frozen=True)
class IdentifierRule:
    naming_system: str  # NamingSystem id
    rule: str | None  # the identifier-rule the validator runs (personnummer, hsa-id …)
    description: str


@dataclass(frozen=True)
class Row:
    path: str  # Patient.identifier:personnummer
    depth: int
    cardinality: str
    types: list[TypeCell]
    fixed: str | None
    pattern: str | None
    binding: str | None  # ValueSet URL of a required binding
    invariants: list[Invariant]
    identifier_rules: list[IdentifierRule]
    slicing: str | None
    source: str  # the profile that constrains it last
    own: bool  # constrained by this very profile (not one it derives from)


@dataclass
class ProfileTable:
    url: str
    rows: list[Row] = field(default_factory=list)

    def reached(self) -> list[str]:
        """Profiles this one points to (reference targets, extension and type profiles)."""
        seen: dict[str, None] = {}
        for row in self.rows:
            for t in row.types:
                for url in (*t.targets, *t.profiles):
                    seen.setdefault(url, None)
        return list(seen)


def chain(validator: Validator, url: str) -> list[str]:
    """The profile and those it derives from, in the package, most specific first."""
    found = []
    definitions = validator.compiler.definitions
    while url in definitions:
        found.append(url)
        url = definitions[url].get("baseDefinition", "")
    return found


def profile_table(validator: Validator, url: str) -> ProfileTable:
    """Every element a profile of the package constrains (in this profile or those it derives
    from), in document order; unconstrained R4 elements are left out."""
    table = ProfileTable(url)
    tree = validator.compiler.tree(url)
    for node, path, depth in _walk(tree, tree.name, 0):
        if node.source.startswith(BASE) and node is not tree:
            continue
        table.rows.append(_row(validator, node, path, depth, url))
    return table


def _walk(node: Node, path: str, depth: int) -> Iterator[tuple[Node, str, int]]:
    """Nodes with their path from the resource (a datatype's elements carry their own names)."""
    yield node, path, depth
    for child in (node.children or {}).values():
        if _constrained(child):
            yield from _walk(child, f"{path}.{child.name}", depth + 1)
    for name, part in node.slices.items():
        yield from _walk(part, f"{path}:{name}", depth + 1)


def _constrained(node: Node) -> bool:
    """A node the package touches, or one with a touched descendant."""
    if not node.source.startswith(BASE) or node.slices:
        return True
    return any(_constrained(c) for c in (node.children or {}).values())


def _row(validator: Validator, node: Node, path: str, depth: int, url: str) -> Row:
    upper = "*" if node.max is None else str(node.max)
    slicing = None
    if node.slicing is not None:
        by = ", ".join(f"{d.type} {d.path}" for d in node.slicing.discriminators)
        slicing = f"sliced by {by} ({node.slicing.rules})"
    return Row(
        path=path,
        depth=depth,
        cardinality="" if depth == 0 else f"{node.min}..{upper}",
        types=[TypeCell(t.code, t.profiles, t.targets) for t in node.types],
        fixed=_json(node.fixed),
        pattern=_json(node.pattern),
        binding=node.binding,
        invariants=[Invariant(c.key, c.severity, c.human, c.expression) for c in node.constraints],
        identifier_rules=_identifier_rules(validator, node.fixed, node.pattern),
        slicing=slicing,
        source=node.source,
        own=node.source == url,
    )


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return orjson.dumps(value).decode() if isinstance(value, dict | list) else str(value)


def _identifier_rules(validator: Validator, *values: Any) -> list[IdentifierRule]:
    """The NamingSystems a fixed or pattern value names by system URI, with their rule."""
    terms = validator.terminology
    found: dict[str, IdentifierRule] = {}
    for value in values:
        for uri in _strings(value):
            ns = terms.lookup(uri)
            if ns is not None and ns.id not in found:
                resource = next(
                    (r for r in validator.package.resources("NamingSystem") if r.get("id") == ns.id), {}
                )
                found[ns.id] = IdentifierRule(ns.id, ns.rule, str(resource.get("description", "")))
    return list(found.values())


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
