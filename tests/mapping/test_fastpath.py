"""The compiled path gives exactly fhirpathpy's result, for every rule expression in mappings/ and
every invariant in profiles/."""

from __future__ import annotations

import copy
import json
from typing import Any

import fhirpathpy
import pytest
import yaml
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models

from adapter.config import PROJECT_ROOT
from adapter.fhir.fhirpath import _compile_fast, _Unsupported, compile_expression
from adapter.mapping.dialects import DIALECT_FILE
from adapter.mapping.engine import extension_urls
from adapter.mapping.inbound import variables
from adapter.validation.terminology import Terminology
from adapter.validation.validator import Validator
from tests.support.validation_messages import entry, message

RULE_FILES = sorted(p for p in (PROJECT_ROOT / "mappings").glob("*/*.yaml") if p.name != DIALECT_FILE)
EXPRESSIONS = sorted(
    {field["path"] for path in RULE_FILES for field in yaml.safe_load(path.read_text())["fields"].values()}
)
EVENTS = ["inskrivningsmeddelande", "planeringsunderlag", "utskrivningsmeddelande", "meddelande"]


@pytest.fixture(scope="module")
def env() -> dict[str, Any]:
    package = Validator.from_path(PROJECT_ROOT / "profiles").package
    context = variables(Terminology.from_package(package), extension_urls(package))
    for path in RULE_FILES:
        context.update(yaml.safe_load(path.read_text()).get("constants", {}))
    return context


def resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [bundle, *(entry["resource"] for entry in bundle["entry"])]


