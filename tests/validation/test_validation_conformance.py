"""The validator against material no one here wrote (copied into tests/conformance, CC0 and public
domain): official R4 examples it must accept, the specification's own errors it must reject for
that error, the HL7 validator's test cases, and the R4 core invariants it runs — all of them."""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import fhirpathpy
import orjson
import pytest
import structlog
from fhirpathpy.models import models
from structlog.testing import LogCapture

from adapter.config import PROJECT_ROOT
from adapter.fhir.fhirpath import _OPTIONS, _compile_fast, _Unsupported
from adapter.fhir.issues import Issue
from adapter.validation import compiler as compiler_module
from adapter.validation import validator as validator_module
from adapter.validation.invariants import AS_WARNING, NATIVE, PYTHON, UNSUPPORTED, focus_keys
from adapter.validation.r4 import BASE, load_core
from adapter.validation.validator import Validator
from bench.conformance import KNOWN_DISAGREEMENTS, KNOWN_INVALID
from tests.support.conformance import CASES, CONFORMANCE, INVALID, VALID, conformance_resources, load
from tests.support.processes import AdapterProcess

SE_PATIENT = "http://hl7.se/fhir/ig/base/StructureDefinition/SEBasePatient"


def validator(**options: Any) -> Validator:
    return Validator.from_path(PROJECT_ROOT / "profiles", **options)


def core_resources() -> list[tuple[Path, dict[str, Any]]]:
    """The conformance resources whose type the R4 core defines (their invariants are compared)."""
    return [(p, r) for p, r in conformance_resources() if r.get("resourceType") in load_core().types]


def errors(issues: list[Issue]) -> list[Issue]:
    return [i for i in issues if i.blocking]


# --- the R4 core invariants ---


def core_invariants() -> set[tuple[str, str]]:
    """(declaring definition, key) of every invariant in the R4 core package's resources and types."""
    found = set()
    for name, definition in load_core().types.items():
        for c in [
            *definition["constraints"],
            *(c for e in definition["elements"] for c in e.get("constraints", ())),
        ]:
            found.add((BASE + (c["source"] or name), c["key"]))
    return found


def test_every_core_invariant_runs_or_is_listed_with_why() -> None:
    compiled = validator().compiler.invariants
    core = core_invariants()
    assert len(core) == 239  # hl7.fhir.r4.core 4.0.1: resources and datatypes, counted once each
    assert core <= set(compiled), f"never compiled: {sorted(core - set(compiled))[:5]}"
    status = {key: compiled[key].split(":")[0] for key in core}
    counts = {s: sum(1 for v in status.values() if v == s) for s in set(status.values())}
    assert counts == {"compiled": 230, "native": 3, "not run": 4, "runs as a warning": 2}, counts
    assert {k for (_, k), s in status.items() if s == "native"} == NATIVE
    assert {k for (_, k), s in status.items() if s == "not run"} == set(UNSUPPORTED)
    assert {k for (_, k), s in status.items() if s == "runs as a warning"} == set(AS_WARNING)


def test_invariants_that_cannot_run_are_listed_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    # Captured whatever earlier tests left configured: every level, no cached logger (the module's
    # own was bound, with the configuration of its first use, by whichever test logged first).
    capture = LogCapture()
    before = structlog.get_config()
    structlog.configure(
        processors=[capture],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=structlog.ReturnLoggerFactory(),
        cache_logger_on_first_use=False,
    )
    try:
        monkeypatch.setattr(validator_module, "log", structlog.get_logger("adapter.validation"))
        validator(unknown_modifier_extensions="warn")  # a new one: the session's is built already
    finally:
        structlog.configure(**before)
    logs = capture.entries
    listed = {(e["invariant"], e["why"]) for e in logs if e["event"] == "invariant_not_run"}
    assert {key for key, _ in listed} == set(UNSUPPORTED) | set(AS_WARNING)
    assert all(why for _, why in listed)


