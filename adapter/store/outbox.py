"""The outbox's queries: claims with leases, delivery outcomes, dead letters and held lines, kvittens.

Order. Each (case, recipient) is a line: a message is claimable only when no earlier message of its
line is still open — pending (waiting, retrying or leased) or dead. So each line has at most one
message in flight, across every replica, and a dead letter holds its line: later messages for that
case and recipient wait, other lines go on. Replay makes the dead letter pending again, still first
in its line; an operator's skip (`skipped`) releases the line without sending it.

Claims cost the same whatever the backlog. A claim walks the due rows in order on ix_outbox_due
and stops at its limit; each candidate's line is one probe of ix_outbox_open_lines. A candidate
that is not first in its line is parked (its due time moved PARK_SECONDS ahead), so a long line
is not walked again at every claim; settling a line's head (delivered, or skipped) wakes the next
message at once. On PostgreSQL the candidates are locked (`FOR UPDATE SKIP LOCKED`) before their
lines are checked in a later statement, and waking takes the next message's row lock: whichever
of a claim and a settlement comes second sees the other's work, so no message stays parked
behind a line that has moved on. The park's end is only a safety net (an older replica in a
rolling upgrade does not wake). Messages for a destination whose circuit is open are moved to
when it allows a trial, rather than walked past at every claim. Statuses are SQL literals: with a
bound parameter SQLite cannot use a partial index.

Leases. On SQLite BEGIN IMMEDIATE serializes the claim. A claim is a lease: if its replica dies,
the lease runs out and another replica takes the message again (at-least-once; receivers dedupe
on the unchanged MessageHeader.id). A leased message is due again when its lease ends, so the
claim does not walk past messages in flight. Every outcome is written only by the lease's owner,
so a replica that was too slow and lost its lease cannot overwrite what the new owner recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Select, case, func, insert, literal_column, select, update
from sqlalchemy.sql.elements import ColumnElement

from adapter.store import schema
from adapter.store.engine import Database
from adapter.store.prepared import Prepared

PENDING, DELIVERED, DEAD, SKIPPED = "pending", "delivered", "dead", "skipped"
ob = schema.outbox
PARK_SECONDS = 300.0  # a message behind its line is walked again after this at the latest
_CLAIM_ROUNDS = 8  # walks of the due index per claim, each parking what it cannot take


def _is(status: str) -> ColumnElement[bool]:
    """`status = 'literal'`: the planners match it against the partial index's predicate."""
    return ob.c.status == literal_column(f"'{status}'")


def _open(table: Any = ob) -> ColumnElement[bool]:
    return table.c.status.in_([literal_column(f"'{PENDING}'"), literal_column(f"'{DEAD}'")])


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
    skipped_at: float | None
    skipped_by: str | None
    skip_reason: str | None
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
        clauses = [_is(DEAD)]
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


@dataclass(frozen=True)
class HeldLine:
    """A (case, recipient) line held by its first dead letter, and how many messages wait behind it."""

    case_id: str
    recipient: str
    message_id: str
    dead_at: float | None
    last_error: str | None
    waiting: int

    def to_json(self) -> dict[str, Any]:
        at = datetime.fromtimestamp(self.dead_at, UTC).isoformat() if self.dead_at is not None else None
        return {**asdict(self), "dead_at": at}


def _held_lines() -> Any:
    """Each held line: its first dead letter and the open messages after it (one probe each)."""
    heads = (
        select(ob.c.case_id, ob.c.recipient, func.min(ob.c.id).label("head"))
        .where(_is(DEAD))
        .group_by(ob.c.case_id, ob.c.recipient)
        .subquery("heads")
    )
    later = ob.alias("later")
    return (
        select(
            heads.c.case_id,
            heads.c.recipient,
            ob.c.message_id,
            ob.c.dead_at,
            ob.c.last_error,
            func.count(later.c.id).label("waiting"),
        )
        .select_from(
            heads.join(ob, ob.c.id == heads.c.head).outerjoin(
                later,
                (later.c.case_id == heads.c.case_id)
                & (later.c.recipient == heads.c.recipient)
                & _open(later)
                & (later.c.id > heads.c.head),
            )
        )
        .group_by(heads.c.case_id, heads.c.recipient, ob.c.message_id, ob.c.dead_at, ob.c.last_error)
        .subquery("held")
    )


