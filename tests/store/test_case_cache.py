"""The case cache: a message to a known case skips replaying its event log, and never sees a
case older than its row (a rolled-back write, another replica's write)."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import orjson
import pytest

from adapter.config import Settings
from adapter.process.case import DischargeCase
from adapter.runtime import Runtime, build_runtime
from adapter.store import store as store_module
from adapter.store.case_cache import CaseCache
from tests.support.validation_messages import message


def new(event: str) -> bytes:
    bundle: dict[str, Any] = copy.deepcopy(message(event))
    bundle["id"] = str(uuid.uuid4())
    bundle["entry"][0]["resource"]["id"] = str(uuid.uuid4())
    return orjson.dumps(bundle)


def accept(runtime: Runtime, event: str) -> str:
    result = runtime.pipeline.process_message(new(event))
    assert result.status == 200, result.body[:500]
    assert result.case_id is not None
    return result.case_id


@pytest.fixture
def replays(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many events each replay of an event log read."""
    counted: list[int] = []
    real = store_module.replay

    def counting(events: Any) -> DischargeCase:
        events = list(events)
        counted.append(len(events))
        return real(events)

    monkeypatch.setattr(store_module, "replay", counting)
    return counted


def test_a_message_to_a_known_case_does_not_replay_its_log(runtime: Runtime, replays: list[int]) -> None:
    case_id = accept(runtime, "inskrivningsmeddelande")
    for _ in range(3):
        accept(runtime, "meddelande")
    assert replays == []
    with runtime.store.reading() as conn:
        case = runtime.store.load_case(conn, case_id)
    assert case is not None and len(case.events) == 4


def test_a_write_that_rolls_back_leaves_the_cache_as_it_was(runtime: Runtime) -> None:
    case_id = accept(runtime, "inskrivningsmeddelande")
    store = runtime.store
    with pytest.raises(RuntimeError), store.transaction() as conn:
        case = store.load_case(conn, case_id)
        assert case is not None
        store.save_case(conn, case, [], 0.0, created=False)  # version 2, never committed
        raise RuntimeError("the message was refused after all")
    assert store.cases.get(case_id, 2) is None
    assert store.cases.get(case_id, 1) is not None


def test_a_case_changed_by_another_replica_is_replayed(settings: Settings, replays: list[int]) -> None:
    this, other = build_runtime(settings), build_runtime(settings)
    try:
        case_id = accept(this, "inskrivningsmeddelande")
        accept(other, "meddelande")  # other's store has never seen the case: it replays 1 event
        accept(this, "meddelande")  # this cache holds version 1, the row version 2: replay 2 events
        assert replays == [1, 2]
        with this.store.reading() as conn:
            case = this.store.load_case(conn, case_id)
        assert case is not None and [e.kind for e in case.events] == [
            "inskrivningsmeddelande",
            "meddelande",
            "meddelande",
        ]
    finally:
        this.store.engine.dispose()
        other.store.engine.dispose()


def test_the_cache_keeps_the_most_recently_used_cases_up_to_its_size() -> None:
    cache = CaseCache(size=2)
    cases = {name: object() for name in "abc"}
    for version, name in enumerate("abc", start=1):
        cache.put(name, version, cases[name])  # type: ignore[arg-type]
    assert len(cache) == 2 and cache.get("a", 1) is None
    assert cache.get("b", 2) is cases["b"] and cache.get("b", 3) is None
    cache.put("b", 1, cases["a"])  # type: ignore[arg-type]  # an older version does not replace a newer
    assert cache.get("b", 2) is cases["b"]
