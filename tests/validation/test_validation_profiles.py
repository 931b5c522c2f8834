"""The LUS message profiles: every event's message, one negative case per rule kind with the exact
expression and rule, identifier aliases, regional packages, and no input that makes it raise."""

from __future__ import annotations

import copy
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.config import PROJECT_ROOT
from adapter.fhir.issues import Issue
from adapter.validation.validator import Validator
from tests.support.validation_messages import EVENTS, LUS, entry, lus_validator, message

SE_PATIENT = "http://hl7.se/fhir/ig/base/StructureDefinition/SEBasePatient"
PNR = "http://electronichealth.se/identifier/personnummer"


def focus_index(bundle: dict[str, Any]) -> int:
    ref = bundle["entry"][0]["resource"]["focus"][0]["reference"]
    return next(i for i, e in enumerate(bundle["entry"]) if e["fullUrl"] == ref)


def found(issues: list[Issue]) -> list[tuple[str, str | None, str | None]]:
    return [(i.severity, i.rule, i.expression) for i in issues]


@pytest.mark.parametrize("event", EVENTS)
def test_every_lus_event_has_a_message_profile_and_its_message_is_valid(event: str) -> None:
    validator = lus_validator()
    assert validator.headers[(f"{LUS}/CodeSystem/lus-event", event)]
    assert validator.validate_message(message(event)) == []


def test_the_example_inskrivningsmeddelande_is_valid() -> None:
    from tests.support.examples import load_example

    assert lus_validator().validate_message(load_example("inskrivningsmeddelande.json")) == []


# What each message profile requires: taking it away is an error at that element, by that rule.
REQUIRED: list[tuple[str, Callable[[dict[str, Any]], Any], str, str]] = [
    ("inskrivningsmeddelande", lambda b: entry(b, "Encounter")["extension"].pop(0), "slice-cardinality", "1"),
    ("inskrivningsmeddelande", lambda b: entry(b, "Patient").pop("name"), "cardinality-min", "2"),
    (
        "andrat-utskrivningsdatum",
        lambda b: entry(b, "Encounter")["extension"].pop(0),
        "slice-cardinality",
        "1",
    ),
    ("fast-vardkontakt-utsedd", lambda b: entry(b, "Encounter").pop("participant"), "slice-cardinality", "1"),
    (
        "planeringsunderlag",
        lambda b: b["entry"][focus_index(b)]["resource"].pop("extension"),
        "slice-cardinality",
        "F",
    ),
    ("utskrivningsklar", lambda b: entry(b, "Encounter").pop("identifier"), "cardinality-min", "1"),
    ("atertag-utskrivningsklar", lambda b: entry(b, "Encounter").pop("subject"), "cardinality-min", "1"),
    (
        "kallelse-sip",
        lambda b: b["entry"][focus_index(b)]["resource"].update(status="booked"),
        "fixed-value",
        "F.status",
    ),
    (
        "planeringsmote-bokat",
        lambda b: b["entry"][focus_index(b)]["resource"].pop("start"),
        "cardinality-min",
        "F",
    ),
    (
        "planeringsmote-ombokat",
        lambda b: b["entry"][focus_index(b)]["resource"].pop("supportingInformation"),
        "cardinality-min",
        "F",
    ),
    (
        "planeringsmote-avbokat",
        lambda b: b["entry"][focus_index(b)]["resource"].update(status="booked"),
        "fixed-value",
        "F.status",
    ),
    (
        "utskrivningsmeddelande",
        lambda b: entry(b, "Encounter")["period"].pop("end"),
        "cardinality-min",
        "1.period",
    ),
    (
        "makulering",
        lambda b: b["entry"][focus_index(b)]["resource"]["entity"][0].update(role="source"),
        "fixed-value",
        "F.entity[0].role",
    ),
    ("kvittens", lambda b: b["entry"][0]["resource"].pop("response"), "cardinality-min", "0"),
    ("meddelande", lambda b: b["entry"][focus_index(b)]["resource"].pop("payload"), "cardinality-min", "F"),
    ("patient-avliden", lambda b: entry(b, "Patient").pop("deceasedDateTime"), "cardinality-min", "2"),
    (
        "permission-start",
        lambda b: entry(b, "Encounter").update(status="in-progress"),
        "fixed-value",
        "1.status",
    ),
    ("permission-slut", lambda b: entry(b, "Encounter").update(status="onleave"), "fixed-value", "1.status"),
]


