"""The validator's shortcuts around FHIRPath give fhirpathpy's answers: the R4 invariants run in
Python or through new parts of the compiled subset, on a conforming and a violating instance each,
and the `or` shortcuts on absent keys (choice names too) on every conformance file here."""

from __future__ import annotations

import copy
from typing import Any

import fhirpathpy
import pytest
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models

from adapter.config import PROJECT_ROOT
from adapter.fhir.fhirpath import _OPTIONS, _compile_fast, _unescape, _Unsupported, compile_expression
from adapter.validation import compiler as compiler_module
from adapter.validation import invariants
from adapter.validation.invariants import GUARDS, PYTHON, PYTHON_IN_RESOURCE, sufficient_keys
from adapter.validation.r4 import load_core
from adapter.validation.validator import Validator
from tests.support.conformance import conformance_resources


def expression(type_name: str, key: str) -> str:
    definition = load_core().types[type_name]
    constraints = [
        *definition["constraints"],
        *(c for e in definition["elements"] for c in e.get("constraints", ())),
    ]
    return next(c["expression"] for c in constraints if c["key"] == key)


def fhirpathpy_answer(text: str, focus: Any, resource: Any) -> list[Any]:
    env = {"resource": resource, "rootResource": resource}
    return list(fhirpathpy.compile(text, model=models["r4"], options=_OPTIONS)(focus, env))


def code_system(top: list[str], nested: list[str], contained: list[str] | None = None) -> dict[str, Any]:
    system: dict[str, Any] = {
        "resourceType": "CodeSystem",
        "status": "draft",
        "content": "complete",
        "concept": [{"code": c} for c in top],
    }
    system["concept"][0]["concept"] = [{"code": c, "concept": [{"code": c + "-child"}]} for c in nested]
    if contained is not None:
        system["contained"] = [
            {
                "resourceType": "ValueSet",
                "id": "vs",
                "compose": {"include": [{"concept": [{"code": c} for c in contained]}]},
            }
        ]
    return system


@pytest.mark.parametrize(
    ("system", "distinct"),
    [
        (code_system(["a", "b"], ["c", "d"]), True),
        (code_system(["a", "b"], ["c", "a"]), False),  # a nested code repeats a top one
        (code_system(["a"], ["c", "c-child"]), False),  # a grandchild repeats a child
        (code_system(["a"], ["c"], contained=["a"]), False),  # a contained ValueSet's concept, a descendant
        (code_system(["a", "a"], []), False),
    ],
)
def test_csd_1_in_python_answers_as_fhirpathpy(system: dict[str, Any], distinct: bool) -> None:
    text = expression("CodeSystem", "csd-1")
    assert PYTHON["csd-1"](system) == fhirpathpy_answer(text, system, system) == [distinct]


def test_csd_1_leaves_a_code_that_is_not_a_string_to_fhirpathpy() -> None:
    system = code_system(["a"], [])
    system["concept"][0]["code"] = 1
    assert PYTHON["csd-1"](system) is None
    evaluate = compiler_module._python(PYTHON["csd-1"], compile_expression(expression("CodeSystem", "csd-1")))
    assert evaluate(system, {}) == fhirpathpy_answer(expression("CodeSystem", "csd-1"), system, system)


def structure_definition(paths: list[str]) -> dict[str, Any]:
    return {
        "resourceType": "StructureDefinition",
        "kind": "resource",
        "type": "Patient",
        "differential": {"element": [{"path": p} for p in paths]},
    }


@pytest.mark.parametrize(
    ("paths", "met"),
    [
        (["Patient", "Patient.name", "Patient.name.given"], True),
        (["Patient.name", "Patient.gender"], True),  # the first path's head names the others' root
        (["Patient", "Observation.code"], False),
        (["Patient.name", "Observation.code"], False),
    ],
)
def test_sdf_8a_with_replace_matches_compiled_answers_as_fhirpathpy(paths: list[str], met: bool) -> None:
    text = expression("StructureDefinition", "sdf-8a")
    sd = structure_definition(paths)
    fast = _compile_fast(text)  # replaceMatches is in the compiled subset: no fallback
    env = {"resource": sd, "rootResource": sd}
    assert fast(sd["differential"], env) == fhirpathpy_answer(text, sd["differential"], sd) == [met]


