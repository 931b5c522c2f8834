"""Validate: the message against the R4 base and the LUS profiles for its event, then as a whole
(no reference cycles). A dialect message is validated in its own form first (translate in), against
R4 and its dialect's profile; those profiles are checked to be loaded when the road is built."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from adapter.fhir.bundle import BundleIndex
from adapter.fhir.issues import Issue
from adapter.fhir.rejected import Rejected
from adapter.mapping.dialects import DIALECT_FILE, NO_COMMUNICATION, Dialect, Dialects
from adapter.mapping.rules import MappingError
from adapter.road.message import Message, Result
from adapter.validation.cycles import reference_cycle
from adapter.validation.validator import Validator


class Validate:
    def __init__(self, validator: Validator, dialects: Dialects | None) -> None:
        self.validator = validator
        self.dialects = dialects
        for dialect in dialects.dialects.values() if dialects else ():
            if dialect.spec.profile and dialect.spec.profile not in validator.profiles():
                raise MappingError(
                    f"mappings/{dialect.name}/{DIALECT_FILE}: profile {dialect.spec.profile} is not loaded"
                )

    def __call__(self, message: Message) -> Result | None:
        index = BundleIndex(message.bundle)
        issues = self.validator.validate_message(message.bundle, index)
        if any(i.blocking for i in issues):
            raise Rejected(issues)
        cycle = reference_cycle(index)
        if cycle is not None:
            raise Rejected(cycle)
        message.index, message.issues = index, issues
        return None

    def dialect_form(self, dialect: Dialect, bundle: dict[str, Any]) -> list[Issue]:
        """A dialect Bundle against R4, then its dialect's profile; located in `bundle`."""
        assert self.dialects is not None
        issues = self.validator.validate_resource(bundle)
        profile = dialect.spec.profile
        if profile is None or any(i.blocking for i in issues):
            return issues
        if dialect.spec.form == "transaction":
            return issues + self.validator.validate_resource(bundle, profile)
        at, comm = self.dialects.communication(bundle)
        if comm is None:
            return [NO_COMMUNICATION]
        where = f"Bundle.entry[{at}].resource"
        return issues + [
            replace(i, expression=where + (i.expression or "Communication").removeprefix("Communication"))
            for i in self.validator.validate_resource(comm, profile)
        ]
