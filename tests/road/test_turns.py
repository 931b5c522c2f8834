"""Messages take turns: on SQLite one at a time on the event loop, on PostgreSQL (or as configured)
a bounded number in threads; on SQLite one writer at a time queued in the process, while readers go
past it."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from adapter.app import create_app
from adapter.road import Result
from adapter.runtime import Runtime
from adapter.store import schema
from adapter.store.store import Store
from tests.support.pipeline import on_event_loop

FHIR = {"Content-Type": "application/fhir+json"}


def test_a_reader_is_not_held_up_by_a_writer_in_progress(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'lus.db'}")
    read: list[int] = []
    with store.transaction() as conn:
        conn.execute(insert(schema.audit), {"at": 1.0, "action": "test", "outcome": "open"})

        def reader() -> None:
            with store.reading() as other:
                read.append(len(other.execute(select(schema.audit)).all()))

        thread = threading.Thread(target=reader)
        thread.start()
        thread.join(timeout=5)  # a reader that took the write lock would wait for this commit
        assert not thread.is_alive(), "the reader waited for the writer"
    assert read == [0]  # it saw the state before the open transaction
    store.engine.dispose()


def test_concurrent_writers_on_sqlite_all_commit(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'lus.db'}")

    def write(n: int) -> None:
        with store.transaction() as conn:
            conn.execute(insert(schema.audit), {"at": float(n), "action": "test", "outcome": "ok"})
            time.sleep(0.001)  # hold the lock a moment, as a message's transaction does

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(write, range(200)))
    with store.reading() as conn:
        assert len(conn.execute(select(schema.audit)).all()) == 200
    store.engine.dispose()


@dataclass
class Road:
    """What a stand-in pipeline saw of the messages sent to it: how many were processed at once
    at most, and whether each ran on the event loop."""

    most: int = 0
    on_loop: list[bool] = field(default_factory=list)


def send_eight(runtime: Runtime) -> Road:
    """Eight messages sent at once to a pipeline that takes 50 ms over each."""
    lock, on_road, road = threading.Lock(), [0], Road()

    def slow_pipeline(raw: bytes, *, caller: str | None = None) -> Result:
        with lock:
            on_road[0] += 1
            road.most = max(road.most, on_road[0])
            road.on_loop.append(on_event_loop())
        time.sleep(0.05)
        with lock:
            on_road[0] -= 1
        return Result(200, orjson.dumps({"resourceType": "Bundle"}))

    runtime.pipeline.process_message = slow_pipeline  # type: ignore[method-assign]
    with TestClient(create_app(runtime=runtime)) as client, ThreadPoolExecutor(8) as pool:
        replies = list(
            pool.map(lambda _: client.post("/fhir/$process-message", content=b"{}", headers=FHIR), range(8))
        )
    assert [r.status_code for r in replies] == [200] * 8
    return road


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_more_messages_on_the_road_than_pipeline_threads(runtime: Runtime) -> None:
    runtime.settings.pipeline_threads = 2
    road = send_eight(runtime)
    assert road.most == 2
    assert road.on_loop == [False] * 8


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_on_sqlite_messages_are_processed_on_the_event_loop_one_at_a_time(runtime: Runtime) -> None:
    road = send_eight(runtime)
    assert road.on_loop == [True] * 8
    assert road.most == 1


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_on_postgresql_four_messages_are_processed_at_once_in_threads(runtime: Runtime) -> None:
    road = send_eight(runtime)
    assert road.on_loop == [False] * 8
    assert road.most == 4