@pytest.mark.parametrize(
    "text",
    [
        "id.replaceMatches('[aeiou]', '')",
        "id.replaceMatches('\\\\..*', '') & '.'",
        "id.replaceMatches('(a)(b)', '$2$1')",  # group references: fhirpathpy's
        "name.given.replaceMatches('a', 'b')",  # more than one string: fhirpathpy's
    ],
)
def test_replace_matches_answers_as_fhirpathpy(text: str) -> None:
    patients: list[dict[str, Any]] = [
        {"resourceType": "Patient"},
        {"resourceType": "Patient", "id": "abc.def.ab"},
        {"resourceType": "Patient", "name": [{"given": ["Tolva", "Anna"]}]},
    ]
    fast = _compile_fast(text)
    for patient in patients:
        try:
            expected = fhirpathpy_answer(text, patient, patient)
        except Exception:  # fhirpathpy fails: nothing to compare with
            continue
        assert fast(patient, {}) == expected, f"{text} on {patient}"


@pytest.mark.parametrize(
    "text",
    [
        "id.exists() or name.given.toInteger() > 0",  # the right operand cannot be evaluated here
        "id.empty() and gender = 'male'",
        "id.empty() implies name.exists()",
        "id.exists() xor gender.exists()",
    ],
)
def test_a_deciding_left_operand_gives_fhirpathpys_answer(text: str) -> None:
    patients: list[dict[str, Any]] = [
        {"resourceType": "Patient"},
        {"resourceType": "Patient", "id": "a", "name": [{"given": ["Tolva"]}]},
        {"resourceType": "Patient", "gender": "male"},
        {"resourceType": "Patient", "id": "a", "gender": "female"},
    ]
    fast = _compile_fast(text)
    for patient in patients:
        try:
            expected = fhirpathpy_answer(text, patient, patient)
        except Exception:  # fhirpathpy fails: nothing to compare with
            continue
        assert fast(patient, {}) == expected, f"{text} on {patient}"


def test_a_choice_name_absent_is_a_sufficient_key() -> None:
    choices = compiler_module._CHOICE_NAMES
    assert sufficient_keys("fixed.empty() or (type.count() <= 1)", choices) == ((), (), ("fixed",))
    assert sufficient_keys("pattern.empty() or fixed.empty()", choices) == ((), (), ("pattern", "fixed"))
    assert sufficient_keys("fixed.exists() or type.empty()", choices) == ((), ("type",), ())


def test_one_exists_operand_alone_is_a_sufficient_key() -> None:
    choices = compiler_module._CHOICE_NAMES
    assert sufficient_keys("expression.exists()", choices) == (("expression",), (), ())
    assert sufficient_keys("(key.empty())", choices) == ((), ("key",), ())
    assert sufficient_keys("key.exists() = true", choices) == ((), (), ())
    assert sufficient_keys("key.exists() and name.exists()", choices) == ((), (), ())


def test_an_element_definition_breaking_eld_6_is_rejected() -> None:
    validator = Validator.from_path(PROJECT_ROOT / "profiles")
    sd = {
        "resourceType": "StructureDefinition",
        "url": "http://example.org/StructureDefinition/x",
        "name": "X",
        "status": "draft",
        "kind": "resource",
        "abstract": False,
        "type": "Patient",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",
        "derivation": "constraint",
        "differential": {
            "element": [
                {"id": "Patient", "path": "Patient"},
                {
                    "id": "Patient.gender",
                    "path": "Patient.gender",
                    "type": [{"code": "code"}, {"code": "string"}],
                },
            ]
        },
    }
    assert not [i for i in validator.validate(copy.deepcopy(sd)) if i.rule == "eld-6"]
    sd["differential"]["element"][1]["fixedCode"] = "male"
    assert [i.rule for i in validator.validate(sd) if i.blocking] == ["eld-6"]


