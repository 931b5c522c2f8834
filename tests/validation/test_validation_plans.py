"""An object checker plans its walk once per shape of object (checkers.Plan): what the keys settle
is decided once and kept, what the values say is checked on every object. A plan kept must give
what a fresh one gives; a shape found wrong is wrong every time it comes; what hostile input sends
is never kept beyond the bounds."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from adapter.config import PROJECT_ROOT
from adapter.validation import checkers
from adapter.validation.validator import Validator
from tests.support.conformance import conformance_resources
from tests.support.validation_messages import message

PATIENT = "http://hl7.org/fhir/StructureDefinition/Patient"


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator.from_path(PROJECT_ROOT / "profiles", unknown_modifier_extensions="warn")


def rules(issues: list[Any]) -> list[tuple[str, str | None, str]]:
    return [(i.severity, i.rule, i.expression) for i in issues]


def test_plans_kept_give_what_fresh_plans_give(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every conformance file here, validated with every plan kept (twice, so the second run
    reuses them) and with none kept: the same issues, in the same order."""
    resources = [resource for _path, resource in conformance_resources()]
    kept = Validator.from_path(PROJECT_ROOT / "profiles", unknown_modifier_extensions="warn")
    first = [kept.validate(copy.deepcopy(r)) for r in resources]
    again = [kept.validate(copy.deepcopy(r)) for r in resources]
    monkeypatch.setattr(checkers, "_PLANS_PER_CHECKER", 0)
    fresh = Validator.from_path(PROJECT_ROOT / "profiles", unknown_modifier_extensions="warn")
    assert not fresh.compiler.base("Patient").plans
    for resource, a, b in zip(resources, first, again, strict=True):
        assert a == b == fresh.validate(copy.deepcopy(resource))
    assert not fresh.compiler.base("Patient").plans  # none kept: every object got a fresh plan


@pytest.mark.parametrize("times", [1, 3])
def test_a_shape_found_wrong_is_wrong_every_time(validator: Validator, times: int) -> None:
    patient = {
        "resourceType": "Patient",
        "deceasedBoolean": False,
        "deceasedDateTime": "2020-01-01",  # a choice given twice
        "_gender": {"extension": []},  # the extensions of a primitive: an empty array
        "name": [{"id": "n1"}],  # ele-1: an id only
        "link": [{"type": "seealso"}],  # link.other is required
    }
    for _ in range(times):
        found = rules(validator.validate_resource(copy.deepcopy(patient)))
        assert ("error", "choice-type", "Patient.deceasedDateTime") in found
        assert ("error", "ele-1", "Patient.name[0]") in found
        assert ("error", "cardinality-min", "Patient.link[0]") in found
        assert ("error", "json-type", "Patient._gender.extension") in found


def test_a_second_choice_given_only_as_extensions_is_found(validator: Validator) -> None:
    patient = {"resourceType": "Patient", "deceasedBoolean": True, "_deceasedDateTime": {"id": "d"}}
    for _ in range(2):
        found = rules(validator.validate_resource(copy.deepcopy(patient)))
        assert ("error", "choice-type", "Patient._deceasedDateTime") in found


def test_unknown_keys_are_reported_every_time_and_their_shape_never_kept(validator: Validator) -> None:
    checker = validator.compiler.base("Patient")
    before = set(checker.plans)
    for n in range(50):
        patient = {"resourceType": "Patient", "gender": "male", f"nickname{n}": "x"}
        found = rules(validator.validate_resource(patient))
        assert found == [("error", "unknown-element", f"Patient.nickname{n}")]
    assert set(checker.plans) - before == set()


def test_a_key_present_with_nothing_in_it_is_still_rejected(validator: Validator) -> None:
    """bdl-5 (`resource.exists() or request.exists() or response.exists()`) is settled by the
    key's presence; a null or [] resource is a json-type error of its own all the same."""
    for empty in (None, []):
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": empty}]}
        assert [i for i in validator.validate_resource(bundle) if i.blocking]


def test_the_plans_kept_are_bounded_whatever_is_sent(
    validator: Validator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Known keys in ever new orders: a checker keeps at most _PLANS_PER_CHECKER plans, and all
    checkers together at most _PLAN_STEPS_LEFT keys; past either, objects are still checked."""
    monkeypatch.setattr(checkers, "_PLANS_PER_CHECKER", 20)
    checker = validator.compiler.base("HumanName")
    values = {"use": "official", "text": "Tolvan", "family": "Tolvansson", "prefix": ["Dr"], "suffix": ["Sr"]}
    keys = list(values)
    orders = [keys[i:] + keys[:i] for i in range(5)]
    orders += [list(reversed(order)) for order in orders]
    shapes = set()
    for n, order in enumerate(orders * 4):
        name = {k: values[k] for k in order[: 2 + n // 10]}
        name["given"] = "Tolvan" if n % 2 else ["Tolvan"]  # every other one wrong: not an array
        shapes.add(tuple(name))
        found = rules(validator.validate_resource({"resourceType": "Patient", "name": [name]}))
        assert (("error", "json-type", "Patient.name[0].given") in found) == bool(n % 2)
    assert len(shapes) > 20 >= len(checker.plans)
    monkeypatch.setattr(checkers, "_PLAN_STEPS_LEFT", 0)
    period = validator.compiler.base("Period")
    kept = len(period.plans)
    bad = {"end": "2020-01-01", "start": "2021-01-01", "id": "p"}  # a shape not met before
    patient = {"resourceType": "Patient", "name": [{"family": "Tolvansson", "period": bad}]}
    assert ("error", "per-1", "Patient.name[0].period") in rules(validator.validate_resource(patient))
    assert len(period.plans) == kept


def test_a_contained_reference_resolves_in_its_own_entry(validator: Validator) -> None:
    """%resource and %rootResource are the entry's resource, not the Bundle (Context keeps them
    for every resource it checks): ref-1 and dom-3 find the contained Organization there."""
    bundle = message("inskrivningsmeddelande")
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["contained"] = [{"resourceType": "Organization", "id": "o1", "name": "Vårdcentralen Väster"}]
    patient["managingOrganization"] = {"reference": "#o1"}
    assert not [i for i in validator.validate_message(copy.deepcopy(bundle)) if i.blocking]
    patient["managingOrganization"] = {"reference": "#o2"}
    found = {i.rule for i in validator.validate_message(copy.deepcopy(bundle)) if i.blocking}
    assert found == {"ref-1", "dom-3"}
