"""Map in: the process event a validated message carries (by the rules of its sender's dialect),
with its patient's identifier in the one form the case stores."""

from __future__ import annotations

import dataclasses
from typing import Any

from adapter.fhir.bundle import BundleIndex
from adapter.fhir.issues import Issue
from adapter.mapping.engine import Mapper
from adapter.process.events import Event
from adapter.road.message import Message, Result
from adapter.routing.identity import as_origin, origin_id
from adapter.routing.table import RoutingTable
from adapter.security.patient import PatientIdentity


class MapIn:
    def __init__(self, mapper: Mapper, routing: RoutingTable, patients: PatientIdentity) -> None:
        self.mapper = mapper
        self.routing = routing
        self.patients = patients
        self.origin_url = mapper.extensions["origin-message"]

    def __call__(self, message: Message) -> Result | None:
        assert message.index is not None
        translation = message.translation
        # A translated message is canonical now: its sender's own rules were the dialect's.
        event, warnings = self.to_event(message.index, None if translation else message.caller)
        patient = self.patients.of_message(message.index, event.occurred_at.date())
        event = self.patients.in_one_form(event, patient)
        if translation is not None:  # the mapper's own warnings first, where both found the same
            found = {w.expression for w in warnings}
            warnings = [w for w in translation.warnings if w.expression not in found] + warnings
        message.issues = warnings + message.issues
        message.event, message.patient = event, patient
        return None

    def to_event(self, index: BundleIndex, caller: str | None = None) -> tuple[Event, list[Issue]]:
        """Map a validated message to its process event in the sender's dialect (MappingFailed)."""
        sender_party = self.routing.party(caller) if caller else None
        dialect = sender_party.inbound_dialect if sender_party else "canonical"
        return self.mapper.to_event(dialect, index)

    def as_filed(self, event: Event, header: dict[str, Any]) -> Event:
        """The event as the case files it: under its origin id (a copy keeps the id it arrived
        with), with the parties its header names as destinations."""
        event = as_origin(event, origin_id(header, self.origin_url))
        return dataclasses.replace(event, destinations=tuple(_destination_ids(header)))

    def is_copy(self, header: dict[str, Any], caller: str | None) -> bool:
        """A copy another party's adapter made and routed already (this adapter's own party's
        system sends only its own messages, whatever it puts in them)."""
        return origin_id(header, self.origin_url) is not None and caller != self.routing.self_.hsa_id


def _destination_ids(header: dict[str, Any]) -> list[str]:
    ids = []
    for dest in header.get("destination") or []:
        value = ((dest.get("receiver") or {}).get("identifier") or {}).get("value")
        if isinstance(value, str):
            ids.append(value)
    return ids
