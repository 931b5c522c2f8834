"""Conformance material no one here wrote, copied into tests/conformance (CC0 and public)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from adapter.config import PROJECT_ROOT

CONFORMANCE = PROJECT_ROOT / "tests" / "conformance"
VALID = sorted((CONFORMANCE / "r4-examples" / "valid").glob("*.json"))
INVALID = sorted((CONFORMANCE / "r4-examples" / "invalid").glob("*.json"))
CASES = CONFORMANCE / "fhir-test-cases"


def load(path: Path) -> dict[str, Any]:
    return orjson.loads(path.read_bytes())  # type: ignore[no-any-return]


def conformance_resources() -> list[tuple[Path, dict[str, Any]]]:
    """Every JSON object among the conformance files here (the examples and the HL7 cases), with
    its file."""
    found = []
    for path in [*VALID, *INVALID, *sorted((CASES / "cases").glob("*.json"))]:
        try:
            resource = load(path)
        except orjson.JSONDecodeError:
            continue
        if isinstance(resource, dict):
            found.append((path, resource))
    return found