@pytest.mark.parametrize(
    ("event", "change", "rule", "where"), REQUIRED, ids=lambda x: x if isinstance(x, str) else ""
)
def test_what_each_message_profile_requires(
    event: str, change: Callable[..., Any], rule: str, where: str
) -> None:
    bundle = message(event)
    index, _, rest = where.partition(".")
    position = focus_index(bundle) if index == "F" else int(index)
    expression = f"Bundle.entry[{position}].resource" + (f".{rest}" if rest else "")
    change(bundle)
    issues = lus_validator().validate_message(bundle)
    assert ("error", rule, expression) in found(issues), found(issues)


def _patient(b: dict[str, Any]) -> dict[str, Any]:
    return entry(b, "Patient")


def _encounter(b: dict[str, Any]) -> dict[str, Any]:
    return entry(b, "Encounter")


def _m(event: str, change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    bundle = message(event)
    change(bundle)
    return bundle


# One negative case per rule kind: exactly these issues, at exactly these elements.
NEGATIVE: list[tuple[str, dict[str, Any], list[tuple[str, str, str]]]] = [
    (
        "unknown-element",
        _m("inskrivningsmeddelande", lambda b: _encounter(b).update(bogus=1)),
        [("error", "unknown-element", "Bundle.entry[1].resource.bogus")],
    ),
    (
        "json-type",
        _m("inskrivningsmeddelande", lambda b: _patient(b).update(name={"family": "Tolvansson"})),
        [("error", "json-type", "Bundle.entry[2].resource.name")],
    ),
    (
        "primitive-format",
        _m("inskrivningsmeddelande", lambda b: _encounter(b)["period"].update(start="2026-11-23 08:15")),
        [("error", "primitive-format", "Bundle.entry[1].resource.period.start")],
    ),
    (
        "primitive-format (no such day)",
        _m("inskrivningsmeddelande", lambda b: _encounter(b)["extension"][0].update(valueDate="2026-02-30")),
        [("error", "primitive-format", "Bundle.entry[1].resource.extension[0].valueDate")],
    ),
    (
        "cardinality-min",
        _m("inskrivningsmeddelande", lambda b: _encounter(b).pop("period")),
        [("error", "cardinality-min", "Bundle.entry[1].resource")],
    ),
    (
        "cardinality-max",
        _m(
            "inskrivningsmeddelande",
            lambda b: _patient(b)["generalPractitioner"].append(_patient(b)["generalPractitioner"][0]),
        ),
        [("error", "cardinality-max", "Bundle.entry[2].resource.generalPractitioner")],
    ),
    (
        "choice-type",
        _m(
            "utskrivningsklar",
            lambda b: _patient(b).update(multipleBirthBoolean=True, multipleBirthInteger=2),
        ),
        [("error", "choice-type", "Bundle.entry[2].resource.multipleBirthInteger")],
    ),
    (
        "type-not-allowed",
        _m(
            "inskrivningsmeddelande",
            lambda b: (
                _encounter(b)["extension"][0].update(valueString="fredag")
                or _encounter(b)["extension"][0].pop("valueDate")
            ),
        ),
        [("error", "type-not-allowed", "Bundle.entry[1].resource.extension[0].valueString")],
    ),
    (
        "resource-type",
        _m(
            "utskrivningsklar",
            lambda b: b["entry"].append({"fullUrl": "urn:uuid:x", "resource": {"resourceType": "Nope"}}),
        ),
        [("error", "resource-type", "Bundle.entry[5].resource")],
    ),
    (
        "ele-1",
        _m("utskrivningsklar", lambda b: _encounter(b).update(serviceType={})),
        [("error", "ele-1", "Bundle.entry[1].resource.serviceType")],
    ),
    (
        "ext-1",
        _m(
            "utskrivningsklar", lambda b: _patient(b).update(extension=[{"url": "https://example.invalid/x"}])
        ),
        [("error", "ext-1", "Bundle.entry[2].resource.extension[0]")],
    ),
    (
        "per-1 (R4 invariant)",
        _m(
            "utskrivningsmeddelande",
            lambda b: _encounter(b)["period"].update(end="2026-11-22T14:00:00+01:00"),
        ),
        [("error", "per-1", "Bundle.entry[1].resource.period")],
    ),
    (
        "required-binding (R4 value set)",
        _m("utskrivningsklar", lambda b: _encounter(b).update(status="bogus")),
        [("error", "required-binding", "Bundle.entry[1].resource.status")],
    ),
    (
        "required-binding (local value set)",
        _m("utskrivningsklar", lambda b: _encounter(b)["extension"][1].update(valueCode="ortopedi")),
        [("error", "required-binding", "Bundle.entry[1].resource.extension[1].valueCode")],
    ),
    (
        "fixed-value",
        _m("permission-start", lambda b: _encounter(b).update(status="in-progress")),
        [("error", "fixed-value", "Bundle.entry[1].resource.status")],
    ),
    (
        "pattern-value",
        _m("utskrivningsklar", lambda b: _encounter(b)["class"].update(code="AMB")),
        [("error", "pattern-value", "Bundle.entry[1].resource.class")],
    ),
    (
        "slice-cardinality (value discriminator)",
        _m("utskrivningsklar", lambda b: b["entry"][3]["resource"]["identifier"][0].update(system="urn:x")),
        [("error", "slice-cardinality", "Bundle.entry[3].resource")],
    ),
    (
        "slice-cardinality (pattern discriminator)",
        _m(
            "fast-vardkontakt-utsedd",
            lambda b: _encounter(b)["participant"][0]["type"][0]["coding"][0].update(code="2"),
        ),
        [("error", "slice-cardinality", "Bundle.entry[1].resource")],
    ),
    (
        "reference-target",
        _m(
            "inskrivningsmeddelande",
            lambda b: b["entry"][0]["resource"]["focus"][0].update(reference=b["entry"][2]["fullUrl"]),
        ),
        [("error", "reference-target", "Bundle.entry[0].resource.focus[0]")],
    ),
    (
        "reference-in-bundle",
        _m("utskrivningsklar", lambda b: _encounter(b)["subject"].update(reference="urn:uuid:missing")),
        [("error", "reference-in-bundle", "Bundle.entry[1].resource.subject")],
    ),
    (
        "invariant (FHIRPath)",
        _m("utskrivningsklar", lambda b: _patient(b)["identifier"][0].update(system="urn:x")),
        [("error", "lus-pat-1", "Bundle.entry[2].resource")],
    ),
    (
        "invariant (FHIRPath, video meeting)",
        _m("planeringsmote-bokat", lambda b: b["entry"][focus_index(b)]["resource"]["extension"].pop(1)),
        [("error", "lus-app-1", "Bundle.entry[7].resource")],
    ),
    (
        "personnummer",
        _m("utskrivningsklar", lambda b: _patient(b)["identifier"][0].update(value="191212121213")),
        [("error", "personnummer", "Bundle.entry[2].resource.identifier[0].value")],
    ),
    (
        "samordningsnummer",
        _m(
            "utskrivningsklar",
            lambda b: _patient(b)["identifier"][0].update(
                system="http://electronichealth.se/identifier/samordningsnummer", value="196109732394"
            ),
        ),
        [("error", "samordningsnummer", "Bundle.entry[2].resource.identifier[0].value")],
    ),
    (
        "hsa-id",
        _m(
            "utskrivningsklar",
            lambda b: b["entry"][3]["resource"]["identifier"][0].update(value="TSTNMT2321000156 SV41"),
        ),
        [("error", "hsa-id", "Bundle.entry[3].resource.identifier[0].value")],
    ),
    (
        "organisationsnummer",
        _m(
            "utskrivningsklar",
            lambda b: b["entry"][3]["resource"]["identifier"].append(
                {"system": "urn:oid:2.5.4.97", "value": "232100-0017"}
            ),
        ),
        [("error", "organisationsnummer", "Bundle.entry[3].resource.identifier[1].value")],
    ),
    (
        "identifier-system-alias (a warning)",
        _m(
            "utskrivningsklar",
            lambda b: _patient(b)["identifier"][0].update(system="urn:oid:1.2.752.129.2.1.3.1"),
        ),
        [("warning", "identifier-system-alias", "Bundle.entry[2].resource.identifier[0].system")],
    ),
    (
        "modifier-extension-unknown",
        _m(
            "utskrivningsklar",
            lambda b: _encounter(b).update(
                modifierExtension=[{"url": "https://example.invalid/not-really", "valueBoolean": True}]
            ),
        ),
        [("error", "modifier-extension-unknown", "Bundle.entry[1].resource.modifierExtension[0]")],
    ),
    (
        "bundle-type-message",
        _m("utskrivningsklar", lambda b: b.update(type="collection")),
        [("error", "bundle-type-message", "Bundle.type")],
    ),
    (
        "bdl-12",
        _m("utskrivningsklar", lambda b: b["entry"].reverse()),
        [("error", "bdl-12", "Bundle.entry[0].resource")],
    ),
    (
        "lus-event-code",
        _m("utskrivningsklar", lambda b: b["entry"][0]["resource"]["eventCoding"].update(code="okand")),
        [("error", "lus-event-code", "Bundle.entry[0].resource.eventCoding")],
    ),
]


@pytest.mark.parametrize(("kind", "bundle", "expected"), NEGATIVE, ids=[n[0] for n in NEGATIVE])
def test_negative_cases_name_the_rule_and_the_element(
    kind: str, bundle: dict[str, Any], expected: list[tuple[str, str, str]]
) -> None:
    issues = lus_validator().validate_message(copy.deepcopy(bundle))
    assert found(issues) == expected
    for issue in issues:
        assert issue.message.endswith((".", ")")) and (issue.rule or "") in issue.message


def test_an_issue_says_profile_rule_found_and_expected() -> None:
    bundle = message("permission-start")
    entry(bundle, "Encounter")["status"] = "in-progress"
    (issue,) = lus_validator().validate_message(bundle)
    assert issue.profile == f"{LUS}/StructureDefinition/lus-encounter-permission"
    assert issue.message == (
        'Encounter.status must be exactly "onleave", found "in-progress" at Bundle.entry[1].resource.status'
        f" (profile LusEncounterPermission ({issue.profile}), rule fixed-value)."
    )
    outcome = issue.to_fhir()
    assert outcome["expression"] == ["Bundle.entry[1].resource.status"]
    assert outcome["details"]["coding"][0]["code"] == "fixed-value"
    # The HL7 validator's way of naming the profile being checked (a string-valued extension).
    assert outcome["extension"] == [
        {
            "url": "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-context",
            "valueString": issue.profile,
        }
    ]


def test_an_alias_system_is_normalised_in_place() -> None:
    bundle = message("inskrivningsmeddelande")
    entry(bundle, "Patient")["identifier"][0]["system"] = "https://terminology.hl7.se/sid/se-personnummer"
    issues = lus_validator().validate_message(bundle)
    assert [(i.severity, i.rule) for i in issues] == [("warning", "identifier-system-alias")]
    assert entry(bundle, "Patient")["identifier"][0]["system"] == PNR


def test_an_alias_is_still_judged_by_its_rule() -> None:
    bundle = message("inskrivningsmeddelande")
    entry(bundle, "Patient")["identifier"][0].update(
        system="urn:oid:1.2.752.129.2.1.3.1", value="191212121213"
    )
    assert [i.rule for i in lus_validator().validate_message(bundle)] == [
        "identifier-system-alias",
        "personnummer",
    ]


def test_validate_resource_against_a_profile_or_the_base() -> None:
    validator = lus_validator()
    patient = copy.deepcopy(entry(message("inskrivningsmeddelande"), "Patient"))
    assert validator.validate_resource(patient, f"{LUS}/StructureDefinition/lus-patient-inskrivning") == []
    patient.pop("name")
    assert validator.validate_resource(patient) == []  # R4 base: a Patient needs no name
    issues = validator.validate_resource(patient, f"{LUS}/StructureDefinition/lus-patient-inskrivning")
    assert found(issues) == [("error", "cardinality-min", "Patient")]
    unknown = validator.validate_resource(patient, "https://example.invalid/StructureDefinition/x")
    assert found(unknown) == [("error", "profile-unknown", "Patient")]


# --- a regional team's own package ---

REGION_RESERVNUMMER = "https://region.example.invalid/identifier/reservnummer"


def regional_package(folder: Path) -> Path:
    folder.mkdir(parents=True)
    resources: list[dict[str, Any]] = [
        {
            "resourceType": "NamingSystem",
            "id": "region-reservnummer",
            "name": "RegionReservnummer",
            "status": "active",
            "kind": "identifier",
            "date": "2026-11-23",
            "uniqueId": [{"type": "uri", "value": REGION_RESERVNUMMER, "preferred": True}],
            "extension": [{"url": f"{LUS}/StructureDefinition/identifier-rule", "valueCode": "reservnummer"}],
        },
        {
            "resourceType": "StructureDefinition",
            "id": "region-patient",
            "url": "https://region.example.invalid/StructureDefinition/region-patient",
            "name": "RegionPatient",
            "status": "active",
            "kind": "resource",
            "abstract": False,
            "type": "Patient",
            "baseDefinition": SE_PATIENT,
            "derivation": "constraint",
            "differential": {
                "element": [
                    {
                        "id": "Patient.identifier",
                        "path": "Patient.identifier",
                        "slicing": {
                            "discriminator": [{"type": "value", "path": "system"}],
                            "rules": "closed",
                        },
                    }
                ]
            },
        },
        {
            "resourceType": "StructureDefinition",
            "id": "region-inskrivningsmeddelande",
            "url": "https://region.example.invalid/StructureDefinition/region-inskrivningsmeddelande",
            "name": "RegionInskrivningsmeddelande",
            "status": "active",
            "kind": "resource",
            "abstract": False,
            "type": "MessageHeader",
            "baseDefinition": f"{LUS}/StructureDefinition/lus-messageheader-inskrivningsmeddelande",
            "derivation": "constraint",
            "differential": {
                "element": [
                    {"id": "MessageHeader.destination", "path": "MessageHeader.destination", "min": 1}
                ]
            },
        },
    ]
    (folder / "package.json").write_text(json.dumps({"name": "region.example", "version": "1.0.0"}))
    for resource in resources:
        (folder / f"{resource['resourceType']}-{resource['id']}.json").write_text(json.dumps(resource))
    return folder


@pytest.fixture(params=["folder", "tgz"])
def regional(request: pytest.FixtureRequest, tmp_path: Path) -> Validator:
    extra = tmp_path / "extra"
    extra.mkdir()
    source = regional_package(tmp_path / "region" / "package")
    if request.param == "folder":
        source.rename(extra / "region")
    else:
        with tarfile.open(extra / "region.tgz", "w:gz") as archive:
            archive.add(source, arcname="package")
    return Validator.from_path(PROJECT_ROOT / "profiles", extra)


def test_a_regional_reservnummer_identifies_the_patient_and_is_not_judged_as_personnummer(
    regional: Validator,
) -> None:
    bundle = message("utskrivningsklar")
    entry(bundle, "Patient")["identifier"] = [{"system": REGION_RESERVNUMMER, "value": "991212121213"}]
    assert regional.validate_message(copy.deepcopy(bundle)) == []
    assert [i.rule for i in lus_validator().validate_message(bundle)] == ["lus-pat-1"]


def test_a_regional_message_profile_applies_beside_ours(regional: Validator) -> None:
    bundle = message("inskrivningsmeddelande")
    assert found(regional.validate_message(copy.deepcopy(bundle))) == [
        ("error", "cardinality-min", "Bundle.entry[0].resource")
    ]
    bundle["entry"][0]["resource"]["destination"] = [{"endpoint": "https://kommun.example.invalid/fhir"}]
    assert regional.validate_message(bundle) == []


def test_slice_closed(regional: Validator) -> None:
    patient = copy.deepcopy(entry(message("inskrivningsmeddelande"), "Patient"))
    profile = "https://region.example.invalid/StructureDefinition/region-patient"
    assert regional.validate_resource(copy.deepcopy(patient), profile) == []
    patient["identifier"].append({"system": "urn:x", "value": "1"})
    assert found(regional.validate_resource(patient, profile)) == [
        ("error", "slice-closed", "Patient.identifier[1]")
    ]


# --- nothing a client sends makes the validator raise ---

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


PLACES = _paths(message("planeringsunderlag"))


DELETE = object()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PLACES[1:]), JSON | st.just(DELETE))
def test_any_value_anywhere_gives_issues_not_exceptions(place: tuple[Any, ...], value: Any) -> None:
    bundle = message("planeringsunderlag")
    node: Any = bundle
    for step in place[:-1]:
        node = node[step]
    if value is DELETE:
        del node[place[-1]]
    else:
        node[place[-1]] = value
    issues = lus_validator().validate_message(bundle)
    assert all(isinstance(i, Issue) and i.message for i in issues)


