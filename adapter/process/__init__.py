"""The discharge-planning domain: events, the case, deadlines, betalningsansvar.

Pure Python: no I/O, no FHIR models, no clock of its own (time is passed in).
"""

from adapter.process.case import CaseRejected, CaseState, DischargeCase
from adapter.process.events import EVENT_TYPES, Event, event_from_dict, event_to_dict

__all__ = [
    "EVENT_TYPES",
    "CaseRejected",
    "CaseState",
    "DischargeCase",
    "Event",
    "event_from_dict",
    "event_to_dict",
]
