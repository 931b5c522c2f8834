"""A StructureDefinition's differential names elements that exist: every `path` of a constraint on
an R4 type walks that type's element tree, and a choice element is named either `value[x]` or by
one of its types (`valueQuantity`), never by a type it does not allow (`valueBla`): the HL7
validator cannot generate a snapshot from such a differential, so the definition is unusable."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from adapter.validation.checkers import Where
from adapter.validation.snapshot import Node, TreeBuilder

if TYPE_CHECKING:
    from adapter.validation.context import Context


class DifferentialPaths:
    __slots__ = ("builder", "where")

    def __init__(self, builder: TreeBuilder, where: Where) -> None:
        self.builder = builder
        self.where = where

    def check(self, sd: Any, path: str, ctx: Context) -> None:
        rtype, differential = sd.get("type"), sd.get("differential")
        if sd.get("derivation") != "constraint" or type(rtype) is not str or type(differential) is not dict:
            return
        if rtype not in self.builder.core.types:
            return  # a constraint on a logical model or an unknown type: not ours to walk
        elements = differential.get("element")
        if type(elements) is not list:
            return
        root = self.builder.base_tree(rtype)
        for i, element in enumerate(elements):
            element_path = element.get("path") if type(element) is dict else None
            if type(element_path) is not str:
                continue
            wrong = self._wrong_segment(root, element_path)
            if wrong is not None:
                here = f"{path}.differential.element[{i}].path"
                ctx.add(
                    "error",
                    "structure",
                    f"{here}: {element_path!r} names no element of {rtype}: {wrong}"
                    f" ({self.where}, rule sd-differential-path).",
                    here,
                    "sd-differential-path",
                    self.where.url,
                )

    def _wrong_segment(self, root: Node, element_path: str) -> str | None:
        """Why the path does not resolve, or None when it does (or cannot be followed further)."""
        segments = element_path.split(".")
        if segments[0] != root.name:
            return f"it must start with {root.name!r}"
        children = root.children
        where = root.path
        for segment in segments[1:]:
            if children is None:
                return None  # inside a choice of several types: which one is the profile's to say
            child = children.get(segment)
            types = [t.code for t in child.types] if child is not None else _choice(children, segment)
            if types is None:
                return f"{where} has no element {segment!r}"
            where = f"{where}.{segment}"
            children = self._children(child, types)
        return None

    def _children(self, node: Node | None, types: list[str]) -> dict[str, Node] | None:
        """An element's children, read from the shared base trees (never expanded in place)."""
        if node is not None and node.children is not None:
            return node.children
        if node is not None and node.content_ref:
            type_name, _, rest = node.content_ref.partition(".")
            target: Node | None = self.builder.base_tree(type_name)
            for part in rest.split("."):
                target = (target.children or {}).get(part) if target is not None else None
            return target.children if target is not None else None
        if len(types) == 1 and types[0] in self.builder.core.types:
            return self.builder.base_tree(types[0]).children
        return None


def _choice(children: dict[str, Node], name: str) -> list[str] | None:
    """The type `valueQuantity` names, when value[x] allows Quantity; else None."""
    for key, node in children.items():
        stem = key[:-3]
        if node.choice and name.startswith(stem) and name != key:
            named = [t.code for t in node.types if t.code[:1].upper() + t.code[1:] == name[len(stem) :]]
            if named:
                return named
    return None
