"""Dead Letter Channel: messages given up on, listed, inspected, re-queued or skipped.

A dead letter stays in the outbox under its original MessageHeader.id, so re-queuing sends the very
same message again and a receiver that did take it after all recognises it and dedupes it. A re-queue
selects one message, a recipient, or a time range of when the messages were given up; it restarts
the attempt count and the give-up clock, and is written to the audit trail.

A dead letter holds its (case, recipient) line: what follows it for that case and recipient waits.
A re-queue releases the line in order (the dead letter first); skipping one dead letter, with a reason,
releases it without sending that message, and is audited in the same transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime

from adapter.security.audit import patient_hash
from adapter.store.outbox import DeadLetterFilter, OutboxRecord
from adapter.store.store import Store

__all__ = ["DeadLetterFilter", "NotADeadLetter", "audit_shown", "parse_instant", "requeue", "select", "skip"]


class NotADeadLetter(LookupError):
    """Skip names a message that is not (or no longer) a dead letter."""


def requeue(
    store: Store, which: DeadLetterFilter, *, by: str, now: float, audit_key: bytes | None = None
) -> list[str]:
    """Put the chosen dead letters back in the queue, due now; their message ids. Audited once per
    case, with its patient's hash (keyed by `audit_key`), so a PDL review by patient finds it."""
    requeued = store.requeue_by_case(which, now)
    chosen = {k: v for k, v in vars(which).items() if v is not None}
    by_case: dict[str, list[str]] = {}
    for message_id, case_id in requeued:
        by_case.setdefault(case_id, []).append(message_id)
    if not by_case:
        store.audit(
            None,
            party=by,
            action="replay",  # the audit trail's name for a re-queue, kept for its readers
            outcome="nothing-to-replay",
            detail={"count": 0, "filter": chosen},
        )
    for case_id, message_ids in by_case.items():
        patient = store.case_patient(case_id) if audit_key is not None else None
        store.audit(
            None,
            party=by,
            action="replay",
            outcome="requeued",
            case_id=case_id,
            message_id=message_ids[0] if len(message_ids) == 1 else None,
            patient_hash=patient_hash(patient, audit_key) if patient and audit_key else None,
            detail={"count": len(message_ids), "message_ids": message_ids[:200], "filter": chosen},
        )
    return [message_id for message_id, _case_id in requeued]


def audit_shown(store: Store, message_id: str, case_id: str, *, by: str, audit_key: bytes, via: str) -> None:
    """An outbound message was shown to an operator (`deadletters show`, /admin/messages): it
    holds the patient's details, so the read is audited with the patient's hash."""
    patient = store.case_patient(case_id)
    store.audit(
        None,
        party=by,
        action="read-message",
        outcome="ok",
        message_id=message_id,
        case_id=case_id,
        patient_hash=patient_hash(patient, audit_key) if patient else None,
        detail={"via": via},
    )


def skip(store: Store, message_id: str, *, by: str, reason: str, now: float) -> OutboxRecord:
    """Release the line a dead letter holds without sending it; the skip and its reason audited."""
    reason = reason.strip()
    if not reason:
        raise ValueError("a reason is required to skip a dead letter")
    with store.transaction() as conn:
        record = store.skip(conn, message_id, by=by, reason=reason, now=now)
        if record is not None:
            store.audit(
                conn,
                party=by,
                action="skip",
                outcome="skipped",
                message_id=message_id,
                case_id=record.case_id,
                detail={"recipient": record.recipient, "kind": record.kind, "reason": reason},
            )
    if record is None:
        found = store.outbox_message(message_id)
        state = f"is {found[0].status}" if found else "does not exist"
        raise NotADeadLetter(f"outbound message {message_id} {state}; only a dead letter can be skipped")
    return record


def select(
    message_id: str | None = None,
    recipient: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> DeadLetterFilter:
    """A filter from what a person typed; ValueError naming the time that does not parse."""
    return DeadLetterFilter(
        message_id,
        recipient,
        parse_instant(since, "since") if since else None,
        parse_instant(until, "until") if until else None,
    )


def parse_instant(text: str, name: str = "time") -> float:
    """An ISO 8601 time (a date alone is its midnight; no offset means UTC) as epoch seconds."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name}: {text!r} is not an ISO 8601 date or time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()
