"""The outbox's queries: claims with leases, delivery outcomes, dead letters, kvittens.

Ordering. A message is claimable only when no earlier message for the same (case, recipient) is
still pending, so each (case, recipient) has at most one message in flight, across every replica.
A dead letter is not pending: it no longer holds the line (the issue's rule: "not sent before the
earlier one is delivered or dead-lettered"), otherwise one refused message would stop a case's
traffic to that party for good. Replaying it makes it pending again; it goes ahead of any later
message still waiting, and arrives after those already delivered (receivers apply by event time).

Claims. On PostgreSQL `FOR UPDATE SKIP LOCKED` lets replicas claim side by side without waiting
on each other; on SQLite BEGIN IMMEDIATE serializes the claim. A claim is a lease: if its replica
dies, the lease runs out and another replica takes the message again (at-least-once; receivers
dedupe on the unchanged MessageHeader.id). Every outcome is written only by the lease's owner, so
a replica that was too slow and lost its lease cannot overwrite what the new owner recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, any_, func, insert, select, update
from sqlalchemy.sql.elements import ColumnElement

from adapter.store import schema
from adapter.store.engine import Database
from adapter.store.prepared import Prepared

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
ob = schema.outbox


@dataclass(frozen=True)
class NewOutboxItem:
    message_id: str
    source_message_id: str
    case_id: str
    recipient: str
    endpoint: str
    kind: str
    body: bytes


@dataclass(frozen=True)
class OutboxItem:
    """A claimed message, as the delivery worker needs it."""

    id: int
    message_id: str
    case_id: str
    recipient: str
    endpoint: str
    kind: str
    body: bytes
    attempts: int
    created_at: float
    replayed_at: float | None

    @property
    def trying_since(self) -> float:
        """Where the give-up clock starts: acceptance, or the last replay."""
        return self.replayed_at if self.replayed_at is not None else self.created_at


@dataclass(frozen=True)
class OutboxRecord:
    """One outbound message's history, for listings (no body)."""

    id: int
    message_id: str
    source_message_id: str
    case_id: str
    recipient: str
    endpoint: str
    kind: str
    status: str
    attempts: int
    created_at: float
    next_attempt_at: float
    delivered_at: float | None
    delivered_by: str | None
    dead_at: float | None
    last_error: str | None
    replay_count: int
    replayed_at: float | None
    kvittens_code: str | None
    kvittens_at: float | None
    kvittens_message_id: str | None

    @classmethod
    def of(cls, row: Any) -> OutboxRecord:
        values = row._mapping
        return cls(**{f.name: values[f.name] for f in fields(cls)})

    def to_json(self) -> dict[str, Any]:
        """Plain data with the times as ISO 8601 (UTC), for people and scripts."""
        return {
            k: datetime.fromtimestamp(v, UTC).isoformat() if k.endswith("_at") and v is not None else v
            for k, v in asdict(self).items()
        }


@dataclass(frozen=True)
class DeadLetterFilter:
    """Which dead letters: one message, one recipient, a time range of when they were given up."""

    message_id: str | None = None
    recipient: str | None = None
    since: float | None = None  # dead_at >= since
    until: float | None = None  # dead_at < until

    def where(self) -> list[ColumnElement[bool]]:
        clauses = [ob.c.status == DEAD]
        if self.message_id is not None:
            clauses.append(ob.c.message_id == self.message_id)
        if self.recipient is not None:
            clauses.append(ob.c.recipient == self.recipient)
        if self.since is not None:
            clauses.append(ob.c.dead_at >= self.since)
        if self.until is not None:
            clauses.append(ob.c.dead_at < self.until)
        return clauses


_RECORD_COLUMNS = [ob.c[f.name] for f in fields(OutboxRecord)]


_OUTBOX_INSERT = Prepared(
    insert(ob),
    columns=[
        *(f.name for f in fields(NewOutboxItem)),
        "status",
        "attempts",
        "replay_count",
        "next_attempt_at",
        "created_at",
    ],
)