def test_the_key_shortcut_never_changes_an_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every invariant evaluated in full, on every file here, finds what the shortcut finds."""
    resources = [resource for _path, resource in conformance_resources()]
    fast = validator(unknown_modifier_extensions="warn")
    monkeypatch.setattr(compiler_module, "focus_keys", lambda _expression: None)
    full = validator(unknown_modifier_extensions="warn")
    for resource in resources:
        assert fast.validate(copy.deepcopy(resource)) == full.validate(copy.deepcopy(resource))


def test_core_invariants_on_the_fast_path_equal_fhirpathpy() -> None:
    """Each resource's own invariants, closures and fhirpathpy, on every conformance file here."""
    compared: set[str] = set()
    for path, resource in core_resources():
        env = {"ucum": "http://unitsofmeasure.org", "resource": resource, "rootResource": resource}
        for c in load_core().types[resource["resourceType"]]["constraints"]:
            expression = c["expression"].replace(".as(", ".ofType(")
            try:
                fast = _compile_fast(expression)
            except _Unsupported:
                continue
            slow = fhirpathpy.compile(expression, model=models["r4"], options=_OPTIONS)
            try:
                expected = list(slow(resource, env))
            except Exception:  # fhirpathpy cannot: nothing to compare with
                continue
            assert fast(resource, env) == expected, f"{c['key']} on {path.name}"
            compared.add(c["key"])
    assert len(compared) >= 30, sorted(compared)


@pytest.mark.parametrize(
    ("expression", "keys"),
    [
        ("contained.contained.empty()", ("_contained", "contained")),
        ("hasValue() or (children().count() > id.count())", None),
        ("Appointment.status = 'booked' or start.exists()", ("_start", "_status", "start", "status")),
        ("reference.startsWith('#').not() or (reference in %rootResource.contained.id)", None),
        ("entry.where(fullUrl.exists()).select(fullUrl).isDistinct()", ("_entry", "entry")),
        ("iif(max != '*', min <= max.toInteger())", ("_max", "_min", "max", "min")),
    ],
)
def test_focus_keys(expression: str, keys: tuple[str, ...] | None) -> None:
    assert focus_keys(expression) == keys


# --- official R4 examples ---


@pytest.mark.parametrize("path", VALID, ids=[p.name for p in VALID])
def test_official_examples_are_accepted(path: Path) -> None:
    issues = validator(unknown_modifier_extensions="warn").validate_resource(load(path))
    assert errors(issues) == []


@pytest.mark.parametrize("path", INVALID, ids=[p.name for p in INVALID])
def test_the_specifications_own_errors_are_rejected_for_that_error(path: Path) -> None:
    rule, text = KNOWN_INVALID[path.name]
    found = errors(validator().validate_resource(load(path)))
    assert found and all(i.rule == rule and text in i.message for i in found), found


def test_an_unknown_modifier_extension_is_rejected_by_default_saying_why() -> None:
    referral = load(CONFORMANCE / "r4-examples" / "valid" / "Basic-referral.json")
    found = errors(validator().validate_resource(referral))
    assert [i.expression for i in found] == [f"Basic.modifierExtension[{n}]" for n in range(3)]
    assert all(
        i.rule == "modifier-extension-unknown" and "LUS_UNKNOWN_MODIFIER_EXTENSIONS" in i.message
        for i in found
    )
    warnings = validator(unknown_modifier_extensions="warn").validate_resource(referral)
    assert len(warnings) == 3 and all(
        w.severity == "warning" and "accepted by policy" in w.message for w in warnings
    )


def test_element_ids_are_strings_and_resource_ids_are_ids() -> None:
    observation = {
        "resourceType": "Observation",
        "id": "ok",
        "status": "final",
        "code": {"id": "Observation.code", "text": "x"},
        "valueQuantity": {"id": "Observation.value[x]", "value": 1},
    }
    assert errors(validator().validate_resource(observation)) == []
    [issue] = errors(validator().validate_resource({**observation, "id": "Observation.value[x]"}))
    assert (issue.rule, issue.expression) == ("primitive-format", "Observation.id")


