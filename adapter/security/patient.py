"""The patient of a message: one identity per case, in one form.

Every message of a case carries its Patient; it must be the case's patient. Identifiers are
compared and stored in one form: a personnummer or samordningsnummer as 12 digits YYYYMMDDNNNC
(the 10-digit input forms YYMMDD-NNNC, and YYMMDD+NNNC for someone aged 100 or more, take their
century from the message's date), a reservnummer as sent, without surrounding space. A message
naming another patient is refused and changes nothing: a case's patient is never replaced.
Refusals name both identifiers masked (`mask`), never in full.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from adapter.fhir.bundle import BundleIndex
from adapter.fhir.issues import Issue
from adapter.fhir.rejected import Rejected
from adapter.process.case import DischargeCase
from adapter.process.events import Event, Inskrivningsmeddelande
from adapter.validation.identifiers import normalise_personnummer
from adapter.validation.terminology import Terminology

# The identifier rules (NamingSystem extension identifier-rule) that identify a person.
_PERSON_RULES = {"personnummer": True, "samordningsnummer": True, "reservnummer": False}  # → 12-digit form


class PatientMismatch(Rejected):
    """The message's patient is not one person, or not the case's."""


@dataclass(frozen=True)
class MessagePatient:
    """The patient identifier a message carries, normalised, and where it is in the message."""

    system: str
    value: str
    expression: str


def mask(value: str) -> str:
    """Enough to tell two numbers apart in an answer (century and check digit), never the number."""
    return f"{value[:2]}…{value[-2:]}" if len(value) > 6 else "…"


class PatientIdentity:
    """Built once from the package's NamingSystems (which systems identify a person, and how)."""

    def __init__(self, terminology: Terminology) -> None:
        self._twelve_digits: dict[str, bool] = {}
        for naming in terminology.naming_systems.values():
            if naming.rule in _PERSON_RULES:
                for uri in (naming.preferred, *naming.aliases):
                    self._twelve_digits[uri] = _PERSON_RULES[naming.rule]

    def normalise(self, system: str, value: str, on: date) -> str:
        """The one form of an identifier of a person (as given when it cannot be read)."""
        value = value.strip()
        if self._twelve_digits.get(system):
            return normalise_personnummer(value, today=on) or value
        return value

    def of_message(self, index: BundleIndex, on: date) -> MessagePatient | None:
        """The patient a (validated) message is about: the first person identifier of its Patient.
        Several Patients must all be the same person."""
        found: MessagePatient | None = None
        for entry in index.of_type("Patient"):
            identifiers = entry.resource.get("identifier")
            for i, identifier in enumerate(identifiers if isinstance(identifiers, list) else []):
                system = identifier.get("system") if isinstance(identifier, dict) else None
                value = identifier.get("value") if isinstance(identifier, dict) else None
                if isinstance(system, str) and isinstance(value, str) and system in self._twelve_digits:
                    here = MessagePatient(
                        system, self.normalise(system, value, on), f"{entry.path}.identifier[{i}].value"
                    )
                    if found is None:
                        found = here
                    elif (here.system, here.value) != (found.system, found.value):
                        raise PatientMismatch(
                            _issue(
                                f"The message names two patients: {mask(found.value)} at {found.expression}"
                                f" and {mask(here.value)} at {here.expression}. A message is about one"
                                " patient.",
                                here.expression,
                            )
                        )
                    break
        return found

    def in_one_form(self, event: Event, patient: MessagePatient | None) -> Event:
        """An admission notice with its patient's identifier in the one form it is stored in."""
        if isinstance(event, Inskrivningsmeddelande):
            p = event.patient
            day = _day(event)
            value = patient.value if patient else self.normalise(p.identifier_system, p.identifier, day)
            if value != p.identifier:
                return replace(event, patient=replace(p, identifier=value))
        return event

    def check(self, patient: MessagePatient | None, case: DischargeCase) -> None:
        """Raises PatientMismatch unless the message's patient is the case's."""
        if patient is None:  # a message without a person identifier did not pass validation
            return
        case_patient, case_id = case.patient, case.case_id
        # A case stored before identifiers had one form may hold a 10-digit one: read as of its admission.
        admitted = _day(case.events[0])
        expected = self.normalise(case_patient.identifier_system, case_patient.identifier, admitted)
        if (patient.system, patient.value) == (case_patient.identifier_system, expected):
            return
        raise PatientMismatch(
            _issue(
                f"The message's patient ({mask(patient.value)}, {patient.system}) at {patient.expression}"
                f" is not the patient of case {case_id} ({mask(expected)}, {case_patient.identifier_system},"
                " set by its inskrivningsmeddelande). Every message of a case is about the case's patient;"
                " nothing was changed. A message about another patient belongs to that patient's case.",
                patient.expression,
            )
        )


def _day(event: Event) -> date:
    return event.occurred_at.date()


def _issue(message: str, expression: str) -> Issue:
    return Issue("error", "business-rule", message, expression, "patient-is-case-patient")