@pytest.mark.parametrize("entries", [True, "x", {"resource": {}}, [None, 1, "x"]])
def test_a_bundle_whose_entries_are_not_entries_gets_issues(entries: Any) -> None:
    bundle = message("utskrivningsklar")
    bundle["entry"] = entries
    issues = lus_validator().validate_message(bundle)
    assert any(i.blocking for i in issues)


def test_a_primitives_extensions_may_come_before_its_value() -> None:
    bundle = message("inskrivningsmeddelande")
    expected = entry(bundle, "Encounter")["extension"][0]
    value = expected.pop("valueDate")
    expected["_valueDate"] = {"extension": [{"url": "https://example.invalid/source", "valueString": "EHR"}]}
    expected["valueDate"] = value
    assert lus_validator().validate_message(bundle) == []


def test_a_resource_without_its_resource_type_against_a_profile() -> None:
    patient = entry(message("inskrivningsmeddelande"), "Patient")
    patient.pop("resourceType")
    issues = lus_validator().validate_resource(patient, f"{LUS}/StructureDefinition/lus-patient")
    assert found(issues) == [("error", "resource-type", "Resource")]


def test_a_required_primitive_given_only_by_its_extensions_is_present() -> None:
    bundle = message("inskrivningsmeddelande")
    extension = entry(bundle, "Encounter")["extension"][0]
    extension["_valueDate"] = {"extension": [{"url": "https://example.invalid/source", "valueString": "EHR"}]}
    del extension["valueDate"]
    assert "cardinality-min" not in {i.rule for i in lus_validator().validate_message(bundle)}


def test_extensions_of_another_choice_type_are_a_second_choice() -> None:
    bundle = message("utskrivningsklar")
    source = {"extension": [{"url": "https://example.invalid/source", "valueString": "EHR"}]}
    entry(bundle, "Patient").update(multipleBirthBoolean=True, _multipleBirthInteger=source)
    issues = found(lus_validator().validate_message(bundle))
    assert [i[:2] for i in issues] == [("error", "choice-type")]
    assert issues[0][2].endswith(".resource._multipleBirthInteger")


def test_extensions_of_a_complex_element_are_unknown_and_do_not_make_it_present() -> None:
    bundle = message("inskrivningsmeddelande")
    encounter = entry(bundle, "Encounter")
    encounter["_period"] = encounter.pop("period")
    at = f"Bundle.entry[{focus_index(bundle)}].resource"
    issues = found(lus_validator().validate_message(bundle))
    assert ("error", "unknown-element", f"{at}._period") in issues
    assert ("error", "cardinality-min", at) in issues
