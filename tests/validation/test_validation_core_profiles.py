"""The rules the validator shares with the HL7 Java validator beyond the R4 base structure: the
core's extension definitions, the core vital-signs profiles (by meta.profile or by the code of the
Observation), a Bundle's link relations and a StructureDefinition's differential paths. Each with a
resource that breaks the rule and one that keeps it (built here, after the HL7 cases obs-temp-bad,
ips-htmlrefs-backwards, bundle-id-2 and obs-mz)."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from adapter.config import PROJECT_ROOT
from adapter.validation.r4 import BASE
from adapter.validation.validator import Validator


@cache
def validator() -> Validator:
    return Validator.from_path(PROJECT_ROOT / "profiles")


def rules(resource: dict[str, Any]) -> set[str | None]:
    """The rules of the blocking issues of a resource."""
    return {i.rule for i in validator().validate(resource) if i.blocking}


def _coding(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


VITAL_SIGNS = _coding("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs")


def temperature(code: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [VITAL_SIGNS],
        "code": code,
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-12-06T09:50:55Z",
        "valueQuantity": {"value": 36.0, "unit": "Cel", "system": "http://unitsofmeasure.org", "code": "Cel"},
    }


# --- core extensions against their definitions ---


def test_a_core_extension_is_checked_against_its_definition() -> None:
    link = "http://hl7.org/fhir/StructureDefinition/narrativeLink"
    patient: dict[str, Any] = {"resourceType": "Patient", "extension": [{"url": link, "valueUrl": "#a"}]}
    assert rules(patient) == set()
    patient["extension"][0] = {"url": link, "valueUri": "#a"}  # narrativeLink is a url, not a uri
    assert rules(patient) == {"type-not-allowed"}


def test_a_core_extension_on_a_primitive_is_checked_too() -> None:
    birth_time = "http://hl7.org/fhir/StructureDefinition/patient-birthTime"
    patient = {
        "resourceType": "Patient",
        "birthDate": "1912-12-12",
        "_birthDate": {"extension": [{"url": birth_time, "valueDateTime": "1912-12-12T10:00:00+01:00"}]},
    }
    assert rules(patient) == set()
    patient["_birthDate"] = {"extension": [{"url": birth_time, "valueString": "tio på morgonen"}]}
    assert rules(patient) == {"type-not-allowed"}


AGE = {"value": 114, "system": "http://unitsofmeasure.org", "code": "a"}


def test_an_extension_outside_the_core_namespace_is_still_accepted_unread() -> None:
    vendor = "http://vendor.example.org/fhir/StructureDefinition/age"
    patient = {
        "resourceType": "Patient",
        "birthDate": "1912",
        "_birthDate": {"extension": [{"url": vendor, "valueAge": AGE}]},
    }
    assert rules(patient) == set()


# --- the core vital-signs profiles ---


def test_an_observation_of_a_vital_sign_meets_the_core_profile_for_it() -> None:
    loinc = temperature(_coding("http://loinc.org", "8310-5"))
    assert rules(loinc) == set()
    # a core body temperature in SNOMED CT only: bodytemp requires its LOINC code as well
    assert rules(temperature(_coding("http://snomed.info/sct", "276885007"))) == {"slice-cardinality"}
    no_time = copy.deepcopy(loinc)
    del no_time["effectiveDateTime"]  # vitalsigns: effective[x] 1..1
    assert rules(no_time) == {"cardinality-min"}


def test_an_observation_of_something_else_is_not_held_to_a_vital_signs_profile() -> None:
    glucose = temperature(_coding("http://loinc.org", "15074-8"))
    del glucose["category"], glucose["effectiveDateTime"]
    assert rules(glucose) == set()


def test_a_loaded_profile_named_in_meta_profile_is_applied() -> None:
    other = temperature(_coding("http://loinc.org", "15074-8"))
    assert rules(other) == set()
    other["meta"] = {"profile": [BASE + "bodytemp"]}
    assert rules(other) == {"slice-cardinality"}  # it claims to be a body temperature: 8310-5 missing
    other["meta"] = {"profile": ["https://vendor.example.org/StructureDefinition/unknown"]}
    assert rules(other) == set()  # a profile not loaded is not judged


def test_a_slice_told_apart_by_a_value_inside_a_nested_slice() -> None:
    """bp slices its components by code.coding.code, a value its slices fix in a slice of coding."""

    def component(code: str) -> dict[str, Any]:
        quantity = {"value": 107, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}
        return {"code": _coding("http://loinc.org", code), "valueQuantity": quantity}

    bp = temperature(_coding("http://loinc.org", "85354-9"))
    del bp["valueQuantity"]
    bp["component"] = [component("8480-6"), component("8462-4")]
    assert rules(bp) == set()
    bp["component"] = [component("8480-6"), component("8480-6")]  # no diastolic pressure
    assert "slice-cardinality" in rules(bp)


# --- a Bundle's link relations ---


def test_a_link_relation_occurs_once_in_a_bundle() -> None:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": [
            {"relation": "self", "url": "http://example.org/fhir/Patient?name=test"},
            {"relation": "next", "url": "http://example.org/fhir/Patient?name=test&page=2"},
        ],
    }
    assert rules(bundle) == set()
    bundle["link"].append({"relation": "self", "url": "http://example.org/fhir/Patient?name=test"})
    issues = [i for i in validator().validate(bundle) if i.blocking]
    assert [(i.rule, i.expression) for i in issues] == [("bundle-link-relation", "Bundle.link[2]")]


# --- a StructureDefinition's differential ---


def _profile_on_observation(path: str) -> dict[str, Any]:
    return {
        "resourceType": "StructureDefinition",
        "url": "http://example.org/fhir/StructureDefinition/observation-test",
        "name": "ObservationTest",
        "status": "draft",
        "kind": "resource",
        "abstract": False,
        "type": "Observation",
        "baseDefinition": BASE + "Observation",
        "derivation": "constraint",
        "differential": {"element": [{"id": path, "path": path}]},
    }


def test_a_differential_names_elements_of_its_type() -> None:
    for path in ("Observation.value[x]", "Observation.valueQuantity", "Observation.valueQuantity.code"):
        assert rules(_profile_on_observation(path)) == set(), path
    for path in ("Observation.valueBla", "Observation.nothing", "Patient.name", "Observation.code.nothing"):
        assert "sd-differential-path" in rules(_profile_on_observation(path)), path
