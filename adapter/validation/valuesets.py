"""Expanding ValueSets into code lists, from the CodeSystems at hand (no terminology server).

Used twice: by the R4 generator for the core's required bindings, and at start-up for the
ValueSets of the loaded packages (e.g. the LUS care-plan types bound to CarePlan.category).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Codes = dict[str, list[str]]  # system → codes


def _concepts(concepts: list[dict[str, Any]]) -> list[str]:
    codes: list[str] = []
    for concept in concepts:
        codes.append(concept["code"])
        codes += _concepts(concept.get("concept", []))
    return codes


class Expander:
    def __init__(self, value_sets: Iterable[dict[str, Any]], code_systems: Iterable[dict[str, Any]]) -> None:
        self.value_sets = {vs["url"]: vs for vs in value_sets if "url" in vs}
        self.code_systems = {cs["url"]: cs for cs in code_systems if "url" in cs}

    def expand(self, url: str) -> Codes | None:
        """system → codes, or None when the value set cannot be enumerated from what is loaded
        (a filter, or a code system that is not here in full)."""
        vs = self.value_sets.get(url.split("|")[0])
        if vs is None or "compose" not in vs:
            return None
        included = self._part(vs["compose"].get("include", []))
        if included is None:
            return None
        excluded = self._part(vs["compose"].get("exclude", [])) or {}
        return {
            system: sorted(set(codes) - set(excluded.get(system, []))) for system, codes in included.items()
        }

    def _part(self, parts: list[dict[str, Any]]) -> Codes | None:
        result: Codes = {}
        for part in parts:
            if part.get("filter"):
                return None
            for nested in part.get("valueSet", []):
                codes = self.expand(nested)
                if codes is None:
                    return None
                for nested_system, values in codes.items():
                    result.setdefault(nested_system, []).extend(values)
            system = part.get("system")
            if not system:
                continue
            if part.get("concept"):
                result.setdefault(system, []).extend(c["code"] for c in part["concept"])
                continue
            cs = self.code_systems.get(system)
            if cs is None or cs.get("content") != "complete":
                return None
            result.setdefault(system, []).extend(_concepts(cs.get("concept", [])))
        return result
