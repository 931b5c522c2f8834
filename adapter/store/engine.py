"""The database connection: SQLite (WAL) by default, PostgreSQL for several replicas."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

# JSON columns (event payloads, audit details) through orjson rather than the json module, as
# prepared.py does for the statements every message runs: several times faster both ways.
# Bound parameters never appear in SQLAlchemy's error texts (they can be patient data; see
# hide_database_values in adapter/logging.py for the database's own texts).
_OPTIONS: dict[str, Any] = {
    "json_serializer": lambda value: orjson.dumps(value).decode(),
    "json_deserializer": orjson.loads,
    "hide_parameters": True,
}


def create_store_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **_OPTIONS)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            # Own the transaction boundaries so that BEGIN IMMEDIATE takes the write lock up front:
            # two messages for one case then serialize instead of failing on upgrade.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk before the sender hears "ok", even across a power cut
            # (NORMAL would only survive a process crash).
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # A reader (Database.reading) needs no write lock: in WAL it reads a snapshot beside
            # the writer instead of queueing behind it. Sent on the driver's connection directly,
            # since this runs for every message.
            conn.connection.driver_connection.execute(  # type: ignore[union-attr]
                "BEGIN" if conn.get_execution_options().get(_READ_ONLY) else "BEGIN IMMEDIATE"
            )

        return engine
    return create_engine(url, pool_pre_ping=True, **_OPTIONS)


_READ_ONLY = "lus_read_only"
_AFTER_COMMIT = "lus_after_commit"


class Database:
    """An engine and its transactions; the store's queries build on this."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        # SQLite has one writer at a time. Threads of this process wait for it here, in line,
        # rather than in SQLite's busy handler, which polls with sleeps of up to 100 ms and let
        # one unlucky request wait seconds under load. (Other processes, a CLI say, still meet
        # the busy handler.)
        self._writer = threading.Lock() if self.is_sqlite else None

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        after_commit: list[Callable[[], None]] = []
        with self._writer or nullcontext(), self.engine.begin() as conn:
            conn.info[_AFTER_COMMIT] = after_commit
            try:
                yield conn
            finally:  # conn.info outlives the checkout (it belongs to the pooled connection)
                del conn.info[_AFTER_COMMIT]
        for action in after_commit:
            action()

    @staticmethod
    def after_commit(conn: Connection, action: Callable[[], None]) -> None:
        """Run `action` once the transaction of `conn` has committed (never, if it does not)."""
        conn.info[_AFTER_COMMIT].append(action)

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection for reads only (on SQLite it does not take the write lock)."""
        with self.engine.connect() as conn:
            conn.execution_options(**{_READ_ONLY: True})
            yield conn
