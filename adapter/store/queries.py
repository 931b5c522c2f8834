"""Read-only queries for the people who run the adapter: cases, their messages in and out, the
delivery queue. Nothing here locks or writes; the pipeline and the worker never call it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from adapter.store import schema


@dataclass(frozen=True)
class CaseRow:
    case_id: str
    state: str
    version: int
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class EventRow:
    """One accepted message, as the event log keeps it."""

    message_id: str
    kind: str
    occurred_at: str
    received_at: float
    sender: str | None


@dataclass(frozen=True)
class OutboxRow:
    """One outbound message to one recipient and where its delivery stands."""

    message_id: str
    source_message_id: str
    recipient: str
    kind: str
    status: str  # pending | delivered | dead
    attempts: int
    created_at: float
    delivered_at: float | None
    next_attempt_at: float
    last_error: str | None


@dataclass(frozen=True)
class QueueRow:
    """The outbox of one recipient in one status."""

    recipient: str
    status: str
    count: int
    oldest_created_at: float


def case_rows(conn: Connection, case_id: str | None = None) -> list[CaseRow]:
    """Every case, or the one with `case_id`."""
    c = schema.cases.c
    query = select(c.case_id, c.state, c.version, c.created_at, c.updated_at)
    if case_id is not None:
        query = query.where(c.case_id == case_id)
    rows = conn.execute(query).all()
    return [CaseRow(r.case_id, r.state, r.version, r.created_at, r.updated_at) for r in rows]


def event_payloads(conn: Connection, case_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """The event logs of these cases (plain data, in replay order), in few queries. Replay them
    after the connection is closed: on SQLite an open read holds the write lock."""
    ids = list(case_ids)
    ev = schema.events.c
    payloads: dict[str, list[dict[str, Any]]] = defaultdict(list)
    # Chunked so that the IN list stays within every backend's parameter limit.
    for start in range(0, len(ids), 500):
        rows = conn.execute(
            select(ev.case_id, ev.payload)
            .where(ev.case_id.in_(ids[start : start + 500]))
            .order_by(ev.case_id, ev.occurred_at, ev.id)
        )
        for row in rows:
            payloads[row.case_id].append(row.payload)
    return payloads


def case_events(conn: Connection, case_id: str) -> list[EventRow]:
    ev = schema.events.c
    rows = conn.execute(
        select(ev.message_id, ev.kind, ev.occurred_at, ev.received_at, ev.payload)
        .where(ev.case_id == case_id)
        .order_by(ev.received_at, ev.id)
    ).all()
    return [
        EventRow(r.message_id, r.kind, r.occurred_at, r.received_at, r.payload.get("sender")) for r in rows
    ]


def case_outbox(conn: Connection, case_id: str) -> list[OutboxRow]:
    ob = schema.outbox.c
    rows = conn.execute(
        select(
            ob.message_id,
            ob.source_message_id,
            ob.recipient,
            ob.kind,
            ob.status,
            ob.attempts,
            ob.created_at,
            ob.delivered_at,
            ob.next_attempt_at,
            ob.last_error,
        )
        .where(ob.case_id == case_id)
        .order_by(ob.id)
    ).all()
    return [OutboxRow(**r._asdict()) for r in rows]


def queue_by_recipient(conn: Connection) -> list[QueueRow]:
    ob = schema.outbox.c
    rows = conn.execute(
        select(ob.recipient, ob.status, func.count(), func.min(ob.created_at))
        .group_by(ob.recipient, ob.status)
        .order_by(ob.recipient, ob.status)
    ).all()
    return [QueueRow(r[0], r[1], int(r[2]), float(r[3])) for r in rows]
