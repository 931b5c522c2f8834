"""Apply: the event to its case as the store holds it now, if its sender may send it into the case
(routing/access.py) and the process takes it (process/case.py). Nothing is written here: persist
writes the case only if it is still the version read here."""

from __future__ import annotations

from adapter.fhir.issues import Issue
from adapter.fhir.rejected import Rejected
from adapter.process.case import CaseRejected, DischargeCase
from adapter.process.events import Event
from adapter.road.dedupe import Dedupe
from adapter.road.map_in import MapIn
from adapter.road.message import Message, Result
from adapter.road.refusals import fits_store, not_yet, sender_is_caller
from adapter.routing.access import check_opening, check_party, check_step
from adapter.routing.identity import reference, resolve_reference
from adapter.routing.signoff import check_discharge
from adapter.routing.steps import StepTable
from adapter.routing.table import RoutingTable
from adapter.store.store import Store


class Apply:
    def __init__(
        self,
        store: Store,
        routing: RoutingTable,
        steps: StepTable,
        map_in: MapIn,
        dedupe: Dedupe,
        discharge_waits_for_approval: bool = False,
    ) -> None:
        self.store = store
        self.routing = routing
        self.steps = steps
        self.map_in = map_in
        self.dedupe = dedupe
        self.party_ids = tuple(p.hsa_id for p in routing.parties)
        # The region's waiting rule of the joint sign-off (lus-rules.yaml, docs/signoff.md).
        self.discharge_waits_for_approval = discharge_waits_for_approval

    def __call__(self, message: Message) -> Result | None:
        index, received, caller = message.index, message.event, message.caller
        assert index is not None and index.header is not None and received is not None  # validated, mapped
        if caller is not None:
            sender_is_caller(received.sender, caller)
        fits_store(received)
        header = index.header.resource
        message.copy = self.map_in.is_copy(header, caller)
        event = self.map_in.as_filed(received, header)
        with self.store.reading() as conn:
            message.case, message.version = self.store.case_at_version(conn, event.case_id)
        try:
            message.filed, message.next_case = self._apply(event, message)
        except Rejected:
            # A copy of this very message written since dedupe looked (the case then holds it) gets
            # the answer that copy got, as in persist.
            previous = self.dedupe.answered_before(received.message_id, caller)
            if previous is not None:
                return previous
            raise
        return None

    def _apply(self, event: Event, message: Message) -> tuple[Event, DischargeCase]:
        case, copy = message.case, message.copy
        try:
            if case is not None:  # a party outside the case learns nothing more of it
                check_party(event, case, self.routing)
            resolved = resolve_reference(event, case, self.party_ids)
            if resolved is None and copy:
                raise not_yet(f"The message {reference(event)} that this {event.kind} names has not arrived.")
            event = resolved or event
            if case is None:
                next_case = DischargeCase.open(event)
                check_opening(event, next_case, self.routing, self.steps)
            else:
                check_step(event, case, self.routing, self.steps)
                self.map_in.patients.check(message.patient, case)
                if self.discharge_waits_for_approval and not copy:  # the sender's adapter decides
                    check_discharge(event, case, self.routing, self.steps)
                next_case = case.with_event(event)
        except CaseRejected as exc:
            if copy and exc.code == "not-found":  # what it follows is still on its way here
                raise not_yet(exc.reason) from exc
            raise Rejected(Issue("error", "business-rule", exc.reason, "Bundle", exc.code)) from exc
        return event, next_case
