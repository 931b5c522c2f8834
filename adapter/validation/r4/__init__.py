"""The FHIR R4 (4.0.1) base definitions, as data generated from the official core package
(see generate.py): every resource and datatype with its elements, the primitive formats, and the
codes of the required value sets, and the core profiles the validator applies (the extensions the
core defines, the vital-signs family). Read once; nothing is fetched at run time."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import orjson

DEFINITIONS = Path(__file__).with_name("definitions.json")
BASE = "http://hl7.org/fhir/StructureDefinition/"


@dataclass(frozen=True)
class CoreDefinitions:
    package: str
    primitives: dict[str, dict[str, Any]]  # name → {"json": kind, "regex": ...}
    types: dict[str, dict[str, Any]]  # name → {"kind", "abstract", "base", "elements": [...]}
    profiles: dict[str, dict[str, Any]]  # url → the core's extensions and vital-signs profiles
    value_sets: dict[str, dict[str, list[str]]]  # url → system → codes

    def is_resource(self, name: str) -> bool:
        definition = self.types.get(name)
        return definition is not None and definition["kind"] == "resource"


@cache
def load_core() -> CoreDefinitions:
    data = orjson.loads(DEFINITIONS.read_bytes())
    return CoreDefinitions(
        data["package"], data["primitives"], data["types"], data["profiles"], data["valueSets"]
    )
