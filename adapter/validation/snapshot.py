"""Profiles as element trees: the R4 base structure of a type, with a StructureDefinition's
differential laid over it (the part of snapshot generation the validator needs).

A tree node is one element definition; a node's `children` are expanded from its datatype only
when a profile reaches inside it (Encounter.period.start), and its `slices` hold what a profile
says per slice (Patient.identifier:personnummer).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from adapter.validation.package import PackageError
from adapter.validation.r4 import BASE, CoreDefinitions


@dataclass(frozen=True, slots=True)
class TypeRef:
    code: str  # a datatype or resource name, e.g. "Reference", "dateTime", "Encounter"
    profiles: tuple[str, ...] = ()  # the type's profile (e.g. an Extension definition)
    targets: tuple[str, ...] = ()  # Reference / canonical: allowed target profiles (URLs)

    def __deepcopy__(self, memo: dict[int, Any]) -> TypeRef:
        return self  # immutable: a copied tree shares it (copying trees is most of compiling)


@dataclass(frozen=True, slots=True)
class Constraint:
    key: str
    severity: str  # error | warning
    human: str
    expression: str
    source: str  # URL of the StructureDefinition that declared it

    def __deepcopy__(self, memo: dict[int, Any]) -> Constraint:
        return self  # immutable: a copied tree shares it (copying trees is most of compiling)


@dataclass(frozen=True, slots=True)
class Discriminator:
    type: str  # value | pattern | type | exists
    path: str


@dataclass(frozen=True, slots=True)
class Slicing:
    discriminators: tuple[Discriminator, ...]
    rules: str  # open | closed | openAtEnd


@dataclass(slots=True)
class Node:
    path: str  # definitional path; slices as Patient.identifier:personnummer
    name: str  # the element's name in its parent, e.g. "identifier", "value[x]"
    min: int
    max: int | None  # None: unbounded
    base_max: int | None  # the base definition's max: decides array or single value in JSON
    types: list[TypeRef]
    base_types: tuple[str, ...] = ()  # the types R4 allows here: a choice restricted by a profile
    binding: str | None = None  # ValueSet URL of a required binding
    fixed: Any = None
    pattern: Any = None
    constraints: list[Constraint] = field(default_factory=list)
    slicing: Slicing | None = None
    slices: dict[str, Node] = field(default_factory=dict)
    children: dict[str, Node] | None = None  # None: as the datatype defines them
    content_ref: str | None = None
    slice_name: str | None = None
    source: str = ""  # URL of the StructureDefinition that last constrained this node

    @property
    def choice(self) -> bool:
        return self.name.endswith("[x]")


def _max(value: str | None) -> int | None:
    return None if value in (None, "*") else int(str(value))


class TreeBuilder:
    """Base trees from the R4 core definitions, and differentials applied to them."""

    def __init__(self, core: CoreDefinitions) -> None:
        self.core = core
        self._base: dict[str, Node] = {}

    def base_tree(self, type_name: str) -> Node:
        """The element tree of an R4 type (shared: copy before changing)."""
        tree = self._base.get(type_name)
        if tree is None:
            tree = self._build(type_name)
            self._base[type_name] = tree
        return tree

    def _build(self, type_name: str) -> Node:
        definition = self.core.types.get(type_name)
        if definition is None:
            raise PackageError(f"{type_name!r} is not an R4 resource or datatype")
        url = BASE + type_name
        root = Node(type_name, type_name, 0, None, None, [TypeRef(type_name)], children={}, source=url)
        root.constraints = _core_constraints(definition.get("constraints", ()), type_name)
        by_path = {type_name: root}
        for e in definition["elements"]:
            parent_path, _, name = e["path"].rpartition(".")
            parent = by_path[parent_path]
            node = Node(
                e["path"],
                name,
                e.get("min", 0),
                _max(e.get("max")),
                _max(e.get("max")),
                [
                    TypeRef(t["code"], (), tuple(BASE + x for x in t.get("targets", ())))
                    for t in e.get("types", [])
                ],
                base_types=tuple(t["code"] for t in e.get("types", [])),
                binding=e.get("binding"),
                content_ref=e.get("contentReference"),
                constraints=_core_constraints(e.get("constraints", ()), type_name),
                source=url,
            )
            if node.types and node.types[0].code in ("BackboneElement", "Element") and "." in e["path"]:
                node.children = {}
            assert parent.children is not None
            parent.children[name] = node
            by_path[e["path"]] = node
        return root

    def expand(self, node: Node) -> dict[str, Node]:
        """The children of a node, copied from its datatype (or content reference) on first need."""
        if node.children is None:
            if node.content_ref:
                type_name, _, rest = node.content_ref.partition(".")
                target = self.base_tree(type_name)
                for part in rest.split("."):
                    assert target.children is not None
                    target = target.children[part]
                node.children = copy.deepcopy(target.children or {})
            elif len(node.types) == 1:
                node.children = copy.deepcopy(self.base_tree(node.types[0].code).children or {})
            else:
                raise PackageError(
                    f"{node.path}: cannot constrain inside a choice of types; restrict the type"
                )
        return node.children

    def apply(self, tree: Node, sd: dict[str, Any]) -> Node:
        """A copy of `tree` with the differential of `sd` applied."""
        tree = copy.deepcopy(tree)
        url = sd["url"]
        for element in sd.get("differential", {}).get("element", []):
            node = self._find(tree, element.get("id") or element["path"], sd)
            _constrain(node, element, url)
        return tree

    def _find(self, root: Node, element_id: str, sd: dict[str, Any]) -> Node:
        segments = element_id.split(".")
        if segments[0] != root.name:
            raise PackageError(f"{sd['url']}: element {element_id} is not inside {root.name}")
        node = root
        for segment in segments[1:]:
            name, _, slice_name = segment.partition(":")
            children = self.expand(node)
            child = children.get(name) or _choice_by_type(children, name)
            if child is None:
                raise PackageError(f"{sd['url']}: {element_id}: {node.path} has no element {name!r}")
            if slice_name and child.choice and slice_name.startswith(child.name[:-3]):
                child = _restrict_choice(child, slice_name)  # value[x]:valueCoding
            elif slice_name:
                existing = child.slices.get(slice_name)
                if existing is None:
                    existing = copy.deepcopy(child)
                    existing.path, existing.slice_name = f"{child.path}:{slice_name}", slice_name
                    existing.min, existing.slicing, existing.slices = 0, None, {}
                    child.slices[slice_name] = existing
                child = existing
            node = child
        return node


def _core_constraints(constraints: Any, type_name: str) -> list[Constraint]:
    return [
        Constraint(c["key"], c["severity"], c["human"], c["expression"], BASE + (c["source"] or type_name))
        for c in constraints
    ]


def _choice_by_type(children: dict[str, Node], name: str) -> Node | None:
    """`valueCoding` names the Coding choice of `value[x]`."""
    for key, node in children.items():
        if node.choice and name.startswith(key[:-3]) and name != key:
            return _restrict_choice(node, name)
    return None


def _restrict_choice(node: Node, json_name: str) -> Node:
    suffix = json_name[len(node.name) - 3 :]
    node.types = [t for t in node.types if t.code[:1].upper() + t.code[1:] == suffix]
    return node


_TYPED = re.compile(r"^(fixed|pattern)([A-Z].*)$")


def _constrain(node: Node, e: dict[str, Any], url: str) -> None:
    node.source = url
    if "min" in e:
        node.min = int(e["min"])
    if "max" in e:
        node.max = _max(e["max"])
    if "type" in e:
        node.types = [
            TypeRef(t["code"], tuple(t.get("profile", ())), tuple(t.get("targetProfile", ())))
            for t in e["type"]
        ]
    for key, value in e.items():
        m = _TYPED.match(key)
        if m:
            setattr(node, m.group(1), value)
    binding = e.get("binding")
    if binding and binding.get("valueSet"):
        node.binding = binding["valueSet"].split("|")[0] if binding.get("strength") == "required" else None
    for c in e.get("constraint", []):
        if not c.get("expression"):
            raise PackageError(f"{url}: constraint {c.get('key')} on {node.path} has no FHIRPath expression")
        node.constraints.append(
            Constraint(c["key"], c.get("severity", "error"), c.get("human", c["key"]), c["expression"], url)
        )
    if "slicing" in e:
        s = e["slicing"]
        node.slicing = Slicing(
            tuple(Discriminator(d["type"], d["path"]) for d in s.get("discriminator", [])),
            s.get("rules", "open"),
        )