def test_a_non_breaking_space_is_not_whitespace_in_fhir_regexes() -> None:
    """R4's regexes follow XML Schema/Java: U+00A0 is a character like any other in a code."""

    def patient(code: str) -> dict[str, Any]:
        coding = {"system": "http://example.org/codes", "code": code}
        return {
            "resourceType": "Patient",
            "name": [{"text": "Tolvan\u00a0Tolvansson"}],
            "maritalStatus": {"coding": [coding]},
        }

    assert errors(validator().validate_resource(patient("a\u00a0b"))) == []
    [issue] = errors(validator().validate_resource(patient("a  b")))
    assert (issue.rule, issue.expression) == ("primitive-format", "Patient.maritalStatus.coding[0].code")


def test_an_extension_whose_value_has_only_extensions_has_a_value() -> None:
    extension = {
        "url": "http://example.org/x",
        "_valueString": {"extension": [{"url": "http://example.org/y", "valueCode": "z"}]},
    }
    patient = {"resourceType": "Patient", "extension": [extension]}
    assert errors(validator().validate_resource(patient)) == []
    [issue] = errors(
        validator().validate_resource(
            {"resourceType": "Patient", "extension": [{"url": "http://example.org/x"}]}
        )
    )
    assert issue.rule == "ext-1"


def test_a_string_over_1_mb_is_rejected() -> None:
    patient = {"resourceType": "Patient", "name": [{"text": "x" * (1024 * 1024 + 1)}]}
    [issue] = errors(validator().validate_resource(patient))
    assert (issue.rule, issue.expression) == ("primitive-format", "Patient.name[0].text")


def test_a_core_invariant_on_a_datatype_and_a_resource() -> None:
    assessment = {
        "resourceType": "RiskAssessment",
        "status": "final",
        "subject": {"reference": "Patient/p"},
        "prediction": [{"probabilityDecimal": 120}],
    }
    assert [i.rule for i in errors(validator().validate_resource(assessment))] == ["ras-2"]
    quantity = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "valueQuantity": {"code": "mg"},
    }
    assert [i.rule for i in errors(validator().validate_resource(quantity))] == ["qty-3"]


# --- Swedish test identities born in the 1890s (HL7 Sweden basprofiler) ---


@pytest.mark.parametrize("personnummer", ["189002029800", "189602029812"])
def test_a_patient_born_in_the_1890s_is_a_warning_not_an_error(personnummer: str) -> None:
    patient = {
        "resourceType": "Patient",
        "meta": {"profile": [SE_PATIENT]},
        "identifier": [
            {"system": "http://electronichealth.se/identifier/personnummer", "value": personnummer}
        ],
    }
    issues = validator().validate_resource(patient, SE_PATIENT)
    assert errors(issues) == []
    assert [(i.severity, i.rule) for i in issues] == [("warning", "personnummer")]


# --- Bundle rules ---


