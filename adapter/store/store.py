"""The store: transactions over the schema, and the queries the pipeline and worker need."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import groupby
from typing import Any

import orjson
from sqlalchemy import BigInteger, Connection, Engine, String, bindparam, func, insert, or_, select, update

from adapter.config import Settings
from adapter.process.case import DischargeCase, replay
from adapter.process.events import Event, event_from_dict, event_to_dict
from adapter.store import schema
from adapter.store.case_cache import CaseCache
from adapter.store.engine import create_store_engine
from adapter.store.migrate import check_at_head, upgrade
from adapter.store.outbox import NewOutboxItem, OutboxItem, OutboxQueries
from adapter.store.prepared import Prepared, json_value

__all__ = ["InboxRecord", "NewOutboxItem", "OutboxItem", "Store", "dumps"]

# The statements every message runs (adapter/store/prepared.py).
_in = schema.inbox.c
_INBOX_COLUMNS = (_in.message_id, _in.bundle_id, _in.sender, _in.case_id, _in.status_code, _in.response)
_INBOX_BY_MESSAGE_ID = Prepared(select(*_INBOX_COLUMNS).where(_in.message_id == bindparam("message_id")))
_INBOX_BY_EITHER_ID = Prepared(
    select(*_INBOX_COLUMNS).where(
        or_(_in.message_id == bindparam("message_id"), _in.bundle_id == bindparam("bundle_id"))
    )
)
_INBOX_INSERT = Prepared(insert(schema.inbox), columns=[c.name for c in schema.inbox.c])
_case_version = select(schema.cases.c.version).where(schema.cases.c.case_id == bindparam("case_id"))
_CASE_VERSION = Prepared(_case_version)
_CASE_VERSION_LOCKED = Prepared(_case_version.with_for_update())
_CASE_LOCK = Prepared(select(func.pg_advisory_xact_lock(bindparam("key", type_=BigInteger))))
_CASE_EVENTS = Prepared(
    select(schema.events.c.payload)
    .where(schema.events.c.case_id == bindparam("case_id"))
    .order_by(schema.events.c.occurred_at, schema.events.c.id)
)
_MESSAGE_EVENT = Prepared(
    select(schema.events.c.payload).where(
        schema.events.c.case_id == bindparam("case_id"), schema.events.c.message_id == bindparam("message_id")
    )
)
_CASE_INSERT = Prepared(
    insert(schema.cases), columns=["case_id", "state", "version", "created_at", "updated_at"]
)
_CASE_UPDATE = Prepared(
    update(schema.cases)
    .where(schema.cases.c.case_id == bindparam("b_case_id"))
    .values(state=bindparam("b_state"), version=schema.cases.c.version + 1, updated_at=bindparam("b_now"))
    .returning(schema.cases.c.version)
)
_EVENT_COLUMNS = ["case_id", "message_id", "kind", "occurred_at", "received_at", "payload"]
_EVENT_INSERT = Prepared(insert(schema.events), columns=_EVENT_COLUMNS)
_AUDIT_COLUMNS = [c.name for c in schema.audit.c if c.name != "id"]
_AUDIT_WIDTHS = {
    c.name: c.type.length for c in schema.audit.c if isinstance(c.type, String) and c.type.length
}
_AUDIT_INSERT = Prepared(insert(schema.audit), columns=_AUDIT_COLUMNS)


@dataclass(frozen=True)
class InboxRecord:
    message_id: str
    bundle_id: str | None
    sender: str | None
    case_id: str | None
    status_code: int
    response: bytes


# Where no settings are given (tools, tests): the setting's default.
CACHE_SIZE: int = Settings.model_fields["case_cache_size"].default


class Store(OutboxQueries):
    """Transactions over the one schema: inbox, cases and event log, outbox, audit."""

    def __init__(self, engine: Engine, case_cache_size: int = CACHE_SIZE) -> None:
        super().__init__(engine)
        self.cases = CaseCache(case_cache_size)

    @classmethod
    def from_url(cls, url: str, *, migrate: bool = True, case_cache_size: int = CACHE_SIZE) -> Store:
        """Open the store; bring its schema to head, or with `migrate=False` refuse to start
        unless it is there already (production runs `lus-adapter db upgrade` as a deploy step)."""
        store = cls(create_store_engine(url), case_cache_size)
        if migrate:
            upgrade(store.engine)
        else:
            check_at_head(store.engine)
        return store

    # --- inbound ---

    def inbox_get(self, conn: Connection, message_id: str) -> InboxRecord | None:
        row = _INBOX_BY_MESSAGE_ID.execute(conn, {"message_id": message_id}).fetchone()
        if row is None:
            return None
        message_id, bundle_id, sender, case_id, status_code, response = row
        return InboxRecord(message_id, bundle_id, sender, case_id, status_code, bytes(response))

    def inbox_seen(
        self, conn: Connection, message_id: str, bundle_id: str
    ) -> tuple[InboxRecord | None, str | None]:
        """In one read: the inbox row of `message_id`, and the message id of another message that
        came in a Bundle with the id `bundle_id`, if any did."""
        seen, other = None, None
        for row in _INBOX_BY_EITHER_ID.execute(conn, {"message_id": message_id, "bundle_id": bundle_id}):
            message, bundle, sender, case_id, status_code, response = row
            record = InboxRecord(message, bundle, sender, case_id, status_code, bytes(response))
            if record.message_id == message_id:
                seen = record
            else:
                other = other or record.message_id
        return seen, other

    def inbox_put(self, conn: Connection, record: InboxRecord, now: float) -> None:
        _INBOX_INSERT.execute(
            conn,
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

    def serialize_case(self, conn: Connection, case_id: str) -> None:
        """Make the transaction of `conn` the only one working on `case_id` until it ends. On
        PostgreSQL a transaction-scoped advisory lock on the case key, taken before anything is
        read: two copies of one message (or two messages opening one case) then follow each other,
        and the second sees the first's inbox row instead of a unique violation on the case key,
        and the row lock of load_case comes too late for a case that does not exist yet. SQLite
        has one writer at a time already."""
        if not self.is_sqlite:
            _CASE_LOCK.execute(conn, {"key": advisory_key(case_id)})

    def message_event(self, conn: Connection, case_id: str, message_id: str) -> dict[str, Any] | None:
        """The event a message carried (as stored), if it changed its case."""
        row = _MESSAGE_EVENT.execute(conn, {"case_id": case_id, "message_id": message_id}).fetchone()
        return json_value(row[0]) if row else None

    def load_case(self, conn: Connection, case_id: str) -> DischargeCase | None:
        """The case as of its row's version (from the cache, or rebuilt from its event log),
        locking its row for the transaction."""
        return self.case_at_version(conn, case_id, lock=True)[0]

    def case_at_version(
        self, conn: Connection, case_id: str, *, lock: bool = False
    ) -> tuple[DischargeCase | None, int | None]:
        """The case and the row version it is (None, None: no such case); `lock`: as load_case."""
        version = self.case_version(conn, case_id, lock=lock)
        if version is None:
            return None, None
        case = self.cases.get(case_id, version)
        if case is None:
            rows = _CASE_EVENTS.execute(conn, {"case_id": case_id}).fetchall()
            case = replay([event_from_dict(json_value(payload)) for (payload,) in rows])
            self.cases.put(case_id, version, case)
        return case, version

    def case_version(self, conn: Connection, case_id: str, *, lock: bool = True) -> int | None:
        """The version of a case's row (None: no such case), locking the row for the transaction
        unless `lock` is False. A write checks that the case is still the version it was read at."""
        query = _CASE_VERSION_LOCKED if lock and not self.is_sqlite else _CASE_VERSION
        row = query.execute(conn, {"case_id": case_id}).fetchone()
        return None if row is None else int(row[0])

    def save_case(
        self, conn: Connection, case: DischargeCase, new_events: list[Event], now: float, *, created: bool
    ) -> None:
        if created:
            version = 1
            _CASE_INSERT.execute(
                conn,
                {
                    "case_id": case.case_id,
                    "state": case.state.value,
                    "version": version,
                    "created_at": now,
                    "updated_at": now,
                },
            )
        else:
            cursor = _CASE_UPDATE.execute(
                conn, {"b_case_id": case.case_id, "b_state": case.state.value, "b_now": now}
            )
            version = cursor.fetchone()[0]
        self.after_commit(conn, lambda: self.cases.put(case.case_id, version, case))
        if new_events:
            _EVENT_INSERT.execute(
                conn,
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

    def case_patient(self, case_id: str) -> str | None:
        """The patient identifier of a case, for the patient hash of an audit record about it (a
        read, no row lock); None if there is no such case."""
        with self.reading() as conn:
            row = _CASE_VERSION.execute(conn, {"case_id": case_id}).fetchone()
            if row is None:
                return None
            case = self.cases.get(case_id, row[0])
            if case is None:
                rows = _CASE_EVENTS.execute(conn, {"case_id": case_id}).fetchall()
                case = replay([event_from_dict(json_value(payload)) for (payload,) in rows])
        return case.patient.identifier

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
        values = dict.fromkeys(_AUDIT_COLUMNS) | {"at": time.time(), **record}
        for column, width in _AUDIT_WIDTHS.items():  # a refusal's record is written whatever came in
            value = values[column]
            if isinstance(value, str) and len(value) > width:
                values[column] = value[: width - 1] + "…"
        if conn is not None:
            _AUDIT_INSERT.execute(conn, values)
            return
        with self.transaction() as own:
            _AUDIT_INSERT.execute(own, values)


def advisory_key(name: str) -> int:
    """A signed 64-bit key for pg_advisory_xact_lock (two names that share one only wait for each other)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


def dumps(data: Any) -> bytes:
    return orjson.dumps(data)
