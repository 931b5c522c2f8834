"""R4 base structure over the official examples, and the Swedish identifier rules."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.validation.identifiers import (
    MAX_AGE_YEARS,
    check_hsa_id,
    check_organisationsnummer,
    check_personnummer,
    check_reservnummer,
    check_samordningsnummer,
    luhn_check_digit,
    normalise_personnummer,
)
from tests.support.examples import CONFORMANCE
from tests.support.validation_messages import lus_validator

EXAMPLES = sorted(CONFORMANCE.glob("*.json"))


def _resources(resource: dict[str, object]) -> int:
    entries = resource.get("entry") if resource.get("resourceType") == "Bundle" else None
    return 1 + sum(_resources(e["resource"]) for e in entries or [] if "resource" in e)  # type: ignore[index, union-attr]


def test_the_official_examples_are_there() -> None:
    resources = sum(_resources(orjson.loads(p.read_bytes())) for p in EXAMPLES)
    assert len(EXAMPLES) > 100 and resources > 150


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_official_r4_examples_pass_base_structure(path: Path) -> None:
    resource = orjson.loads(path.read_bytes())
    assert lus_validator().validate_resource(resource) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_each_official_example_is_really_checked(path: Path) -> None:
    # The same example with one unknown element is rejected there and only there.
    resource = orjson.loads(path.read_bytes())
    resource["notAnR4Element"] = True
    issues = lus_validator().validate_resource(resource)
    root = resource["resourceType"]
    assert [(i.rule, i.expression) for i in issues] == [("unknown-element", f"{root}.notAnR4Element")]


@pytest.mark.parametrize(
    "value", ["191212121212", "201212121212", "195009072553", "196101182803", "199002222397", "121212-1212"]
)
def test_test_personnummer_are_valid(value: str) -> None:
    assert check_personnummer(value) is None


def test_samordningsnummer() -> None:
    assert check_samordningsnummer("196109732393") is None
    assert check_personnummer("196109732393") is not None
    assert check_samordningsnummer("191212121212") is not None


def test_ten_digit_forms_get_their_century() -> None:
    today = date(2026, 11, 23)
    assert normalise_personnummer("121212-1212", today=today) == "201212121212"
    assert normalise_personnummer("121212+1212", today=today) == "191212121212"
    assert normalise_personnummer("500907-2553", today=today) == "195009072553"
    assert normalise_personnummer("5009072553", today=today) == "195009072553"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("191212121213", "check digit"),
        ("191213321212", "real date"),
        ("19121212121", "form"),
        ("abc", "form"),
        ("181212121212", "over 125 years"),
        ("291212121212", "future"),
    ],
)
def test_bad_personnummer_say_what_is_wrong(value: str, problem: str) -> None:
    message = check_personnummer(value)
    assert message is not None and problem in message
    assert value not in message, "the number itself is never echoed"


def _numbers(day_offset: int) -> st.SearchStrategy[tuple[str, str]]:
    """(12-digit, 10-digit with separator) forms of valid numbers born in the last 120 years."""
    today = date.today()
    births = st.dates(min_value=today.replace(year=today.year - 120), max_value=today - timedelta(days=1))

    def build(birth: date, serial: int) -> tuple[str, str]:
        body = f"{birth:%y%m}{birth.day + day_offset:02d}{serial:03d}"
        check = luhn_check_digit(body)
        separator = "+" if today.year - birth.year >= 100 else "-"
        return f"{birth:%Y}{body[2:]}{check}", f"{body[:6]}{separator}{body[6:]}{check}"

    return st.builds(build, births, st.integers(0, 999))


def _single_digit_changes(number: str) -> list[str]:
    return [
        number[:pos] + digit + number[pos + 1 :]
        for pos, ch in enumerate(number)
        if ch.isdigit()
        for digit in "0123456789"
        if digit != ch
    ]


@settings(max_examples=150)
@given(_numbers(day_offset=0))
def test_every_valid_personnummer_passes_and_every_single_digit_change_is_caught(
    forms: tuple[str, str],
) -> None:
    full, short = forms
    assert check_personnummer(full) is None
    assert check_personnummer(short) is None
    for changed in _single_digit_changes(full) + _single_digit_changes(short):
        assert check_personnummer(changed) is not None, changed


@settings(max_examples=100)
@given(_numbers(day_offset=60))
def test_every_valid_samordningsnummer_passes_and_every_single_digit_change_is_caught(
    forms: tuple[str, str],
) -> None:
    full, short = forms
    assert check_samordningsnummer(full) is None
    assert check_samordningsnummer(short) is None
    for changed in _single_digit_changes(full) + _single_digit_changes(short):
        assert check_samordningsnummer(changed) is not None, changed


@settings(max_examples=100)
@given(st.from_regex(r"\A[0-9]{9}\Z"))
def test_every_organisationsnummer_with_its_check_digit_passes_and_changes_are_caught(body: str) -> None:
    number = f"{body[:6]}-{body[6:]}{luhn_check_digit(body)}"
    assert check_organisationsnummer(number) is None
    for changed in _single_digit_changes(number):
        assert check_organisationsnummer(changed) is not None, changed


def test_organisationsnummer_and_hsa_id() -> None:
    assert check_organisationsnummer("232100-0016") is None
    assert check_organisationsnummer("232100-0017") is not None
    assert check_hsa_id("SE2321000131-P000000123456") is None
    assert check_hsa_id("TSTNMT2321000156-102Q") is None
    assert check_hsa_id("SE2321000131-Pååå") is not None
    assert check_hsa_id("SE2321000131-" + "X" * 30) is not None


def test_reservnummer_is_never_judged_by_personnummer_rules() -> None:
    assert check_reservnummer("991212121213") is None  # fails Luhn as a personnummer, fine as reservnummer
    assert check_reservnummer("19121212K001") is None
    assert check_reservnummer("  ") is not None


def test_max_age_leaves_the_test_identities_valid() -> None:
    assert date.today().year - 1912 < MAX_AGE_YEARS
