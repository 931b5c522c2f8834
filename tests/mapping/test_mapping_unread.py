"""What the canonical rules leave unread beyond the focus resource is reported, never silently
dropped: an element of the MessageHeader no field reads, an entry that nothing references. What the
header reaches through references travels with the case and is not reported."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path

import orjson
import pytest

from adapter.config import PROJECT_ROOT
from adapter.fhir.bundle import BundleIndex
from adapter.mapping.engine import Mapper
from tests.support.examples import EXAMPLES
from tests.support.validation_messages import lus_validator, message


@cache
def mapper() -> Mapper:
    return Mapper.from_dir(PROJECT_ROOT / "mappings", lus_validator().package)


def test_an_entry_nothing_references_is_a_warning_at_the_entry() -> None:
    bundle = copy.deepcopy(message("utskrivningsklar"))
    stray = {"resourceType": "Observation", "status": "final", "code": {"text": "NEWS2"}}
    bundle["entry"].append({"fullUrl": "urn:uuid:0b6a3d36-1f2e-4c55-9a1b-6f1c2d3e4f50", "resource": stray})
    _, warnings = mapper().to_event("canonical", BundleIndex(bundle))
    [warning] = warnings
    assert (warning.severity, warning.rule) == ("warning", "mapping-unmapped")
    assert warning.expression == f"Bundle.entry[{len(bundle['entry']) - 1}].resource"
    assert "Observation" in warning.message


def test_a_header_element_no_field_reads_is_a_warning_with_its_path() -> None:
    bundle = copy.deepcopy(message("andrat-utskrivningsdatum"))
    bundle["entry"][0]["resource"]["reason"] = {"text": "Ny bedömning"}
    _, warnings = mapper().to_event("canonical", BundleIndex(bundle))
    assert [(w.expression, w.rule) for w in warnings] == [
        ("Bundle.entry[0].resource.reason", "mapping-unmapped")
    ]


def test_an_entry_reached_only_through_other_entries_is_not_reported() -> None:
    """No utskrivningsklar rule reads the Patient (reached from Encounter.subject) or the vårdcentral
    (reached from Patient.generalPractitioner): they are the case, not news, and no warning."""
    bundle = message("utskrivningsklar")
    assert [e["resource"]["resourceType"] for e in bundle["entry"]].count("Patient") == 1
    _, warnings = mapper().to_event("canonical", BundleIndex(bundle))
    assert warnings == []


@pytest.mark.parametrize(
    "path",
    sorted((EXAMPLES / "bundles").glob("canonical*/*.json")),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_no_step_of_the_example_cases_leaves_anything_unread(path: Path) -> None:
    bundle = orjson.loads(path.read_bytes())
    _, warnings = mapper().to_event("canonical", BundleIndex(bundle))
    assert [w.expression for w in warnings] == []
