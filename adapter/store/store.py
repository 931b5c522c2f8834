"""The store: transactions over the schema, and the queries the pipeline and worker need."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import groupby
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, bindparam, insert, select, update

from adapter.process.case import DischargeCase, replay
from adapter.process.events import Event, event_from_dict, event_to_dict
from adapter.store import schema
from adapter.store.case_cache import CaseCache
from adapter.store.engine import create_store_engine
from adapter.store.migrate import check_at_head, upgrade
from adapter.store.outbox import NewOutboxItem, OutboxItem, OutboxQueries

__all__ = ["InboxRecord", "NewOutboxItem", "OutboxItem", "Store", "dumps"]

# The statements every message runs, built once: SQLAlchemy then compiles each once and reuses it
# (building them per call cost a third of the store's time per message).
_INBOX_BY_MESSAGE_ID = select(schema.inbox).where(schema.inbox.c.message_id == bindparam("message_id"))
_INBOX_BY_BUNDLE_ID = (
    select(schema.inbox.c.message_id).where(schema.inbox.c.bundle_id == bindparam("bundle_id")).limit(1)
)
_CASE_VERSION = select(schema.cases.c.version).where(schema.cases.c.case_id == bindparam("case_id"))
_CASE_EVENTS = (
    select(schema.events.c.payload)
    .where(schema.events.c.case_id == bindparam("case_id"))
    .order_by(schema.events.c.occurred_at, schema.events.c.id)
)
_CASE_UPDATE = (
    update(schema.cases)
    .where(schema.cases.c.case_id == bindparam("b_case_id"))
    .values(state=bindparam("b_state"), version=schema.cases.c.version + 1, updated_at=bindparam("b_now"))
    .returning(schema.cases.c.version)
)


@dataclass(frozen=True)
class InboxRecord:
    message_id: str
    bundle_id: str | None
    sender: str | None
    case_id: str | None
    status_code: int
    response: bytes


class Store(OutboxQueries):
    """Transactions over the one schema: inbox, cases and event log, outbox, audit."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.cases = CaseCache()

    @classmethod
    def from_url(cls, url: str, *, migrate: bool = True) -> Store:
        """Open the store; bring its schema to head, or with `migrate=False` refuse to start
        unless it is there already (production runs `lus-adapter db upgrade` as a deploy step)."""
        store = cls(create_store_engine(url))
        if migrate:
            upgrade(store.engine)
        else:
            check_at_head(store.engine)
        return store

    # --- inbound ---

    def inbox_get(self, conn: Connection, message_id: str) -> InboxRecord | None:
        row = conn.execute(_INBOX_BY_MESSAGE_ID, {"message_id": message_id}).first()
        if row is None:
            return None
        return InboxRecord(
            row.message_id, row.bundle_id, row.sender, row.case_id, row.status_code, bytes(row.response)
        )

    def inbox_by_bundle_id(self, conn: Connection, bundle_id: str) -> str | None:
        """The MessageHeader.id that came in a Bundle with this id, if any did."""
        row = conn.execute(_INBOX_BY_BUNDLE_ID, {"bundle_id": bundle_id}).first()
        return row.message_id if row else None

    def inbox_put(self, conn: Connection, record: InboxRecord, now: float) -> None:
        conn.execute(
            insert(schema.inbox),
            {
                "message_id": record.message_id,
                "bundle_id": record.bundle_id,
                "sender": record.sender,
                "case_id": record.case_id,
                "received_at": now,
                "status_code": record.status_code,
                "response": record.response,
            },
        )

    def load_case(self, conn: Connection, case_id: str) -> DischargeCase | None:
        """The case as of its row's version (from the cache, or rebuilt from its event log),
        locking its row for the transaction."""
        query = _CASE_VERSION if self.is_sqlite else _CASE_VERSION.with_for_update()
        row = conn.execute(query, {"case_id": case_id}).first()
        if row is None:
            return None
        case = self.cases.get(case_id, row.version)
        if case is None:
            rows = conn.execute(_CASE_EVENTS, {"case_id": case_id}).all()
            case = replay([event_from_dict(r.payload) for r in rows])
            self.cases.put(case_id, row.version, case)
        return case

    def save_case(
        self, conn: Connection, case: DischargeCase, new_events: list[Event], now: float, *, created: bool
    ) -> None:
        if created:
            version = 1
            conn.execute(
                insert(schema.cases),
                {
                    "case_id": case.case_id,
                    "state": case.state.value,
                    "version": version,
                    "created_at": now,
                    "updated_at": now,
                },
            )
        else:
            version = conn.execute(
                _CASE_UPDATE, {"b_case_id": case.case_id, "b_state": case.state.value, "b_now": now}
            ).scalar_one()
        self.after_commit(conn, lambda: self.cases.put(case.case_id, version, case))
        if new_events:
            conn.execute(
                insert(schema.events),
                [
                    {
                        "case_id": ev.case_id,
                        "message_id": ev.message_id,
                        "kind": ev.kind,
                        "occurred_at": ev.occurred_at.isoformat(),
                        "received_at": now,
                        "payload": event_to_dict(ev),
                    }
                    for ev in new_events
                ],
            )

    def iter_cases(self, *, batch: int = 500) -> Iterator[DischargeCase]:
        """Every stored case, rebuilt from its event log, in case-id order.

        Read in batches, each in its own short read transaction, so that a long report holds
        neither memory for every case nor a snapshot open for its whole run.
        """
        ev = schema.events
        after: str | None = None
        while True:
            with self.reading() as conn:
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

    # --- audit ---

    def audit(self, conn: Connection | None, **record: Any) -> None:
        values = {"at": time.time(), **record}
        if conn is not None:
            conn.execute(insert(schema.audit), values)
            return
        with self.transaction() as own:
            own.execute(insert(schema.audit), values)


def dumps(data: Any) -> bytes:
    return orjson.dumps(data)
