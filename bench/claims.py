"""What one claim of due deliveries costs, by the size of the backlog, SQLite and PostgreSQL.

The outbox is seeded directly (lines of `--line` messages per case and recipient, two recipients
per case, all due, as after an outage); then the delivery worker's own claim (`Store.claim_due`,
8 at a time, leases not settled) runs repeatedly and its median time is printed. With lines longer
than one a claim also parks what waits behind each head it takes (once per message). The commit's
flush to disk is left out (SQLite synchronous=OFF, PostgreSQL synchronous_commit=off here only): it
costs the same at any backlog, and on a shared disk it is mostly noise.

    python -m bench.claims [--backlogs 154,15400,100000] [--claims 10] [--line 1]

PostgreSQL is measured when LUS_BENCH_POSTGRES_DSN (or LUS_TEST_POSTGRES_DSN) names a server.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import delete, event

from adapter.store import schema
from adapter.store.store import NewOutboxItem, Store
from tests.support.parties import KOMMUN, VARDCENTRAL
from tests.support.postgres import fresh_postgres_database


def seed(store: Store, count: int, now: float, line: int = 1) -> None:
    """`count` pending deliveries: lines of `line` messages, two recipients per case, all due."""
    body = b'{"resourceType":"Bundle","type":"message"}' + b" " * 1500
    batch: list[NewOutboxItem] = []
    run = os.urandom(4).hex()

    def flush() -> None:
        with store.transaction() as conn:
            store.outbox_add(conn, batch, now)
        batch.clear()

    for n in range(count):
        case, recipient = divmod(n // line, 2)
        mid = f"bench-{run}-{n}"
        batch.append(
            NewOutboxItem(
                mid,
                f"src-{mid}",
                f"case-{run}-{case}",
                (KOMMUN, VARDCENTRAL)[recipient],
                "http://127.0.0.1:9/fhir",
                "inskrivningsmeddelande",
                body,
            )
        )
        if len(batch) == 5000:
            flush()
    if batch:
        flush()


def median_claim_ms(store: Store, claims: int, now: float) -> float:
    times = []
    for i in range(claims):
        started = time.perf_counter()
        store.claim_due(f"bench-{i}", now, limit=8, lease_seconds=3600)
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backlogs", default="154,15400,100000", help="pending deliveries, comma-separated")
    parser.add_argument("--claims", type=int, default=10, help="claims timed per backlog")
    parser.add_argument("--line", type=int, default=1, help="messages per (case, recipient) line")
    args = parser.parse_args()
    backlogs = [int(b) for b in args.backlogs.split(",")]
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="lus-bench-claims-") as tmp:
        urls = [("SQLite", f"sqlite:///{Path(tmp) / 'claims.db'}")]
        dsn = os.environ.get("LUS_BENCH_POSTGRES_DSN") or os.environ.get("LUS_TEST_POSTGRES_DSN")
        with fresh_postgres_database(dsn, prefix="lus_bench") if dsn else _none() as pg_url:
            if pg_url:
                urls.append(("PostgreSQL", pg_url))
            else:
                print("(PostgreSQL not measured: set LUS_BENCH_POSTGRES_DSN or LUS_TEST_POSTGRES_DSN)")
            for name, url in urls:
                store = Store.from_url(url)
                store.engine.dispose()
                event.listen(store.engine, "connect", _without_disk_flush)
                results[name] = []
                for backlog in backlogs:
                    with store.transaction() as conn:
                        conn.execute(delete(schema.outbox))
                    now = time.time()
                    print(f"{name}: seeding {backlog} pending deliveries ...", flush=True)
                    seed(store, backlog, now, args.line)
                    if not store.is_sqlite:
                        with store.engine.connect() as conn:
                            conn.exec_driver_sql("ANALYZE outbox")
                    results[name].append(median_claim_ms(store, args.claims, now + 1))
                    print(f"{name}: {backlog} pending → {results[name][-1]:.2f} ms per claim", flush=True)
                store.engine.dispose()
    print(f"\nOne claim of 8 due deliveries (median ms), by pending backlog; lines of {args.line}")
    print(f"{'backlog':>10}" + "".join(f"{n:>14}" for n in results))
    for i, backlog in enumerate(backlogs):
        print(f"{backlog:>10}" + "".join(f"{results[n][i]:>14.2f}" for n in results))


def _without_disk_flush(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    is_sqlite = type(dbapi_conn).__module__.startswith("sqlite3")
    cursor.execute("PRAGMA synchronous=OFF" if is_sqlite else "SET synchronous_commit = off")
    cursor.close()
    if not is_sqlite:
        dbapi_conn.commit()


@contextmanager
def _none() -> Iterator[None]:
    yield None


if __name__ == "__main__":
    main()
