"""Dead Letter Channel: messages given up on, listed, inspected, replayed or skipped.

A dead letter stays in the outbox under its original MessageHeader.id, so a replay sends the very
same message again and a receiver that did take it after all recognises it and dedupes it. Replay
selects one message, a recipient, or a time range of when the messages were given up; it restarts
the attempt count and the give-up clock, and is written to the audit trail.

A dead letter holds its (case, recipient) line: what follows it for that case and recipient waits.
Replay releases the line in order (the dead letter first); skipping one dead letter, with a reason,
releases it without sending that message, and is audited in the same transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime

from adapter.store.outbox import DeadLetterFilter, OutboxRecord
from adapter.store.store import Store

__all__ = ["DeadLetterFilter", "NotADeadLetter", "parse_instant", "replay", "select", "skip"]


class NotADeadLetter(LookupError):
    """Skip names a message that is not (or no longer) a dead letter."""


def replay(store: Store, which: DeadLetterFilter, *, by: str, now: float) -> list[str]:
    """Put the chosen dead letters back in the queue, due now; their message ids."""
    message_ids = store.replay(which, now)
    store.audit(
        None,
        party=by,
        action="replay",
        outcome="requeued" if message_ids else "nothing-to-replay",
        message_id=message_ids[0] if len(message_ids) == 1 else None,
        detail={
            "count": len(message_ids),
            "message_ids": message_ids[:200],
            "filter": {k: v for k, v in vars(which).items() if v is not None},
        },
    )
    return message_ids


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
