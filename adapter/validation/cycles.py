"""Reference cycles: a Bundle whose references lead back to where they started is refused (a rule
of the message as a whole, checked after its profiles)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from adapter.fhir.bundle import BundleIndex
from adapter.fhir.issues import Issue


def reference_cycle(index: BundleIndex) -> Issue | None:
    """A chain of references inside the Bundle that leads back to where it started (a resource
    that is, through its references, part of itself): refused, so that nothing downstream that
    follows references (a receiver's system, a renderer) can loop."""
    edges = index.targets()
    done: set[int] = set()
    for start in edges:
        if start in done:
            continue
        on_path: set[int] = set()
        stack: list[tuple[int, Iterator[int]]] = [(start, iter(edges[start]))]
        on_path.add(start)
        while stack:
            node, targets = stack[-1]
            target = next(targets, None)
            if target is None:
                stack.pop()
                on_path.discard(node)
                done.add(node)
                continue
            if target in on_path:
                resource = next(e.resource for e in index.entries if e.index == node)
                where = next(w for t, w in _referenced(resource, index) if t == target)
                return Issue(
                    "error",
                    "invariant",
                    f"A reference cycle: Bundle.entry[{target}] refers back to itself through"
                    f" {len(stack)} reference(s).",
                    f"Bundle.entry[{node}].resource.{where}",
                    "reference-cycle",
                )
            if target not in done:
                on_path.add(target)
                stack.append((target, iter(edges[target])))
    return None


def _referenced(resource: dict[str, Any], index: BundleIndex) -> list[tuple[int, str]]:
    """(entry index, element path) of every reference in `resource` that resolves in the Bundle."""
    found: list[tuple[int, str]] = []
    stack: list[tuple[Any, str]] = [(resource, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            ref = value.get("reference")
            if isinstance(ref, str):
                entry = index.resolve(ref)
                if entry is not None:
                    found.append((entry.index, path))
            stack.extend((v, f"{path}.{k}" if path else k) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(value))
    return found