def held_by_recipient(conn: Connection) -> dict[str, tuple[int, int]]:
    """recipient → (held lines, messages waiting behind them), for the dashboard and metrics."""
    held = _held_lines()
    rows = conn.execute(
        select(held.c.recipient, func.count(), func.sum(held.c.waiting)).group_by(held.c.recipient)
    )
    return {r[0]: (int(r[1]), int(r[2] or 0)) for r in rows}


def due_candidates(now: float, scan: int) -> Select[Any]:
    """The first `scan` due messages not leased, in due order (a walk of ix_outbox_due)."""
    return (
        select(ob.c.id, ob.c.endpoint)
        .where(
            _is(PENDING),
            ob.c.next_attempt_at <= now,
            ob.c.lease_until.is_(None) | (ob.c.lease_until < now),
        )
        .order_by(ob.c.next_attempt_at, ob.c.id)
        .limit(scan)
    )


def first_in_line(ids: list[int]) -> Select[Any]:
    """Those of `ids` that are the first open message of their line. A correlated scalar subquery,
    so each is one probe of ix_outbox_open_lines: as an anti-join PostgreSQL may hash every open
    row instead (it does on a small table, or one it has no statistics of yet)."""
    line = ob.alias("line")
    first = (
        select(func.min(line.c.id))
        .where(line.c.case_id == ob.c.case_id, line.c.recipient == ob.c.recipient, _open(line))
        .scalar_subquery()
    )
    return select(ob.c.id).where(ob.c.id.in_(ids), ob.c.id == first)


# For the claim's transaction on PostgreSQL: walk the indexes, never a bitmap or sequential scan
# and a sort. Without statistics of a table that just filled up (an outage), the planner takes the
# due rows for a handful and sorts all of them, a claim's cost then growing with the backlog
# (`python -m bench.claims` measures it; bench/results/README.md).
_INDEX_WALKS_ONLY = select(
    func.set_config("enable_bitmapscan", "off", True), func.set_config("enable_seqscan", "off", True)
)


def _first_in_line(conn: Connection, ids: list[int]) -> set[int]:
    return {r.id for r in conn.execute(first_in_line(ids))} if ids else set()


