"""Persist: in one transaction, what the earlier steps made of the message — the case change, the
tidbok slots a planeringsmöte takes or frees, the outbox rows rendered for every recipient, the
inbox row with the answer, the audit record. Only then is the answer given: a message is durable
before it is acknowledged.

The transaction first takes the case (on PostgreSQL a per-case advisory lock, store.serialize_case),
so the messages of a case are written one after another and their outbox rows keep that order per
recipient. A copy of the message committed meanwhile gets that copy's answer; a case changed
meanwhile is `CaseMoved`, and the runner applies, routes and renders the message again."""

from __future__ import annotations

from collections.abc import Callable

import structlog

from adapter import metrics
from adapter.process.events import Kvittens
from adapter.road.dedupe import Dedupe
from adapter.road.message import Message, Result
from adapter.road.refusals import slot_taken, taken_on_the_way
from adapter.routing.kvittens import record_kvittens
from adapter.security.audit import patient_hash
from adapter.store.store import InboxRecord, Store
from adapter.store.tidbok import SlotTaken, apply_meeting

log = structlog.get_logger("adapter.road")


class CaseMoved(Exception):
    """The case is no longer the version the message was applied to."""


class _AnsweredMeanwhile(Exception):
    """A concurrent copy of the same message committed first."""


class Persist:
    def __init__(
        self,
        store: Store,
        dedupe: Dedupe,
        base_url: str,
        audit_key: bytes,
        answer: Callable[[Message], bytes],
    ) -> None:
        self.store = store
        self.answer = answer  # render's answer, again when a slot was taken on the way
        self.dedupe = dedupe
        self.base_url = base_url
        self.audit_key = audit_key

    def __call__(self, message: Message) -> Result | None:
        index, event, next_case = message.accepted
        assert message.event is not None
        received_id = message.event.message_id  # this copy's MessageHeader.id: the inbox dedupes on it
        store, now = self.store, message.now
        try:
            with store.transaction() as conn:
                store.serialize_case(conn, event.case_id)
                if store.inbox_get(conn, received_id) is not None:
                    raise _AnsweredMeanwhile
                if store.case_version(conn, event.case_id) != message.version:
                    raise CaseMoved
                try:  # its own tidbok's slots that a planeringsmöte (or a makulering of one) takes or frees
                    taken = apply_meeting(
                        conn, event, message.case, next_case, now, self.base_url, strict=not message.copy
                    )
                except SlotTaken as exc:
                    raise slot_taken(index, exc.slot_id) from exc
                if taken:
                    message.issues = [
                        *message.issues,
                        *(taken_on_the_way(event.case_id, m, url) for m, url in taken),
                    ]
                    message.response = self.answer(message)
                store.save_case(conn, next_case, [event], now, created=message.case is None)
                if isinstance(event, Kvittens):
                    record_kvittens(store, conn, event, now)
                store.outbox_add(conn, message.outbox, now)
                store.inbox_put(
                    conn,
                    InboxRecord(
                        received_id,
                        index.bundle.get("id"),
                        event.sender,
                        event.case_id,
                        200,
                        message.response,
                    ),
                    now,
                )
                recipients = [item.recipient for item in message.outbox]
                store.audit(
                    conn,
                    party=message.caller or event.sender,
                    action="receive",
                    outcome="accepted",
                    message_id=event.message_id,
                    case_id=event.case_id,
                    patient_hash=patient_hash(next_case.patient.identifier, self.audit_key),
                    detail={"kind": event.kind, "recipients": recipients},
                )
        except _AnsweredMeanwhile:
            previous = self.dedupe.answered_before(received_id, message.caller)
            assert previous is not None  # its inbox row was committed: rows are never deleted
            return previous
        metrics.message_in(event.kind, "accepted")
        log.info("message accepted", kind=event.kind, case_id=event.case_id, recipients=recipients)
        return Result(200, message.response, case_id=event.case_id)
