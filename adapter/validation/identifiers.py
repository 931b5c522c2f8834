"""Swedish identifier rules: personnummer, samordningsnummer, organisationsnummer, HSA-id.

The released SE base profiles check neither format nor check digit; this module does.
Each function returns None when the value is valid, or a sentence saying what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

_PNR = re.compile(r"^(\d{2})?(\d{2})(\d{2})(\d{2})([-+]?)(\d{3})(\d)$")
_HSA = re.compile(r"^[A-Za-z0-9]+-[A-Za-z0-9]+$")
_ORGNR = re.compile(r"^(\d{6})-?(\d{4})$")


def luhn_ok(digits: str) -> bool:
    """Luhn (mod 10) over a digit string whose last digit is the check digit."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def luhn_check_digit(digits: str) -> str:
    """The check digit that makes `digits + check` pass Luhn."""
    for check in "0123456789":
        if luhn_ok(digits + check):
            return check
    raise AssertionError("unreachable")


def normalise_personnummer(value: str, *, today: date | None = None) -> str | None:
    """12-digit form YYYYMMDDNNNC of a 10- or 12-digit input, or None if not parseable.

    A 10-digit YYMMDD-NNNC gets the century that makes the person at most 99 years old;
    YYMMDD+NNNC marks someone aged 100 or more.
    """
    m = _PNR.match(value.strip())
    if not m:
        return None
    century, yy, mm, dd, sep, serial, check = m.groups()
    if century is None:
        if today is None:
            today = date.today()
        year = 1900 + int(yy)
        while year + 100 <= today.year:
            year += 100
        if sep == "+":
            year -= 100
        century = str(year // 100)
    return f"{century}{yy}{mm}{dd}{serial}{check}"


# A living patient was born neither in the future nor, plausibly, more than this many years ago;
# with it a changed century digit (19 → 18, 20 → 29) is seen, which Luhn (over YYMMDDNNN) cannot.
# Over 125 years is a warning only: HL7 Sweden's basprofiler examples use 1890s test identities.
MAX_AGE_YEARS = 125


class Implausible(str):
    """A problem that is a warning: the number may be right (the person born in 1890)."""


def _check_person(value: str, *, day_offset: int, label: str) -> str | None:
    full = normalise_personnummer(value)
    if full is None:
        return f"{label} {_masked(value)} is not of the form YYYYMMDDNNNC (or YYMMDD-NNNC)"
    year, month, day = int(full[0:4]), int(full[4:6]), int(full[6:8]) - day_offset
    try:
        born = date(year, month, day)
    except ValueError:
        return f"{label} {_masked(value)} does not contain a real date of birth"
    if not luhn_ok(full[2:]):
        return f"{label} {_masked(value)} has a wrong check digit (Luhn)"
    today = date.today()
    if born > today:
        return f"{label} {_masked(value)} has a date of birth in the future"
    if today.year - born.year > MAX_AGE_YEARS:
        return Implausible(
            f"{label} {_masked(value)} has a date of birth over {MAX_AGE_YEARS} years ago: a mistyped"
            " century? (HL7 Sweden publishes such test identities, so this is a warning)"
        )
    return None


def check_personnummer(value: str) -> str | None:
    full = normalise_personnummer(value)
    if full is not None and 61 <= int(full[6:8]) <= 91:
        return f"personnummer {_masked(value)} has day + 60: it is a samordningsnummer"
    return _check_person(value, day_offset=0, label="personnummer")


def check_samordningsnummer(value: str) -> str | None:
    full = normalise_personnummer(value)
    if full is not None and not 61 <= int(full[6:8]) <= 91:
        return f"samordningsnummer {_masked(value)} must have day + 60 (61–91)"
    return _check_person(value, day_offset=60, label="samordningsnummer")


def check_organisationsnummer(value: str) -> str | None:
    m = _ORGNR.match(value.strip())
    if not m:
        return f"organisationsnummer {value!r} is not 10 digits (NNNNNN-NNNN)"
    if not luhn_ok(m.group(1) + m.group(2)):
        return f"organisationsnummer {value!r} has a wrong check digit (Luhn)"
    return None


def check_hsa_id(value: str) -> str | None:
    if len(value) > 31:
        return f"HSA-id {value!r} is longer than 31 characters"
    if not _HSA.match(value):
        return f"HSA-id {value!r} is not of the form <prefix><organisationsnummer>-<id> with A–Z, a–z, 0–9"
    return None


def check_reservnummer(value: str) -> str | None:
    # Regional formats vary; never judged by personnummer rules. Only emptiness is wrong.
    return None if value.strip() else "reservnummer is empty"


def _masked(value: str) -> str:
    # Error texts reach the sender and, through OperationOutcome, possibly logs: never echo a number.
    return f"ending …{value[-2:]}" if len(value) > 4 else "(value)"


RULES: dict[str, Callable[[str], str | None]] = {
    "personnummer": check_personnummer,
    "samordningsnummer": check_samordningsnummer,
    "organisationsnummer": check_organisationsnummer,
    "hsa-id": check_hsa_id,
    "reservnummer": check_reservnummer,
}
