"""The in-process pipeline as tests drive it: a message posted, the store's rows counted."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from adapter.runtime import Runtime
from adapter.store import schema
from tests.support.processes import FHIR


def counts(runtime: Runtime) -> dict[str, int]:
    with runtime.store.engine.connect() as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (schema.cases, schema.events, schema.inbox, schema.outbox, schema.audit)
        }


def post(client: TestClient, body: Any, headers: dict[str, str] = FHIR) -> Any:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return client.post("/fhir/$process-message", content=content, headers=headers)


def on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
