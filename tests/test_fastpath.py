"""The compiled path gives exactly fhirpathpy's result, for every rule expression in mappings/."""

from __future__ import annotations

from typing import Any

import fhirpathpy
import pytest
import yaml
from fhirpathpy.models import models

from adapter.config import PROJECT_ROOT
from adapter.mapping.dialects import DIALECT_FILE
from adapter.mapping.engine import extension_urls
from adapter.mapping.fastpath import _compile_fast, _Unsupported, compile_expression
from adapter.mapping.inbound import variables
from adapter.validation.terminology import Terminology
from adapter.validation.validator import Validator
from tests.validation_messages import message

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
    ["identifier.count()", "period.start > @2026-01-01", "name.given.last()", "'a' + 'b'", "iif(id, 1, 2)"],
)
def test_other_expressions_go_to_fhirpathpy(expression: str) -> None:
    with pytest.raises(_Unsupported):
        _compile_fast(expression)
    resource = {"resourceType": "Patient", "id": "x", "identifier": [{"value": "a"}]}
    slow = fhirpathpy.compile(expression, model=models["r4"])
    assert compile_expression(expression)(resource, {}) == list(slow(resource, {}))
