"""The two example cases (examples/bundles/canonical and avliden): their steps played in process,
and who receives each step by the shipped step table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Row, select

from adapter.process.case import DischargeCase
from adapter.runtime import Runtime
from adapter.store import schema
from tests.support.examples import EXAMPLES
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL

STEPS = sorted((EXAMPLES / "bundles" / "canonical").glob("*.json"))

# Who receives each step of the example case by lag (2017:612) as LUS.md tabulates it (the oracle
# the step table is checked against): step → receivers. The kvittens (10) goes to the sender of the
# planeringsunderlag it acknowledges; the reply (9) to the sender of the meddelande it answers.
CANONICAL_RECEIVERS: dict[int, tuple[str, ...]] = {
    1: (VARDCENTRAL, KOMMUN),
    2: (SELF,),
    3: (VARDCENTRAL, KOMMUN),
    4: (VARDCENTRAL, KOMMUN),
    5: (SELF, KOMMUN),
    6: (SELF, KOMMUN),
    7: (SELF, KOMMUN),
    8: (VARDCENTRAL, KOMMUN),
    9: (SELF,),
    10: (SELF,),
    11: (VARDCENTRAL, KOMMUN),
    12: (VARDCENTRAL, KOMMUN),
    13: (VARDCENTRAL, KOMMUN),
}

# Who receives each step of the second example case by lag (2017:612) (LUS.md): step → receivers.
AVLIDEN_RECEIVERS: dict[int, tuple[str, ...]] = {
    1: (VARDCENTRAL, KOMMUN),
    2: (VARDCENTRAL, KOMMUN),
    3: (VARDCENTRAL, KOMMUN),
    4: (VARDCENTRAL, KOMMUN),
    5: (SELF,),
    6: (VARDCENTRAL, KOMMUN),
    7: (SELF,),
    8: (VARDCENTRAL, KOMMUN),
}


def header_id(step: int) -> str:
    return str(orjson.loads(STEPS[step - 1].read_bytes())["entry"][0]["resource"]["id"])


def kind(path: Path) -> str:
    return str(orjson.loads(path.read_bytes())["entry"][0]["resource"]["eventCoding"]["code"])


def play_steps(runtime: Runtime, steps: list[Path] = STEPS) -> None:
    for path in steps:
        result = runtime.pipeline.process_message(path.read_bytes())
        assert result.status == 200, (path.name, result.body[:500])


def case_and_outbox(runtime: Runtime, case_id: str) -> tuple[DischargeCase | None, list[Row[Any]]]:
    """The case after a replay, and every queued message as (recipient, kind, body), in order."""
    with runtime.store.engine.connect() as conn:
        case = runtime.store.load_case(conn, case_id)
        rows = conn.execute(
            select(schema.outbox.c.recipient, schema.outbox.c.kind, schema.outbox.c.body).order_by(
                schema.outbox.c.id
            )
        ).all()
    return case, list(rows)
