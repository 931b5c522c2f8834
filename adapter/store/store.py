"""The store: transactions over the schema, and the queries the pipeline and worker need."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event, insert, select, update
from sqlalchemy.engine import make_url

from adapter.process.case import DischargeCase, replay
from adapter.process.events import Event, event_from_dict, event_to_dict
from adapter.store import schema


@dataclass(frozen=True)
class InboxRecord:
    message_id: str
    bundle_id: str | None
    sender: str | None
    case_id: str | None
    status_code: int
    response: bytes


@dataclass(frozen=True)
class OutboxItem:
    id: int
    message_id: str
    case_id: str
    recipient: str
    endpoint: str
    kind: str
    body: bytes
    attempts: int


@dataclass(frozen=True)
class NewOutboxItem:
    message_id: str
    source_message_id: str
    case_id: str
    recipient: str
    endpoint: str
    kind: str
    body: bytes


def create_store_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            # Own the transaction boundaries so that BEGIN IMMEDIATE takes the write lock up front:
            # two messages for one case then serialize instead of failing on upgrade.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True)


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"

    @classmethod
    def from_url(cls, url: str) -> Store:
        store = cls(create_store_engine(url))
        store.create_schema()
        return store

    def create_schema(self) -> None:
        schema.metadata.create_all(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # --- inbound ---

    def inbox_get(self, conn: Connection, message_id: str) -> InboxRecord | None:
        row = conn.execute(select(schema.inbox).where(schema.inbox.c.message_id == message_id)).first()
        if row is None:
            return None
        return InboxRecord(
            row.message_id, row.bundle_id, row.sender, row.case_id, row.status_code, bytes(row.response)
        )

    def inbox_put(self, conn: Connection, record: InboxRecord, now: float) -> None:
        conn.execute(
            insert(schema.inbox).values(
                message_id=record.message_id,
                bundle_id=record.bundle_id,
                sender=record.sender,
                case_id=record.case_id,
                received_at=now,
                status_code=record.status_code,
                response=record.response,
            )
        )

    def load_case(self, conn: Connection, case_id: str) -> DischargeCase | None:
        """The case rebuilt from its event log, locking its row for the transaction."""
        query = select(schema.cases.c.version).where(schema.cases.c.case_id == case_id)
        if not self.is_sqlite:
            query = query.with_for_update()
        if conn.execute(query).first() is None:
            return None
        rows = conn.execute(
            select(schema.events.c.payload)
            .where(schema.events.c.case_id == case_id)
            .order_by(schema.events.c.occurred_at, schema.events.c.id)
        ).all()
        return replay([event_from_dict(r.payload) for r in rows])

    def save_case(
        self, conn: Connection, case: DischargeCase, new_events: list[Event], now: float, *, created: bool
    ) -> None:
        if created:
            conn.execute(
                insert(schema.cases).values(
                    case_id=case.case_id, state=case.state.value, version=1, created_at=now, updated_at=now
                )
            )
        else:
            conn.execute(
                update(schema.cases)
                .where(schema.cases.c.case_id == case.case_id)
                .values(state=case.state.value, version=schema.cases.c.version + 1, updated_at=now)
            )
        for ev in new_events:
            conn.execute(
                insert(schema.events).values(
                    case_id=ev.case_id,
                    message_id=ev.message_id,
                    kind=ev.kind,
                    occurred_at=ev.occurred_at.isoformat(),
                    received_at=now,
                    payload=event_to_dict(ev),
                )
            )

    def iter_cases(self, *, batch: int = 500) -> Iterator[DischargeCase]:
        """Every stored case, rebuilt from its event log, in case-id order.

        Read in batches, each in its own short transaction: on SQLite a transaction holds the
        write lock (BEGIN IMMEDIATE), and a long report must not stall incoming messages.
        """
        ev = schema.events
        after: str | None = None
        while True:
            with self.transaction() as conn:
                query = select(schema.cases.c.case_id).order_by(schema.cases.c.case_id).limit(batch)
                if after is not None:
                    query = query.where(schema.cases.c.case_id > after)
                ids = [r.case_id for r in conn.execute(query)]
                if not ids:
                    return
                rows = conn.execute(
                    select(ev.c.case_id, ev.c.payload)
                    .where(ev.c.case_id.in_(ids))
                    .order_by(ev.c.case_id, ev.c.occurred_at, ev.c.id)
                ).all()
            for _, group in groupby(rows, key=lambda r: r.case_id):
                yield replay([event_from_dict(r.payload) for r in group])
            after = ids[-1]

    def outbox_add(self, conn: Connection, items: list[NewOutboxItem], now: float) -> None:
        for item in items:
            conn.execute(
                insert(schema.outbox).values(
                    message_id=item.message_id,
                    source_message_id=item.source_message_id,
                    case_id=item.case_id,
                    recipient=item.recipient,
                    endpoint=item.endpoint,
                    kind=item.kind,
                    body=item.body,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )

    # --- outbound (delivery worker) ---

    def claim_due(
        self, owner: str, now: float, *, limit: int = 20, lease_seconds: float = 60.0
    ) -> list[OutboxItem]:
        """Take a lease on due messages that are first in line for their (case, recipient)."""
        ob = schema.outbox
        earlier = ob.alias("earlier")
        blocked = (
            select(earlier.c.id)
            .where(
                earlier.c.case_id == ob.c.case_id,
                earlier.c.recipient == ob.c.recipient,
                earlier.c.status == "pending",
                earlier.c.id < ob.c.id,
            )
            .exists()
        )
        query = (
            select(ob.c.id)
            .where(
                ob.c.status == "pending",
                ob.c.next_attempt_at <= now,
                (ob.c.lease_until.is_(None)) | (ob.c.lease_until < now),
                ~blocked,
            )
            .order_by(ob.c.next_attempt_at, ob.c.id)
            .limit(limit)
        )
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
                r.id, r.message_id, r.case_id, r.recipient, r.endpoint, r.kind, bytes(r.body), r.attempts
            )
            for r in rows
        ]

    def mark_delivered(self, item_id: int, attempts: int, response: bytes, now: float) -> None:
        with self.transaction() as conn:
            conn.execute(
                update(schema.outbox)
                .where(schema.outbox.c.id == item_id)
                .values(
                    status="delivered",
                    attempts=attempts,
                    delivered_at=now,
                    response=response,
                    lease_until=None,
                    lease_owner=None,
                    last_error=None,
                )
            )

    def mark_retry(self, item_id: int, attempts: int, next_attempt_at: float, error: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                update(schema.outbox)
                .where(schema.outbox.c.id == item_id)
                .values(
                    attempts=attempts,
                    next_attempt_at=next_attempt_at,
                    last_error=error,
                    lease_until=None,
                    lease_owner=None,
                )
            )

    def mark_dead(self, item_id: int, attempts: int, error: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                update(schema.outbox)
                .where(schema.outbox.c.id == item_id)
                .values(
                    status="dead", attempts=attempts, last_error=error, lease_until=None, lease_owner=None
                )
            )

    def outbox_counts(self) -> dict[str, int]:
        from sqlalchemy import func

        with self.engine.connect() as conn:
            rows = conn.execute(
                select(schema.outbox.c.status, func.count()).group_by(schema.outbox.c.status)
            ).all()
        return {r[0]: int(r[1]) for r in rows}

    # --- audit ---

    def audit(self, conn: Connection | None, **record: Any) -> None:
        values = {"at": time.time(), **record}
        if conn is not None:
            conn.execute(insert(schema.audit).values(**values))
            return
        with self.transaction() as own:
            own.execute(insert(schema.audit).values(**values))


def dumps(data: Any) -> bytes:
    return orjson.dumps(data)