def _wake_next(conn: Connection, case_id: str, recipient: str, now: float) -> None:
    """Make the next open message of a line due now (if it is pending: a dead one holds the line)."""
    following = (
        select(func.min(ob.c.id))
        .where(ob.c.case_id == case_id, ob.c.recipient == recipient, _open())
        .scalar_subquery()
    )
    conn.execute(
        update(ob)
        .where(ob.c.id == following, _is(PENDING))
        .values(next_attempt_at=case((ob.c.next_attempt_at > now, now), else_=ob.c.next_attempt_at))
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
        open_circuits: Mapping[str, float] | None = None,
    ) -> list[OutboxItem]:
        """Lease up to `limit` due messages that are first in their (case, recipient) line.

        `open_circuits`: endpoint → when its circuit allows a trial; their messages wait till then."""
        circuits = open_circuits or {}
        lease_until = now + lease_seconds
        with self.transaction() as conn:
            if not self.is_sqlite:
                conn.execute(_INDEX_WALKS_ONLY)
            taken: list[int] = []
            for _ in range(_CLAIM_ROUNDS):
                wanted = limit - len(taken)
                scan = max(4 * wanted, 32)
                query = due_candidates(now, scan)
                if not self.is_sqlite:
                    query = query.with_for_update(skip_locked=True)
                candidates = conn.execute(query).all()
                if not candidates:
                    break
                firsts = _first_in_line(conn, [c.id for c in candidates if c.endpoint not in circuits])
                took: list[int] = []
                postponed: dict[float, list[int]] = {}
                for c in candidates:
                    if c.endpoint in circuits:
                        postponed.setdefault(circuits[c.endpoint], []).append(c.id)
                    elif c.id not in firsts:
                        postponed.setdefault(now + PARK_SECONDS, []).append(c.id)
                    elif len(took) < wanted:
                        took.append(c.id)
                for until, ids in postponed.items():
                    conn.execute(update(ob).where(ob.c.id.in_(ids)).values(next_attempt_at=until))
                if took:  # leased now, so that the next round walks past them
                    conn.execute(
                        update(ob)
                        .where(ob.c.id.in_(took))
                        .values(lease_owner=owner, lease_until=lease_until, next_attempt_at=lease_until)
                    )
                    taken += took
                if len(taken) >= limit or len(candidates) < scan:
                    break
            if not taken:
                return []
            rows = conn.execute(select(ob).where(ob.c.id.in_(taken)).order_by(ob.c.id)).all()
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

    def _settle(self, item_id: int, owner: str, *, closes: bool = False, **values: Any) -> bool:
        """Write an outcome if `owner` still holds the lease; False if it was lost. An outcome that
        `closes` the message (delivered) wakes the next one in its line."""
        with self.transaction() as conn:
            result = conn.execute(
                update(ob)
                .where(ob.c.id == item_id, ob.c.lease_owner == owner, _is(PENDING))
                .values(lease_until=None, lease_owner=None, **values)
                .returning(ob.c.case_id, ob.c.recipient)
            )
            line = result.first()
            if line is not None and closes:
                _wake_next(conn, line.case_id, line.recipient, values["delivered_at"])
        return line is not None

    def mark_delivered(
        self, item_id: int, owner: str, attempts: int, response: bytes, now: float, note: str | None = None
    ) -> bool:
        """`note`: what the receiver warned of though it took the message (kept as last_error)."""
        return self._settle(
            item_id,
            owner,
            closes=True,
            status=DELIVERED,
            attempts=attempts,
            delivered_at=now,
            delivered_by=owner,
            response=response,
            last_error=note,
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

    def requeue(self, which: DeadLetterFilter, now: float) -> list[str]:
        """Dead letters back to the queue, due now, under their original message ids; each is still
        first in its line, so what waited behind it follows it."""
        return [message_id for message_id, _case_id in self.requeue_by_case(which, now)]

    def requeue_by_case(self, which: DeadLetterFilter, now: float) -> list[tuple[str, str]]:
        """As requeue: (message id, case id) of each message put back, in message-id order."""
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

    def skip(
        self, conn: Connection, message_id: str, *, by: str, reason: str, now: float
    ) -> OutboxRecord | None:
        """Give up a dead letter for good: its line goes on without it. None if it is not dead."""
        row = conn.execute(
            update(ob)
            .where(ob.c.message_id == message_id, _is(DEAD))
            .values(status=SKIPPED, skipped_at=now, skipped_by=by, skip_reason=reason)
            .returning(*_RECORD_COLUMNS)
        ).first()
        if row is None:
            return None
        _wake_next(conn, row.case_id, row.recipient, now)
        return OutboxRecord.of(row)

    def held_lines(self, *, recipient: str | None = None, limit: int = 1000) -> list[HeldLine]:
        """The lines a dead letter holds, the oldest first."""
        held = _held_lines()
        query = select(held).order_by(held.c.dead_at, held.c.case_id).limit(limit)
        if recipient is not None:
            query = query.where(held.c.recipient == recipient)
        with self.reading() as conn:
            return [HeldLine(**r._mapping) for r in conn.execute(query)]

    # --- kvittens (the receiving party's acknowledgement) ---

    def record_kvittens(
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
