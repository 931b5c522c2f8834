"""Dedupe, the Idempotent Receiver: a message id seen before gets the answer it got then, read in
one visit to the store; a new message may not reuse an earlier one's Bundle.id, and a resend must
repeat what it resends. A dialect message is looked up by its own id before it is translated
(translate in); its canonical form is not looked up again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from adapter import metrics
from adapter.fhir.bundle import BundleIndex
from adapter.mapping.inbound import MappingFailed
from adapter.process.events import event_to_dict
from adapter.road.map_in import MapIn
from adapter.road.message import Message, Result
from adapter.road.refusals import resend_changed, reused_bundle_id, sender_is_caller
from adapter.routing.identity import resolve_reference
from adapter.security.patient import PatientMismatch
from adapter.store.store import Store
from adapter.validation.validator import Validator

log = structlog.get_logger("adapter.road")


class Dedupe:
    def __init__(self, store: Store, validator: Validator, map_in: MapIn, party_ids: tuple[str, ...]) -> None:
        self.store = store
        self.validator = validator
        self.map_in = map_in
        self.party_ids = party_ids

    def __call__(self, message: Message) -> Result | None:
        bundle = message.bundle
        message.header = header = header_of(bundle)
        message_id = header.get("id") if header else None
        if not isinstance(message_id, str):
            return None
        structlog.contextvars.bind_contextvars(message_id=message_id)
        if message.translation is not None:
            return None
        caller = message.caller
        previous = self.answered_before(
            message_id,
            caller,
            bundle.get("id"),
            lambda before: self._refuse_changed_resend(bundle, before, caller),
        )
        if previous is not None:
            metrics.message_in(metrics.kind_of(header), "duplicate")
        return previous

    def answered_before(
        self,
        message_id: str,
        caller: str | None,
        bundle_id: Any = None,
        check_resend: Callable[[Result], None] | None = None,
    ) -> Result | None:
        """The answer a message id got before (only its sender may ask: the answer is about its
        message; `check_resend` may refuse it), or None. A new message must not reuse the
        Bundle.id of an earlier one."""
        with self.store.reading() as conn:
            if isinstance(bundle_id, str):
                seen, other = self.store.inbox_seen(conn, message_id, bundle_id)
                if seen is None and other is not None:
                    raise reused_bundle_id(bundle_id)
            else:
                seen = self.store.inbox_get(conn, message_id)
        if seen is None:
            return None
        if caller is not None and seen.sender is not None:
            sender_is_caller(seen.sender, caller)
        previous = Result(seen.status_code, seen.response, duplicate=True, case_id=seen.case_id)
        if check_resend is not None:
            check_resend(previous)
        log.info("duplicate message answered as before", case_id=seen.case_id)
        self.store.audit(
            None,
            party=caller,
            action="receive",
            outcome="duplicate",
            message_id=message_id,
            case_id=seen.case_id,
        )
        return previous

    def _refuse_changed_resend(self, bundle: dict[str, Any], previous: Result, caller: str | None) -> None:
        """A resend (same MessageHeader.id, new Bundle.id and timestamp allowed) must carry the
        message it repeats: one whose content says something else under that id is refused with
        a 409, not answered as before while its change is dropped (MESSAGING.md: reliable
        messaging; docs/delivery.md). Compared as the process sees it: the event it carries."""
        if previous.status != 200 or previous.case_id is None:
            return
        index = BundleIndex(bundle)
        header = index.header
        message_id = str(header.resource.get("id")) if header else ""
        with self.store.reading() as conn:
            stored = self.store.message_event(conn, previous.case_id, message_id)
            case = self.store.load_case(conn, previous.case_id) if stored is not None else None
        if stored is None:
            return
        same = False
        if header is not None and not any(i.blocking for i in self.validator.validate_message(bundle, index)):
            try:
                event, _ = self.map_in.to_event(index, caller)
                patient = self.map_in.patients.of_message(index, event.occurred_at.date())
            except (MappingFailed, PatientMismatch):
                pass  # never accepted so: it differs
            else:  # filed as the accepted one was: its patient's identifier in one form, under
                # its origin id, its reference resolved
                event = self.map_in.patients.in_one_form(event, patient)
                event = self.map_in.as_filed(event, header.resource)
                event = resolve_reference(event, case, self.party_ids) or event
                ignore = ("occurred_at",)  # Bundle.timestamp: a resend is a new Bundle
                new = {k: v for k, v in event_to_dict(event).items() if k not in ignore}
                same = new == {k: v for k, v in stored.items() if k not in ignore}
        if same:
            return
        log.warning("resend with changed content refused", case_id=previous.case_id)
        raise resend_changed(message_id)


def header_of(bundle: dict[str, Any]) -> dict[str, Any] | None:
    entries = bundle.get("entry")
    if isinstance(entries, list) and entries and isinstance(entries[0], dict):
        resource = entries[0].get("resource")
        if isinstance(resource, dict) and resource.get("resourceType") == "MessageHeader":
            return resource
    return None
