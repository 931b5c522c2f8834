"""Two adapter replicas (`lus-adapter deliver`, real processes) on one real PostgreSQL share the
delivery of 2 000 messages for 50 cases: nothing is sent twice, every case keeps its order at
each receiver, and both replicas do part of the work."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from adapter.store import schema
from adapter.store.store import NewOutboxItem, Store
from tests.support.examples import write_routing
from tests.support.outbox import message
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL
from tests.support.processes import AdapterProcess, wait_until, wait_until_settled
from tests.support.receivers import Receiver, running

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CASES, PER_CASE = 50, 20  # × 2 recipients = 2 000 messages


def test_two_replicas_deliver_2000_messages_once_each_in_order_per_case(
    postgres_url: str, tmp_path: Path
) -> None:
    kommun, vardcentral = Receiver(delay=0.002), Receiver(delay=0.002)
    with running(kommun), running(vardcentral):
        config = write_routing(
            tmp_path / "config",
            {SELF: "http://127.0.0.1:9/ehr", KOMMUN: kommun.url, VARDCENTRAL: vardcentral.url},
        )
        env = {
            "LUS_DATABASE_URL": postgres_url,
            "LUS_CONFIG_DIR": str(config),
            "LUS_DATABASE_MIGRATE_ON_START": "false",
            "LUS_WORKER_POLL_SECONDS": "0.05",
            "LUS_DELIVERY_CONCURRENCY": "8",
        }
        # As in production: the schema is migrated once, then the replicas start.
        subprocess.run(
            [sys.executable, "-m", "adapter", "db", "upgrade"],
            env={**os.environ, **env},
            check=True,
            timeout=60,
        )
        store = Store.from_url(postgres_url, migrate=False)
        expected: dict[tuple[str, str], list[str]] = {}
        items = []
        for seq in range(PER_CASE):
            for case in range(CASES):
                for party, receiver in ((KOMMUN, kommun), (VARDCENTRAL, vardcentral)):
                    mid = f"{party[-5:]}-case{case:02d}-{seq:02d}"
                    expected.setdefault((party, f"case-{case}"), []).append(mid)
                    items.append(
                        NewOutboxItem(
                            mid, f"src-{mid}", f"case-{case}", party, receiver.url, "x", message(mid)
                        )
                    )
        with store.transaction() as conn:
            store.outbox_add(conn, items, time.time())

        replicas = [
            AdapterProcess(env=env, log=tmp_path / f"replica-{i}.log", command=("deliver",)) for i in range(2)
        ]
        try:
            for replica in replicas:
                replica.start()
            total = CASES * PER_CASE
            wait_until(
                lambda: len(kommun.applied) == total and len(vardcentral.applied) == total,
                120,
                "2 000 deliveries",
            )
            wait_until_settled(postgres_url)  # then both stopped: no request still in flight
        finally:
            for replica in replicas:
                replica.stop()

    assert (kommun.duplicates, vardcentral.duplicates) == (0, 0)
    assert kommun.requests + vardcentral.requests == 2 * CASES * PER_CASE, "no request was sent twice"
    for (party, case), sent in expected.items():
        receiver = kommun if party == KOMMUN else vardcentral
        in_case = set(sent)
        assert [m for m in receiver.applied_ids if m in in_case] == sent, f"order of {case} at {party}"
    with store.engine.connect() as conn:
        rows = conn.execute(select(schema.outbox.c.status, schema.outbox.c.delivered_by)).all()
    store.engine.dispose()
    assert Counter(r.status for r in rows) == {"delivered": 2 * CASES * PER_CASE}
    shares = Counter(r.delivered_by for r in rows)
    assert len(shares) == 2 and min(shares.values()) >= 200, f"both replicas deliver: {shares}"