def test_the_sufficient_key_shortcut_never_changes_an_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every `or` evaluated in full, on every file here, finds what the shortcut finds."""
    resources = [resource for _path, resource in conformance_resources()]
    fast = Validator.from_path(PROJECT_ROOT / "profiles", unknown_modifier_extensions="warn")
    monkeypatch.setattr(compiler_module, "sufficient_keys", lambda _expression, _choices: ((), (), ()))
    full = Validator.from_path(PROJECT_ROOT / "profiles", unknown_modifier_extensions="warn")
    for resource in resources:
        assert fast.validate(copy.deepcopy(resource)) == full.validate(copy.deepcopy(resource))


def definition_with(root: dict[str, Any], url: str, codes: list[Any]) -> dict[str, Any]:
    sd = structure_definition(["Patient", "Patient.name"])
    sd["url"] = url
    sd["differential"]["element"][0].update(root)
    sd["snapshot"] = {"element": [{"path": "Patient.name", "type": [{"code": c} for c in codes]}]}
    return sd


@pytest.mark.parametrize(
    ("key", "sd", "answer"),
    [
        ("sdf-9", definition_with({}, "http://example.org/x", []), [True]),
        ("sdf-9", definition_with({"label": "Patient"}, "http://example.org/x", []), [False]),
        ("sdf-9", definition_with({"requirements": "why"}, "http://example.org/x", []), [False]),
        ("sdf-19", definition_with({}, "http://hl7.org/fhir/StructureDefinition/x", ["HumanName"]), [True]),
        (
            "sdf-19",
            definition_with(
                {}, "http://hl7.org/fhir/StructureDefinition/x", ["http://hl7.org/fhirpath/System.String"]
            ),
            [True],
        ),
        ("sdf-19", definition_with({}, "http://hl7.org/fhir/StructureDefinition/x", ["Human-Name"]), [False]),
        ("sdf-19", definition_with({}, "http://example.org/x", ["Human-Name"]), [True]),
        (
            "sdf-19",
            {**definition_with({}, "", ["Human-Name"]), "url": None},
            [],
        ),  # no url: empty implies false
    ],
)
def test_structure_definition_invariants_in_python_answer_as_fhirpathpy(
    key: str, sd: dict[str, Any], answer: list[bool]
) -> None:
    assert PYTHON[key](sd) == fhirpathpy_answer(expression("StructureDefinition", key), sd, sd) == answer


@pytest.mark.parametrize(
    ("element", "answer"),
    [
        ({"path": "Patient.name", "min": 0, "max": "*"}, [True]),
        ({"path": "Patient.name", "min": 1, "max": "1"}, [True]),
        ({"path": "Patient.name", "min": 2, "max": "1"}, [False]),
        ({"path": "Patient.name", "max": "1"}, [True]),
        ({"path": "Patient.name", "min": 1, "max": "many"}, []),
    ],
)
def test_eld_2_in_python_answers_as_fhirpathpy(element: dict[str, Any], answer: list[bool]) -> None:
    node = ResourceNode.create_node(element, "ElementDefinition")
    text = expression("ElementDefinition", "eld-2")
    assert PYTHON["eld-2"](element) == list(fhirpathpy.compile(text, model=models["r4"])(node, {})) == answer


def test_python_invariants_leave_data_they_do_not_model_to_the_expression() -> None:
    assert PYTHON["eld-2"]({"min": "1", "max": "1"}) is None
    assert PYTHON["sdf-9"]({"differential": {"element": [{"path": ["a", "b"]}]}}) is None
    assert (
        PYTHON["sdf-19"](
            {
                "url": "http://hl7.org/fhir/StructureDefinition/x",
                "snapshot": {"element": [{"type": [{"code": 1}]}]},
            }
        )
        is None
    )


@pytest.mark.parametrize(
    ("key", "change", "answer"),
    [
        ("sdf-3", {}, [True]),
        ("sdf-3", {"definition": None}, [False]),
        ("sdf-23", {}, [True]),
        ("sdf-23", {"sliceName": "a"}, [False]),  # the root element sliced
        ("sdf-23", {"sliceName": "a", "path": None}, [False]),  # no path: empty implies false
        ("sdf-16", {}, [True]),
        ("sdf-16", {"id": "Patient.name"}, [False]),  # two elements, one id
        ("sdf-16", {"id": None}, [False]),
    ],
)
def test_snapshot_invariants_in_python_answer_as_fhirpathpy(
    key: str, change: dict[str, Any], answer: list[bool]
) -> None:
    root = {"id": "Patient", "path": "Patient", "definition": "d", "min": 0, "max": "*"}
    name = {"id": "Patient.name", "path": "Patient.name", "definition": "d", "min": 0, "max": "*"}
    sd = structure_definition([])
    sd["snapshot"] = {"element": [{k: v for k, v in {**root, **change}.items() if v is not None}, name]}
    focus = sd["snapshot"] if key == "sdf-3" else sd
    assert (
        PYTHON[key](focus) == fhirpathpy_answer(expression("StructureDefinition", key), focus, sd) == answer
    )


def bundle(kind: Any, **parts: Any) -> dict[str, Any]:
    entries = [{"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient"}}]
    return {"resourceType": "Bundle", "type": kind, "entry": entries, **parts}


@pytest.mark.parametrize(
    ("key", "data", "answer"),
    [
        ("bdl-2", bundle("collection"), [True]),
        ("bdl-2", bundle("searchset", entry=[{"search": {"mode": "match"}}]), [True]),
        ("bdl-2", bundle("collection", entry=[{}, {"search": {"mode": "match"}}]), [False]),
        ("bdl-2", bundle(None, entry=[{"search": {"mode": "match"}}]), []),  # false or empty
        ("bdl-9", bundle("message"), [True]),
        ("bdl-9", bundle("document", identifier={"system": "urn:ietf:rfc:3986", "value": "x"}), [True]),
        ("bdl-9", bundle("document", identifier={"value": "x"}), [False]),
        ("bdl-9", bundle("document"), [False]),
        ("bdl-9", bundle(None), []),  # empty implies false
        ("bdl-9", bundle(None, identifier={"system": "urn:ietf:rfc:3986", "value": "x"}), [True]),
        ("bdl-10", bundle("message"), [True]),
        ("bdl-10", bundle("document", timestamp="2026-12-06T10:00:00+01:00"), [True]),
        ("bdl-10", bundle("document"), [False]),
        ("bdl-10", bundle(None), []),
        ("bdl-3", bundle("message"), [True]),
        ("bdl-3", bundle("message", entry=[{}, {"request": {"method": "GET", "url": "Patient"}}]), [False]),
        ("bdl-3", bundle("batch", entry=[{"request": {"method": "GET", "url": "Patient"}}]), [True]),
        ("bdl-3", bundle("batch"), [False]),
        ("bdl-4", bundle("message", entry=[{"response": {"status": "200"}}]), [False]),
        ("bdl-4", bundle("batch-response", entry=[{"response": {"status": "200"}}, {}]), [False]),
        ("bdl-4", bundle("batch-response", entry=[{"response": {"status": "200"}}]), [True]),
    ],
)
def test_bundle_invariants_in_python_answer_as_fhirpathpy(
    key: str, data: dict[str, Any], answer: list[bool]
) -> None:
    data = {k: v for k, v in data.items() if v is not None}
    assert PYTHON[key](data) == fhirpathpy_answer(expression("Bundle", key), data, data) == answer


@pytest.mark.parametrize(
    ("organization", "answer"),
    [
        ({"name": "Vårdcentralen Väster"}, [True]),
        ({"identifier": [{"value": "SE2321000131-F000000000001"}]}, [True]),
        ({"active": True}, [False]),
        ({"identifier": [], "alias": ["VC"]}, [False]),
    ],
)
def test_org_1_in_python_answers_as_fhirpathpy(organization: dict[str, Any], answer: list[bool]) -> None:
    data = {"resourceType": "Organization", **organization}
    text = expression("Organization", "org-1")
    assert PYTHON["org-1"](data) == fhirpathpy_answer(text, data, data) == answer
    assert PYTHON["org-1"]({**data, "_name": {"extension": []}}) is None


def test_bundle_invariants_leave_primitive_extensions_to_the_expression() -> None:
    assert PYTHON["bdl-2"](bundle(["searchset", "batch"], entry=[{"search": {}}])) is None
    assert PYTHON["bdl-9"](bundle("document", identifier={"_value": {"extension": []}})) is None
    assert PYTHON["bdl-10"](bundle("document", _timestamp={"extension": []})) is None


@pytest.mark.parametrize("maximum", ["*", "0", "1", "+12", "-1", "many", "1.5", ""])
def test_eld_3_is_evaluated_unless_its_guard_knows_it_met(maximum: str) -> None:
    text = expression("ElementDefinition", "eld-3")
    answer = list(fhirpathpy.compile(text, model=models["r4"])(maximum, {}))
    assert GUARDS["eld-3"](maximum) or answer == [True]
    assert GUARDS["eld-3"](maximum) == (maximum in ("-1", "many", "1.5", ""))


def patient_with_contained(reference: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "contained": [{"resourceType": "Organization", "id": "org"}],
        "managingOrganization": {"reference": reference},
    }


@pytest.mark.parametrize(
    ("reference", "answer"),
    [
        ("#org", [True]),
        ("#other", [False]),  # no contained resource of that id
        ("#", []),  # substring(1) of '#' is empty: so is `in`, and false or empty
        ("Organization/1", [True]),
    ],
)
def test_ref_1_with_substring_compiled_answers_as_fhirpathpy(reference: str, answer: list[bool]) -> None:
    text = expression("Reference", "ref-1")
    patient = patient_with_contained(reference)
    focus = patient["managingOrganization"]
    fast = _compile_fast(text)  # substring is in the compiled subset: no fallback
    env = {"resource": patient, "rootResource": patient}
    assert fast(focus, env) == fhirpathpy_answer(text, focus, patient) == answer


LOINC_HEART_RATE = {"system": "http://loinc.org", "code": "8867-4"}


@pytest.mark.parametrize(
    ("component_coding", "value", "answer"),
    [
        ({"system": "http://loinc.org", "code": "8480-6"}, {"valueString": "x"}, [True]),
        (LOINC_HEART_RATE, {"valueString": "x"}, [False]),  # a component's code is the Observation's
        ({"code": "8867-4", "system": "http://loinc.org"}, {"valueString": "x"}, [False]),  # keys' order
        ({**LOINC_HEART_RATE, "display": "Heart rate"}, {"valueString": "x"}, [True]),  # another Coding
        (LOINC_HEART_RATE, {}, [True]),  # no value: met
    ],
)
def test_obs_7_with_intersect_compiled_answers_as_fhirpathpy(
    component_coding: dict[str, Any], value: dict[str, Any], answer: list[bool]
) -> None:
    text = expression("Observation", "obs-7")
    observation = {
        "resourceType": "Observation",
        "code": {"coding": [dict(LOINC_HEART_RATE)]},
        **value,
        "component": [{"code": {"coding": [component_coding]}}],
    }
    fast = _compile_fast(text)  # intersect of a %variable path is in the compiled subset
    env = {"resource": observation, "rootResource": observation}
    assert fast(observation, env) == fhirpathpy_answer(text, observation, observation) == answer


def test_intersect_of_a_path_from_the_focus_is_left_to_fhirpathpy() -> None:
    with pytest.raises(_Unsupported):
        _compile_fast("name.given.intersect(name.family)")


def element_definition_answer(key: str, element: dict[str, Any]) -> list[Any]:
    node = ResourceNode.create_node(element, "ElementDefinition")
    text = expression("ElementDefinition", key)
    return list(fhirpathpy.compile(text, model=models["r4"], options=_OPTIONS)(node, {}))


NAME = {"path": "Patient.name", "min": 0, "max": "*"}


@pytest.mark.parametrize(
    ("key", "element", "answer"),
    [
        ("eld-13", {**NAME, "type": [{"code": "HumanName"}]}, [True]),
        ("eld-13", {**NAME, "type": [{"code": "Reference"}, {"code": "Reference"}]}, [False]),
        ("eld-13", NAME, [True]),
        ("eld-14", {**NAME, "constraint": [{"key": "a-1"}, {"key": "a-2"}]}, [True]),
        ("eld-14", {**NAME, "constraint": [{"key": "a-1"}, {"key": "a-1"}]}, [False]),
        ("eld-18", NAME, [True]),
        ("eld-18", {**NAME, "isModifier": False}, [True]),
        ("eld-18", {**NAME, "isModifier": True, "isModifierReason": "why"}, [True]),
        ("eld-18", {**NAME, "isModifier": True}, [False]),
        ("eld-11", {**NAME, "binding": {"strength": "required"}, "type": [{"code": "code"}]}, [True]),
        # as written, met by any coded element: select() keeps `code = 'Period'`'s false
        ("eld-11", {**NAME, "binding": {"strength": "required"}, "type": [{"code": "Period"}]}, [True]),
        ("eld-11", {**NAME, "binding": {"strength": "required"}, "type": [{}]}, [True]),
        ("eld-19", NAME, [True]),
        ("eld-19", {**NAME, "path": "Observation.value[x]:valueQuantity"}, [True]),
        ("eld-19", {**NAME, "path": "..."}, [False]),
        ("eld-19", {"min": 0}, []),
        ("eld-20", NAME, [True]),
        ("eld-20", {**NAME, "path": "1.2"}, [False]),
        ("eld-20", {"min": 0}, []),
    ],
)
def test_element_definition_invariants_in_python_answer_as_fhirpathpy(
    key: str, element: dict[str, Any], answer: list[bool]
) -> None:
    assert PYTHON[key](element) == element_definition_answer(key, element) == answer


@pytest.mark.parametrize(
    ("owner", "key", "pattern"),
    [
        ("ElementDefinition", "eld-19", invariants._ELD_19),
        ("ElementDefinition", "eld-20", invariants._ELD_20),
        ("StructureDefinition", "sdf-0", invariants._COMPUTABLE_NAME),
        ("ValueSet", "vsd-0", invariants._COMPUTABLE_NAME),
    ],
)
def test_patterns_in_python_are_r4s(owner: str, key: str, pattern: str) -> None:
    text = expression(owner, key)
    assert _unescape(text[text.index("'") + 1 : text.rindex("'")]) == pattern


def test_element_definition_invariants_leave_data_they_do_not_model_to_the_expression() -> None:
    assert PYTHON["eld-13"]({"type": [{"code": 1}]}) is None
    assert PYTHON["eld-18"]({"isModifier": "true"}) is None
    assert PYTHON["eld-11"]({"binding": {}, "type": [{"code": ["code", "uri"]}]}) is None
    assert PYTHON["eld-19"]({"path": ["a", "b"]}) is None


def snapshot_definition(*paths: str, **parts: Any) -> dict[str, Any]:
    elements = [{"id": p, "path": p, "base": {"path": p}} for p in paths]
    sd = structure_definition(list(paths))
    sd["differential"]["element"] = [{"id": p, "path": p} for p in paths]
    sd.update({"url": "http://example.org/x", "snapshot": {"element": elements}, **parts})
    return {k: v for k, v in sd.items() if v is not None}


@pytest.mark.parametrize(
    ("key", "sd", "answer"),
    [
        ("sdf-1", snapshot_definition("Patient", "Patient.name"), [True]),
        ("sdf-1", snapshot_definition("Patient", "Patient.name", "Patient.name"), []),  # no derivation
        (
            "sdf-1",
            snapshot_definition("Patient", "Patient.name", "Patient.name", derivation="specialization"),
            [False],
        ),
        (
            "sdf-1",
            snapshot_definition("Patient", "Patient.name", "Patient.name", derivation="constraint"),
            [True],
        ),
        ("sdf-14", snapshot_definition("Patient", "Patient.name"), [True]),
        (
            "sdf-14",
            {**snapshot_definition("Patient"), "differential": {"element": [{"path": "Patient"}]}},
            [False],
        ),
        ("sdf-22", snapshot_definition("Patient", url="http://hl7.org/fhir/StructureDefinition/x"), [True]),
        (
            "sdf-22",
            {
                **snapshot_definition("Patient", url="http://hl7.org/fhir/StructureDefinition/x"),
                "differential": {"element": [{"path": "Patient", "defaultValueBoolean": True}]},
            },
            [False],
        ),
        (
            "sdf-22",
            {
                **snapshot_definition("Patient", url=None),
                "differential": {"element": [{"path": "Patient", "defaultValueString": "x"}]},
            },
            [],  # empty implies false
        ),
        (
            "sdf-22",
            {
                **snapshot_definition("Patient"),
                "differential": {"element": [{"path": "Patient", "defaultValueString": "x"}]},
            },
            [True],  # not a core definition
        ),
    ],
)
def test_more_structure_definition_invariants_in_python_answer_as_fhirpathpy(
    key: str, sd: dict[str, Any], answer: list[bool]
) -> None:
    assert PYTHON[key](sd) == fhirpathpy_answer(expression("StructureDefinition", key), sd, sd) == answer


@pytest.mark.parametrize(
    ("sd", "answer"),
    [
        (snapshot_definition("Patient", "Patient.name"), [True]),
        ({**snapshot_definition("Patient"), "snapshot": {"element": [{"path": "Patient"}]}}, [False]),
    ],
)
def test_sdf_8b_in_python_answers_as_fhirpathpy(sd: dict[str, Any], answer: list[bool]) -> None:
    snapshot = sd["snapshot"]
    text = expression("StructureDefinition", "sdf-8b")
    assert PYTHON["sdf-8b"](snapshot) == fhirpathpy_answer(text, snapshot, sd) == answer


@pytest.mark.parametrize(
    ("paths", "parts", "answer"),
    [
        (["Patient", "Patient.name", "Patient.name.given"], {}, [True]),
        (["Patient", "Observation.code"], {}, [False]),  # not under the first path
        (["Observation", "Observation.code"], {}, [False]),  # the first path is not the type
        (["Observation", "Observation.code"], {"kind": "logical"}, [True]),
        (["Observation", "Observation.code"], {"kind": None}, []),  # empty or false: empty
        (["Patient.name", "Patient.name.given"], {}, [False]),  # sdf-8: the first path is the type
        (["Patient"], {"type": None}, []),
        (["Patient", "Patient.name"], {"type": None, "kind": "logical"}, [True]),
    ],
)
def test_sdf_8_and_8a_in_python_answer_as_fhirpathpy(
    paths: list[str], parts: dict[str, Any], answer: list[bool]
) -> None:
    sd = snapshot_definition(*paths, **parts)
    for key, part in (("sdf-8", "snapshot"), ("sdf-8a", "differential")):
        focus = sd[part]
        expected = fhirpathpy_answer(expression("StructureDefinition", key), focus, sd)
        assert PYTHON_IN_RESOURCE[key](focus, sd) == expected, key
        if key == "sdf-8":
            assert expected == answer


def test_sdf_8a_reads_the_root_of_a_differential_that_starts_below_it() -> None:
    sd = snapshot_definition("Patient.name", "Patient.name.given", "Patient.gender")
    text = expression("StructureDefinition", "sdf-8a")
    assert (
        PYTHON_IN_RESOURCE["sdf-8a"](sd["differential"], sd)
        == fhirpathpy_answer(text, sd["differential"], sd)
        == [True]
    )
    sd["differential"]["element"].append({"path": "Observation.code"})
    assert PYTHON_IN_RESOURCE["sdf-8a"](sd["differential"], sd) == [False]


def test_structure_definition_invariants_leave_data_they_do_not_model_to_the_expression() -> None:
    sd = snapshot_definition("Patient", "Patient.name")
    assert PYTHON_IN_RESOURCE["sdf-8"](sd["snapshot"], {**sd, "kind": ["resource", "logical"]}) is None
    sd["snapshot"]["element"][1]["path"] = ["Patient.name", "Patient.gender"]
    assert PYTHON_IN_RESOURCE["sdf-8"](sd["snapshot"], sd) is None
    sd["snapshot"]["element"][1]["path"] = 1
    assert PYTHON["sdf-1"](sd) is None
    assert PYTHON["sdf-22"]({**sd, "url": ["http://hl7.org/fhir/StructureDefinition/x"] * 2}) is None


def with_parts(sd: dict[str, Any], **parts: Any) -> dict[str, Any]:
    return {k: v for k, v in {**sd, **parts}.items() if v is not None}


EXTENSION = snapshot_definition("Extension", "Extension.url", type="Extension")


@pytest.mark.parametrize(
    ("key", "sd", "answer"),
    [
        ("sdf-0", snapshot_definition("Patient", name="LusPatient"), [True]),
        ("sdf-0", snapshot_definition("Patient", name="lus-patient"), [False]),
        ("sdf-0", snapshot_definition("Patient"), []),
        ("sdf-5", EXTENSION, []),  # no derivation: false or empty
        ("sdf-5", with_parts(EXTENSION, context=[{"type": "element", "expression": "Patient"}]), [True]),
        ("sdf-5", with_parts(EXTENSION, derivation="specialization"), [True]),
        ("sdf-5", with_parts(EXTENSION, derivation="constraint"), [False]),
        ("sdf-5", with_parts(EXTENSION, type=None), []),
        ("sdf-5", snapshot_definition("Patient"), [True]),
        ("sdf-11", snapshot_definition("Patient", "Patient.name"), [True]),
        ("sdf-11", snapshot_definition("Observation", "Observation.code"), [False]),
        ("sdf-11", snapshot_definition("Observation", kind="logical"), [True]),
        ("sdf-11", snapshot_definition("Observation", kind=None), []),
        ("sdf-11", snapshot_definition("Observation", type=None), []),
        ("sdf-11", with_parts(snapshot_definition("Observation"), snapshot=None), [True]),
        ("sdf-15", snapshot_definition("Patient"), [True]),
        (
            "sdf-15",
            snapshot_definition("Patient", snapshot={"element": [{"path": "Patient", "type": [{}]}]}),
            [False],
        ),
        (
            "sdf-15",
            snapshot_definition("Patient", kind="logical", snapshot={"element": [{"type": [{"code": "A"}]}]}),
            [True],
        ),
        ("sdf-15", snapshot_definition("Patient", kind=None, snapshot={"element": [{"type": [{}]}]}), []),
        ("sdf-15a", snapshot_definition("Patient"), [True]),
        (
            "sdf-15a",
            snapshot_definition("Patient", differential={"element": [{"path": "Patient", "type": [{}]}]}),
            [False],
        ),
        (
            "sdf-15a",
            snapshot_definition(
                "Patient", differential={"element": [{"path": "Patient.name", "type": [{}]}]}
            ),
            [True],
        ),
        ("sdf-15a", snapshot_definition("Patient", differential={"element": [{"type": [{}]}]}), []),
        ("sdf-17", snapshot_definition("Patient", "Patient.name"), [True]),
        (
            "sdf-17",
            snapshot_definition("Patient", differential={"element": [{"id": "a", "path": "A"}, {"id": "a"}]}),
            [False],
        ),
        ("sdf-17", snapshot_definition("Patient", differential={"element": [{"path": "Patient"}]}), [False]),
        ("sdf-21", snapshot_definition("Patient"), [True]),
        (
            "sdf-21",
            snapshot_definition(
                "Patient",
                derivation="constraint",
                differential={"element": [{"path": "Patient", "defaultValueCode": "x"}]},
            ),
            [False],
        ),
        (
            "sdf-21",
            snapshot_definition(
                "Patient",
                derivation="specialization",
                differential={"element": [{"path": "Patient", "defaultValueCode": "x"}]},
            ),
            [True],
        ),
        (
            "sdf-21",
            snapshot_definition(
                "Patient", differential={"element": [{"defaultValueCode": "x"}]}, derivation=None
            ),
            [],
        ),
    ],
)
def test_structure_definition_invariants_on_one_value_in_python_answer_as_fhirpathpy(
    key: str, sd: dict[str, Any], answer: list[bool]
) -> None:
    assert PYTHON[key](sd) == fhirpathpy_answer(expression("StructureDefinition", key), sd, sd) == answer


@pytest.mark.parametrize(
    ("elements", "answer"),
    [
        ([{"path": "Patient"}, {"path": "Patient.name", "slicing": {"rules": "open"}}], [True]),
        ([{"path": "Patient", "slicing": {"rules": "open"}}], [False]),
        ([{"slicing": {"rules": "open"}}], [True]),  # no path: not the root
    ],
)
def test_sdf_20_in_python_answers_as_fhirpathpy(elements: list[dict[str, Any]], answer: list[bool]) -> None:
    sd = snapshot_definition("Patient", differential={"element": elements})
    text = expression("StructureDefinition", "sdf-20")
    assert PYTHON["sdf-20"](sd["differential"]) == fhirpathpy_answer(text, sd["differential"], sd) == answer


@pytest.mark.parametrize(
    ("key", "focus", "answer"),
    [
        ("eld-12", {"strength": "required"}, [True]),
        ("eld-12", {"valueSet": "http://hl7.org/fhir/ValueSet/x"}, [True]),
        ("eld-12", {"valueSet": "urn:oid:1.2.3"}, [True]),
        ("eld-12", {"valueSet": "ValueSet/x"}, [False]),
        ("eld-12", {"valueSet": ""}, [False]),
        ("eld-17", {"code": "Reference", "targetProfile": ["http://x"]}, [True]),
        ("eld-17", {"code": "HumanName"}, [True]),
        ("eld-17", {"code": "HumanName", "targetProfile": ["http://x"]}, [False]),
        ("eld-17", {"targetProfile": ["http://x"]}, []),
        ("vsd-0", {"name": "LusCodes"}, [True]),
        ("vsd-0", {"name": "lus codes"}, [False]),
    ],
)
def test_invariants_of_parts_in_python_answer_as_fhirpathpy(
    key: str, focus: dict[str, Any], answer: list[bool]
) -> None:
    owner = "ValueSet" if key == "vsd-0" else "ElementDefinition"
    assert PYTHON[key](focus) == fhirpathpy_answer(expression(owner, key), focus, focus) == answer


def test_more_invariants_leave_data_they_do_not_model_to_the_expression() -> None:
    sd = snapshot_definition("Patient")
    assert PYTHON["sdf-5"]({**sd, "type": ["Extension", "Patient"]}) is None
    assert PYTHON["sdf-11"]({**sd, "kind": 1}) is None
    assert PYTHON["sdf-15a"]({**sd, "differential": {"element": [{"path": ["a", "b"]}]}}) is None
    assert PYTHON["sdf-17"]({**sd, "differential": {"element": [{"id": 1}]}}) is None
    assert PYTHON["sdf-20"]({"element": [{"path": 1}]}) is None
    assert PYTHON["eld-12"]({"valueSet": {"reference": "x"}}) is None
    assert PYTHON["eld-17"]({"code": ["Reference", "canonical"]}) is None