def _bundle(kind: str, entries: list[tuple[str | None, dict[str, Any]]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": kind,
        "entry": [{**({"fullUrl": url} if url else {}), "resource": r} for url, r in entries],
    }


def test_bundle_full_urls_and_references() -> None:
    patient = {"resourceType": "Patient", "id": "p1", "meta": {"versionId": "2"}}
    observation = {"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "x"}}
    v = validator()

    def rules(bundle: dict[str, Any]) -> list[tuple[str | None, str | None]]:
        return [(i.rule, i.expression) for i in errors(v.validate_resource(bundle))]

    base = "http://example.org/fhir/"
    ok = _bundle(
        "collection",
        [
            (base + "Patient/p1", patient),
            (base + "Observation/o1", {**observation, "subject": {"reference": "Patient/p1"}}),
        ],
    )
    assert rules(ok) == []
    relative = copy.deepcopy(ok)
    relative["entry"][0]["fullUrl"] = "Patient/p1"
    assert ("bundle-fullurl", "Bundle.entry[0].fullUrl") in rules(relative)
    versioned = copy.deepcopy(ok)
    versioned["type"] = "document"  # a document carries what it refers to, in the version named
    versioned["entry"][1]["resource"]["subject"]["reference"] = "Patient/p1/_history/3"
    assert ("bundle-reference-not-found", "Bundle.entry[1].resource") in rules(versioned)
    versioned["entry"][1]["resource"]["subject"]["reference"] = "Patient/p1/_history/2"
    assert [r for r, _ in rules(versioned) if r and r.startswith("bundle-")] == []
    twice = _bundle(
        "collection",
        [
            (base + "Patient/p1", patient),
            ("urn:uuid:0c2a2a3e-5d4f-4b8e-9a2a-1c2b3d4e5f60", patient),
            (None, {**observation, "subject": {"reference": "Patient/p1"}}),
        ],
    )
    assert ("bundle-reference-ambiguous", "Bundle.entry[2].resource") in rules(twice)
    assert "bdl-7" in [r for r, _ in rules(_bundle("collection", [(base + "Patient/p1", patient)] * 2))]
    document = _bundle(
        "document",
        [
            (
                "urn:uuid:0c2a2a3e-5d4f-4b8e-9a2a-1c2b3d4e5f61",
                {**observation, "subject": {"reference": "Patient/nowhere"}},
            )
        ],
    )
    assert ("bundle-reference-not-found", "Bundle.entry[0].resource") in rules(document)


# --- the HL7 validator's own test cases (where we disagree, and why: KNOWN_DISAGREEMENTS) ---


def test_agreement_with_the_hl7_validator_test_cases() -> None:
    manifest = load(CASES / "manifest.json")
    v = validator()
    agree = []
    for case in manifest["cases"]:
        outcome = load(CASES / "outcomes" / case["outcome"])
        expected = any(i.get("severity") in ("error", "fatal") for i in outcome.get("issue", []))
        try:
            resource = load(CASES / "cases" / case["file"])
        except orjson.JSONDecodeError:
            rejected = True
        else:
            rejected = bool(errors(v.validate(resource)))
        assert (rejected == expected) != (case["name"] in KNOWN_DISAGREEMENTS), case["name"]
        agree.append(rejected == expected)
    assert len(agree) == 59 and sum(agree) == 57


# --- the setting, in the served adapter ---


@pytest.mark.system
def test_the_served_adapter_applies_the_modifier_extension_policy(tmp_path: Path) -> None:
    import httpx

    referral = (CONFORMANCE / "r4-examples" / "valid" / "Basic-referral.json").read_bytes()
    headers = {"Content-Type": "application/fhir+json"}
    for policy, status in (("reject", "error"), ("warn", "warning")):
        adapter = AdapterProcess(
            env={
                "LUS_DATABASE_URL": f"sqlite:///{tmp_path / f'{policy}.db'}",
                "LUS_WORKER": "false",
                "LUS_UNKNOWN_MODIFIER_EXTENSIONS": policy,
            },
            log=tmp_path / f"{policy}.log",
        ).start()
        try:
            response = httpx.post(
                f"{adapter.base}/fhir/Basic/$validate", content=referral, headers=headers, timeout=30
            )
        finally:
            adapter.stop()
        assert response.status_code == 200
        severities = [i["severity"] for i in response.json()["issue"]]
        assert severities == [status] * 3, response.text


def test_invariants_in_python_agree_with_fhirpathpy() -> None:
    """The R4 invariants run in Python (PYTHON) answer as fhirpathpy does, wherever fhirpathpy
    answers, on every conformance file here (que-12 aside: R4's expression says > 2, its text > 1)."""
    compared: dict[str, int] = {}
    for path, resource in core_resources():
        env = {"ucum": "http://unitsofmeasure.org", "resource": resource, "rootResource": resource}
        for c in load_core().types[resource["resourceType"]]["constraints"]:
            if c["key"] not in PYTHON or c["key"] == "que-12":
                continue
            slow = fhirpathpy.compile(
                c["expression"].replace(".as(", ".ofType("), model=models["r4"], options=_OPTIONS
            )
            try:
                expected = list(slow(resource, env))
            except Exception:  # fhirpathpy cannot: nothing to compare with
                continue
            assert PYTHON[c["key"]](resource) == expected, f"{c['key']} on {path.name}"
            compared[c["key"]] = compared.get(c["key"], 0) + 1
    assert {"dom-3", "bdl-2", "bdl-3", "bdl-4", "bdl-7", "bdl-9", "bdl-10", "bdl-11", "bdl-12"} <= set(
        compared
    ), compared
