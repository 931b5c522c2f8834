"""Validation issues and the OperationOutcome they become.

Every rejection the adapter gives is made of these: a severity, a code from
http://hl7.org/fhir/issue-type, a sentence an integration engineer can act on, and the FHIRPath
expression of the element concerned.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["fatal", "error", "warning", "information"]

# Bounded work and echo per answer: a body made to break many rules (or one with a long value)
# gets a short answer, not one larger than itself. Beyond MAX_ISSUES, one summary issue.
MAX_ISSUES = 100
MAX_TEXT = 1000  # characters of an issue's diagnostics
MAX_EXPRESSION = 300  # characters of an issue's expression


def bounded(text: str, limit: int) -> str:
    """`text`, cut to `limit` characters (saying how much was left out) if it is longer."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 40]}… ({len(text) - limit + 40} characters more)"


@dataclass(frozen=True, slots=True)
class Issue:
    severity: Severity
    code: str  # http://hl7.org/fhir/issue-type, e.g. structure, required, value, invariant
    message: str
    expression: str | None = None  # FHIRPath of the element, e.g. Bundle.entry[0].resource
    rule: str | None = None  # the rule broken, e.g. an invariant key or "personnummer-luhn"
    profile: str | None = None  # canonical URL of the profile the rule belongs to

    @property
    def blocking(self) -> bool:
        return self.severity in ("fatal", "error")

    def to_fhir(self) -> dict[str, Any]:
        message = bounded(self.message, MAX_TEXT)
        issue: dict[str, Any] = {"severity": self.severity, "code": self.code, "diagnostics": message}
        if self.rule or self.profile:
            details: dict[str, Any] = {"text": message}
            if self.rule:
                details["coding"] = [{"system": RULE_SYSTEM, "code": self.rule}]
            issue["details"] = details
        if self.expression:
            issue["expression"] = [bounded(self.expression, MAX_EXPRESSION)]
        if self.profile:
            issue["extension"] = [{"url": PROFILE_EXTENSION, "valueString": self.profile}]
        return issue


# The extension the HL7 validator names the profile being checked with (FHIR extensions pack,
# value string). Not operationoutcome-message-id: that one carries a message template's id.
PROFILE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-context"
RULE_SYSTEM = "urn:lus-adapter:validation-rule"


def has_errors(issues: Iterable[Issue]) -> bool:
    return any(i.blocking for i in issues)


def operation_outcome(issues: Iterable[Issue], *, ok_text: str = "No issues found.") -> dict[str, Any]:
    """An OperationOutcome resource (as JSON-ready dict) for these issues: at most MAX_ISSUES of
    them, errors before warnings, and then one issue saying how many more there were."""
    found = list(issues)
    if len(found) > MAX_ISSUES:
        found.sort(key=lambda i: not i.blocking)  # stable: in order within each kind
    entries = [i.to_fhir() for i in found[:MAX_ISSUES]]
    if len(found) > MAX_ISSUES:
        left = found[MAX_ISSUES:]
        errors = sum(i.blocking for i in left)
        entries.append(
            {
                "severity": "error" if errors else "warning",
                "code": "too-costly",
                "diagnostics": f"{len(left)} more issues ({errors} of them errors) are not shown: at"
                f" most {MAX_ISSUES} are listed. Correct these and send again.",
            }
        )
    if not entries:
        entries = [{"severity": "information", "code": "informational", "diagnostics": ok_text}]
    return {"resourceType": "OperationOutcome", "issue": entries}