def mutations(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """The resource, and variants with each list emptied, doubled or its first item's keys dropped."""
    out = [resource]
    for key, value in resource.items():
        if isinstance(value, list) and value:
            out += [{**resource, key: []}, {**resource, key: value + value}]
            if isinstance(value[0], dict):
                for inner in value[0]:
                    out.append({**resource, key: [{k: v for k, v in value[0].items() if k != inner}]})
        elif isinstance(value, dict):
            out += [{**resource, key: {k: v for k, v in value.items() if k != inner}} for inner in value]
    return out


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_every_rule_expression_takes_the_fast_path(expression: str) -> None:
    _compile_fast(expression)


@pytest.mark.parametrize("event", EVENTS)
@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_fast_path_equals_fhirpathpy(expression: str, event: str, env: dict[str, Any]) -> None:
    fast = _compile_fast(expression)
    slow = fhirpathpy.compile(expression, model=models["r4"])
    for resource in resources(message(event, performers=2)):
        for variant in mutations(resource):
            try:
                expected: Any = list(slow(variant, env))
            except Exception as exc:  # fhirpathpy raises bare exceptions
                expected = type(exc)
            try:
                got: Any = fast(variant, env)
            except TypeError:
                got = TypeError
            if expected is not TypeError and got is TypeError:
                pytest.fail(f"{expression} on {variant}: fast raised, fhirpathpy gave {expected}")
            if got is not TypeError:
                assert got == expected, f"{expression} on {variant}"


@pytest.mark.parametrize(
    "expression",
    [
        "identifier.single()",
        "period.start > @2026-01-01",
        "name.given.last()",
        "id.length()",
        "id.is(string)",
    ],
)
def test_other_expressions_go_to_fhirpathpy(expression: str) -> None:
    with pytest.raises(_Unsupported):
        _compile_fast(expression)
    resource = {"resourceType": "Patient", "id": "x", "identifier": [{"value": "a"}]}
    slow = fhirpathpy.compile(expression, model=models["r4"])
    assert compile_expression(expression)(resource, {}) == list(slow(resource, {}))


def _invariants() -> dict[str, tuple[str, str]]:
    """key → (the type it constrains, expression), for every constraint in profiles/."""
    found = {}
    for path in sorted((PROJECT_ROOT / "profiles").glob("StructureDefinition-*.json")):
        definition = json.loads(path.read_text(encoding="utf-8"))
        for element in definition.get("differential", {}).get("element", []):
            for constraint in element.get("constraint") or []:
                found[constraint["key"]] = (definition["type"], constraint["expression"])
    return found


INVARIANTS = _invariants()


def invariant_data() -> list[tuple[str, Any]]:
    """(type, instance) pairs meeting and breaking the LUS invariants, and their mutations."""
    patient = entry(message("inskrivningsmeddelande"), "Patient")
    appointment = entry(message("planeringsmote-bokat"), "Appointment")
    municipality = patient["address"][0]["extension"][1]
    no_municipality = copy.deepcopy(patient)
    del no_municipality["address"][0]["extension"][1]
    not_folkbokford = copy.deepcopy(patient)
    not_folkbokford["address"][0]["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] = "1"
    no_meeting_url = copy.deepcopy(appointment)
    no_meeting_url["extension"] = appointment["extension"][:1]
    in_person = copy.deepcopy(no_meeting_url)
    in_person["extension"][0]["valueCoding"]["code"] = "FACE"
    patients = [patient, no_municipality, not_folkbokford, {"resourceType": "Patient"}]
    appointments = [appointment, no_meeting_url, in_person, {"resourceType": "Appointment"}]
    codes = ["1480", "14x0", "01480", "", "148"]
    extensions = [{**municipality, "valueCoding": {**municipality["valueCoding"], "code": c}} for c in codes]
    return (
        [("Patient", v) for p in patients for v in mutations(p)]
        + [("Appointment", v) for a in appointments for v in mutations(a)]
        + [("Extension", v) for e in extensions for v in mutations(e)]
    )


@pytest.mark.parametrize("key", sorted(INVARIANTS))
def test_every_invariant_takes_the_fast_path(key: str) -> None:
    _compile_fast(INVARIANTS[key][1])


@pytest.mark.parametrize("key", sorted(INVARIANTS))
def test_invariants_on_the_fast_path_equal_fhirpathpy(key: str) -> None:
    env = Terminology.from_package(
        Validator.from_path(PROJECT_ROOT / "profiles").package
    ).fhirpath_variables()
    type_name, expression = INVARIANTS[key]
    fast = compile_expression(expression)
    slow = fhirpathpy.compile(expression, model=models["r4"])
    outcomes = set()
    for data_type, instance in invariant_data():
        if data_type != type_name:
            continue
        # As the validator calls it: a datatype is wrapped with its type, so that value is valueCoding.
        node = instance if type_name != "Extension" else ResourceNode.create_node(instance, "Extension")
        try:
            expected = list(slow(node, env))
        except Exception:  # fhirpathpy fails on some broken data (an extension
            continue  # without url), which other rules report; the compiled path just answers
        assert fast(node, env) == expected, f"{key} on {instance}"
        outcomes.add(str(expected))
    assert {"[True]", "[False]"} <= outcomes, f"{key} was never both met and broken: {outcomes}"


@pytest.mark.parametrize(
    "expression",
    [
        "id.exists() implies name.exists() or gender.exists()",
        "id.exists() or name.exists() implies gender.exists()",
        "id.exists() and name.empty() implies gender.exists() and id.exists()",
        "gender.exists() implies (name.exists() implies id.exists())",
        "name.given.exists() implies name.family.exists()",
    ],
)
def test_operators_bind_as_in_fhirpath(expression: str) -> None:
    fast, slow = _compile_fast(expression), fhirpathpy.compile(expression, model=models["r4"])
    patients: list[dict[str, Any]] = [
        {"resourceType": "Patient"},
        {"resourceType": "Patient", "id": "a"},
        {"resourceType": "Patient", "id": "a", "gender": "male"},
        {"resourceType": "Patient", "name": [{"given": ["Tolva"]}]},
        {"resourceType": "Patient", "id": "a", "name": [{"family": "Tolvansson"}], "gender": "female"},
    ]
    for patient in patients:
        assert fast(patient, {}) == list(slow(patient, {})), f"{expression} on {patient}"
