"""Base structure and Swedish identifier rules."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapter.validation.identifiers import (
    check_hsa_id,
    check_organisationsnummer,
    check_personnummer,
    check_samordningsnummer,
    luhn_check_digit,
    normalise_personnummer,
)
from adapter.validation.structure import check_structure
from tests.conftest import CONFORMANCE

EXAMPLES = sorted(CONFORMANCE.glob("*.json"))


def test_the_official_examples_are_there() -> None:
    assert len(EXAMPLES) > 100


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_official_r4_examples_pass_base_structure(path: Path) -> None:
    resource = orjson.loads(path.read_bytes())
    assert check_structure(resource) == []


@pytest.mark.parametrize(
    "value", ["191212121212", "201212121212", "195009072553", "196101182803", "199002222397", "121212-1212"]
)
def test_test_personnummer_are_valid(value: str) -> None:
    assert check_personnummer(value) is None


def test_samordningsnummer() -> None:
    assert check_samordningsnummer("196109732393") is None
    assert check_personnummer("196109732393") is not None


def test_ten_digit_forms_get_their_century() -> None:
    from datetime import date

    today = date(2026, 11, 23)
    assert normalise_personnummer("121212-1212", today=today) == "201212121212"
    assert normalise_personnummer("121212+1212", today=today) == "191212121212"
    assert normalise_personnummer("500907-2553", today=today) == "195009072553"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("191212121213", "check digit"),
        ("191213321212", "real date"),
        ("19121212121", "form"),
        ("abc", "form"),
    ],
)
def test_bad_personnummer_say_what_is_wrong(value: str, problem: str) -> None:
    message = check_personnummer(value)
    assert message is not None and problem in message
    assert value not in message, "the number itself is never echoed"


@given(
    st.dates(
        min_value=__import__("datetime").date(1900, 1, 1), max_value=__import__("datetime").date(2025, 12, 31)
    ),
    st.integers(0, 999),
)
def test_generated_personnummer_pass_and_every_single_digit_change_is_caught(
    birth: object, serial: int
) -> None:
    body = f"{birth:%y%m%d}{serial:03d}"  # type: ignore[str-format]
    full = f"{birth:%Y%m%d}{serial:03d}{luhn_check_digit(body)}"  # type: ignore[str-format]
    assert check_personnummer(full) is None
    for pos in range(len(full)):
        for digit in "0123456789":
            if digit == full[pos]:
                continue
            changed = full[:pos] + digit + full[pos + 1 :]
            # Luhn catches every single-digit change in the 10 digits it covers; a changed century
            # is caught when it makes the date impossible or a future birth, otherwise it is a
            # different valid number and not an error of form.
            if pos >= 2:
                assert check_personnummer(changed) is not None, changed


def test_organisationsnummer_and_hsa_id() -> None:
    assert check_organisationsnummer("232100-0016") is None
    assert check_organisationsnummer("232100-0017") is not None
    assert check_hsa_id("SE2321000131-P000000123456") is None
    assert check_hsa_id("TSTNMT2321000156-102Q") is None
    assert check_hsa_id("SE2321000131-Pååå") is not None
    assert check_hsa_id("SE2321000131-" + "X" * 30) is not None
