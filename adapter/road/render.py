"""Render: before anything is written, the outbound message for each recipient (in its outbound
dialect; a protected patient's details only to those configured to see them) and the answer the
sender gets once the message is durable."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from adapter.fhir.issues import operation_outcome
from adapter.mapping.dialects import Dialects
from adapter.mapping.engine import Mapper
from adapter.mapping.outbound import Addressing, SharedEntries, outbound_message_id
from adapter.mapping.response import response_message
from adapter.process.case import DischargeCase
from adapter.process.events import Event
from adapter.road.message import Message, Result
from adapter.road.translate import dialect_answer, translate_out
from adapter.routing.identity import as_known_by
from adapter.routing.table import PartyConfig
from adapter.security.protected import render_for
from adapter.store.store import NewOutboxItem


class Render:
    def __init__(
        self, mapper: Mapper, dialects: Dialects | None, source_endpoint: str, source_name: str
    ) -> None:
        self.mapper = mapper
        self.dialects = dialects
        self.source_endpoint = source_endpoint
        self.source_name = source_name

    def __call__(self, message: Message) -> Result | None:
        index, event, next_case = message.accepted
        assert index.header is not None
        shared = SharedEntries()  # what every recipient gets alike is rendered once
        message.outbox = [
            NewOutboxItem(
                message_id=outbound_message_id(event.message_id, party.hsa_id),
                source_message_id=event.message_id,
                case_id=event.case_id,
                recipient=party.hsa_id,
                endpoint=party.endpoint,
                kind=event.kind,
                body=self.for_recipient(event, party, next_case, shared),
            )
            for party in message.recipients
        ]
        message.response = self.answer(message)
        return None

    def answer(self, message: Message) -> bytes:
        """The answer the sender gets once the message is durable, with the warnings found so far."""
        index = message.index
        assert index is not None and index.header is not None
        issues = [*message.issues, message.late] if message.late else message.issues
        answer = response_message(
            index.header.resource,
            code="ok",
            source_endpoint=self.source_endpoint,
            now=datetime.fromtimestamp(message.now, UTC),
            outcome=operation_outcome(issues) if issues else None,
        )
        if message.translation is not None:  # the sender's dialect gets the answer its form expects
            answer = dialect_answer(message.translation, answer)
        return orjson.dumps(answer)

    def for_recipient(
        self, event: Event, party: PartyConfig, case: DischargeCase, shared: SharedEntries
    ) -> bytes:
        """The outbound message for one recipient; an earlier message it names, by the id this
        recipient knows (entries that name it are then its own, not shared)."""
        known = as_known_by(event, party.hsa_id, case)
        if known is not event:
            event, shared = known, SharedEntries()
        to = Addressing(party.hsa_id, party.endpoint, self.source_endpoint, self.source_name)
        bundle = render_for(
            event, case, party.sees_protected_details, lambda e, c: self.mapper.to_bundle(e, to, c, shared)
        )
        return orjson.dumps(translate_out(self.dialects, party.outbound_dialect, bundle))