class OutboxQueries(Database):
    def outbox_add(self, conn: Connection, items: list[NewOutboxItem], now: float) -> None:
        if items:
            _OUTBOX_INSERT.execute(
                conn,
                [
                    {
                        **vars(item),  # not asdict: it deep-copies every body
                        "status": PENDING,
                        "attempts": 0,
                        "replay_count": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                    for item in items
                ],
            )

    # --- claims and outcomes (the delivery worker) ---

    def claim_due(
        self,
        owner: str,
        now: float,
        *,
        limit: int = 20,
        lease_seconds: float = 60.0,
        skip_endpoints: Iterable[str] = (),
    ) -> list[OutboxItem]:
        """Lease due messages that are first in line for their (case, recipient)."""
        # The head of each (case, recipient) line is its earliest pending message: one grouped pass
        # over a partial index of the pending rows, computed once, then each head looked up by key.
        # On PostgreSQL as an array (an InitPlan) so that the plan stays linear even before the
        # planner has statistics of a table that just filled up; SQLite materializes IN lists.
        heads = (
            select(func.min(ob.c.id)).where(ob.c.status == PENDING).group_by(ob.c.case_id, ob.c.recipient)
        ).scalar_subquery()
        is_head = ob.c.id.in_(heads) if self.is_sqlite else ob.c.id == any_(func.array(heads))
        query = (
            select(ob.c.id)
            .where(
                is_head,
                ob.c.status == PENDING,
                ob.c.next_attempt_at <= now,
                (ob.c.lease_until.is_(None)) | (ob.c.lease_until < now),
            )
            .order_by(ob.c.next_attempt_at, ob.c.id)
            .limit(limit)
        )
        skipped = list(skip_endpoints)
        if skipped:  # destinations whose circuit is open
            query = query.where(ob.c.endpoint.not_in(skipped))
        if not self.is_sqlite:
            query = query.with_for_update(skip_locked=True, of=ob)
        with self.transaction() as conn:
            ids = [r.id for r in conn.execute(query)]
            if not ids:
                return []
            conn.execute(
                update(ob).where(ob.c.id.in_(ids)).values(lease_owner=owner, lease_until=now + lease_seconds)
            )
            rows = conn.execute(select(ob).where(ob.c.id.in_(ids)).order_by(ob.c.id)).all()
        return [
            OutboxItem(
                r.id,
                r.message_id,
                r.case_id,
                r.recipient,
                r.endpoint,
                r.kind,
                bytes(r.body),
                r.attempts,
                r.created_at,
                r.replayed_at,
            )
            for r in rows
        ]

    def _settle(self, item_id: int, owner: str, **values: Any) -> bool:
        """Write an outcome if `owner` still holds the lease; False if it was lost."""
        with self.transaction() as conn:
            result = conn.execute(
                update(ob)
                .where(ob.c.id == item_id, ob.c.lease_owner == owner, ob.c.status == PENDING)
                .values(lease_until=None, lease_owner=None, **values)
            )
        return bool(result.rowcount)

    def mark_delivered(self, item_id: int, owner: str, attempts: int, response: bytes, now: float) -> bool:
        return self._settle(
            item_id,
            owner,
            status=DELIVERED,
            attempts=attempts,
            delivered_at=now,
            delivered_by=owner,
            response=response,
            last_error=None,
        )

    def mark_retry(self, item_id: int, owner: str, attempts: int, next_attempt_at: float, error: str) -> bool:
        return self._settle(
            item_id, owner, attempts=attempts, next_attempt_at=next_attempt_at, last_error=error
        )

    def mark_dead(self, item_id: int, owner: str, attempts: int, error: str, now: float) -> bool:
        return self._settle(item_id, owner, status=DEAD, attempts=attempts, last_error=error, dead_at=now)

    def release(self, item_id: int, owner: str, next_attempt_at: float) -> bool:
        """Give a claimed message back untried (its destination's circuit opened meanwhile)."""
        return self._settle(item_id, owner, next_attempt_at=next_attempt_at)

    # --- dead letters ---

    def dead_letters(self, which: DeadLetterFilter, *, limit: int = 1000) -> list[OutboxRecord]:
        query = select(*_RECORD_COLUMNS).where(*which.where()).order_by(ob.c.dead_at, ob.c.id).limit(limit)
        with self.reading() as conn:
            return [OutboxRecord.of(r) for r in conn.execute(query)]

    def outbox_message(self, message_id: str) -> tuple[OutboxRecord, bytes, bytes | None] | None:
        """One outbound message: its record, its body and the receiver's last answer."""
        with self.reading() as conn:
            row = conn.execute(
                select(*_RECORD_COLUMNS, ob.c.body, ob.c.response).where(ob.c.message_id == message_id)
            ).first()
        if row is None:
            return None
        return OutboxRecord.of(row), bytes(row.body), bytes(row.response) if row.response else None

    def replay(self, which: DeadLetterFilter, now: float) -> list[str]:
        """Dead letters back to the queue, due now, under their original message ids."""
        return [message_id for message_id, _case_id in self.replay_by_case(which, now)]

    def replay_by_case(self, which: DeadLetterFilter, now: float) -> list[tuple[str, str]]:
        """As replay: (message id, case id) of each message put back, in message-id order."""
        with self.transaction() as conn:
            result = conn.execute(
                update(ob)
                .where(*which.where())
                .values(
                    status=PENDING,
                    attempts=0,
                    next_attempt_at=now,
                    lease_until=None,
                    lease_owner=None,
                    replayed_at=now,
                    replay_count=ob.c.replay_count + 1,
                )
                .returning(ob.c.message_id, ob.c.case_id)
            )
            return sorted((r.message_id, r.case_id) for r in result)

    # --- kvittens (the receiving party's acknowledgement) ---

    def record_acknowledgement(
        self,
        conn: Connection,
        message_id: str,
        code: str,
        at: float,
        *,
        kvittens_message_id: str | None = None,
    ) -> bool:
        """Note a kvittens on the outbound message it answers; False if no such message was sent."""
        result = conn.execute(
            update(ob)
            .where(ob.c.message_id == message_id)
            .values(kvittens_code=code, kvittens_at=at, kvittens_message_id=kvittens_message_id)
        )
        return bool(result.rowcount)

    def unacknowledged(self, older_than: float, now: float, *, limit: int = 1000) -> list[OutboxRecord]:
        """Messages sent at least `older_than` seconds ago with no ok kvittens (a kvittens is itself
        never acknowledged; dead letters are listed as such)."""
        query = (
            select(*_RECORD_COLUMNS)
            .where(
                ob.c.status != DEAD,
                ob.c.kind != "kvittens",
                ob.c.kvittens_code.is_(None) | (ob.c.kvittens_code != "ok"),
                ob.c.created_at <= now - older_than,
            )
            .order_by(ob.c.created_at, ob.c.id)
            .limit(limit)
        )
        with self.reading() as conn:
            return [OutboxRecord.of(r) for r in conn.execute(query)]

    def case_messages(self, case_id: str) -> list[OutboxRecord]:
        """Every outbound message of a case with its delivery and kvittens, in sending order."""
        query = select(*_RECORD_COLUMNS).where(ob.c.case_id == case_id).order_by(ob.c.id)
        with self.reading() as conn:
            return [OutboxRecord.of(r) for r in conn.execute(query)]

    def outbox_counts(self) -> dict[str, int]:
        with self.reading() as conn:
            rows = conn.execute(select(ob.c.status, func.count()).group_by(ob.c.status)).all()
        return {r[0]: int(r[1]) for r in rows}
