"""The discharge case: the state of one hospital stay's planning, rebuilt from its events."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from adapter.process.events import Event, Inskrivningsmeddelande, Patient


class CaseState(enum.StrEnum):
    INSKRIVEN = "inskriven"


class CaseRejected(Exception):
    """An event that does not fit the case. `reason` is shown to the sender."""

    def __init__(self, reason: str, *, code: str = "business-rule") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass(frozen=True, kw_only=True)
class DischargeCase:
    """Immutable: `apply` returns the next case. Replaying the event log rebuilds it."""

    case_id: str
    state: CaseState
    patient: Patient
    unit: str
    admitted_at: datetime
    expected_discharge: date | None = None
    events: tuple[Event, ...] = field(default=())

    @staticmethod
    def open(event: Event) -> DischargeCase:
        """The case created by its first event."""
        if not isinstance(event, Inskrivningsmeddelande):
            raise CaseRejected(
                f"No case {event.case_id!r} exists: a case starts with an inskrivningsmeddelande,"
                f" not with {event.kind}.",
                code="not-found",
            )
        return DischargeCase(
            case_id=event.case_id,
            state=CaseState.INSKRIVEN,
            patient=event.patient,
            unit=event.unit,
            admitted_at=event.admitted_at,
            expected_discharge=event.expected_discharge,
            events=(event,),
        )

    def apply(self, event: Event) -> DischargeCase:
        if event.case_id != self.case_id:
            raise CaseRejected(f"Event for case {event.case_id!r} applied to case {self.case_id!r}.")
        if isinstance(event, Inskrivningsmeddelande):
            # A second admission notice for the same stay corrects the first.
            return replace(
                self,
                patient=event.patient,
                unit=event.unit,
                admitted_at=event.admitted_at,
                expected_discharge=event.expected_discharge,
                events=(*self.events, event),
            )
        raise CaseRejected(f"The case cannot yet take a {event.kind} event.", code="not-supported")


def replay(events: list[Event]) -> DischargeCase:
    """Rebuild a case from its event log."""
    case = DischargeCase.open(events[0])
    for event in events[1:]:
        case = case.apply(event)
    return case
