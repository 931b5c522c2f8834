"""How fast a backlog drains after an outage, by its size: 1 000, 10 000 and 100 000 deliveries.

The receivers were down while the backlog built up: the outbox is seeded directly (pushing 100 000
deliveries through HTTP would take longer than the drain), every delivery due, in lines of one to
four messages per (case, recipient) for two recipients. Then `lus-adapter serve` starts as the
product runs it, its delivery worker with default settings, and drains to two receivers on
loopback over real HTTP. The rate is counted at the receivers, from the first delivery to the last
(the server's start-up is not in it), and each receiver checks that it got every message once and
each line in order.

    python -m bench.drain [--backlogs 1000,10000,100000]

PostgreSQL is measured when LUS_BENCH_POSTGRES_DSN (or LUS_TEST_POSTGRES_DSN) names a server; a
fresh database is made for each backlog and dropped.
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import orjson

from adapter.store.store import NewOutboxItem, Store
from tests.support.examples import write_routing
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL
from tests.support.postgres import fresh_postgres_database
from tests.support.processes import AdapterProcess
from tests.support.receivers import _Server

RECIPIENTS = (KOMMUN, VARDCENTRAL)
_PADDING = "x" * 1500  # a message of about the size of an inskrivningsmeddelande


class Tally:
    """A receiver that keeps only what the benchmark needs: when each message came, and per line
    the sequence numbers in arrival order (a message id is `line-seq`)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: set[str] = set()
        self.duplicates = 0
        self.first = self.last = 0.0
        self.lines: dict[str, list[int]] = defaultdict(list)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir/$process-message"

    def take(self, body: bytes) -> bytes:
        header = orjson.loads(body)["entry"][0]["resource"]
        mid = header["id"]
        now = time.time()
        with self.lock:
            if mid in self.seen:
                self.duplicates += 1
            else:
                self.seen.add(mid)
                line, seq = mid.rsplit("-", 1)
                self.lines[line].append(int(seq))
                self.first = self.first or now
                self.last = now
        return orjson.dumps(
            {
                "resourceType": "Bundle",
                "type": "message",
                "entry": [
                    {
                        "resource": {
                            "resourceType": "MessageHeader",
                            "id": str(uuid.uuid4()),
                            "eventCoding": header["eventCoding"],
                            "source": {"endpoint": self.url},
                            "response": {"identifier": mid, "code": "ok"},
                        }
                    }
                ],
            }
        )

    def in_order(self) -> bool:
        with self.lock:
            return all(seqs == sorted(seqs) for seqs in self.lines.values())


@contextmanager
def serving(tally: Tally) -> Iterator[Tally]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # As a production server does: otherwise Nagle and delayed ACKs add ~40 ms per answer.
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_POST(self) -> None:
            payload = tally.take(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    tally.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield tally
    finally:
        server.shutdown()
        server.server_close()


def message(mid: str) -> bytes:
    return orjson.dumps(
        {
            "resourceType": "Bundle",
            "type": "message",
            "entry": [
                {
                    "resource": {
                        "resourceType": "MessageHeader",
                        "id": mid,
                        "eventCoding": {"code": "inskrivningsmeddelande"},
                        "source": {"endpoint": "http://127.0.0.1/adapter"},
                    }
                },
                {"resource": {"resourceType": "Basic", "id": "padding", "text": {"div": _PADDING}}},
            ],
        }
    )


def seed(store: Store, count: int, endpoints: dict[str, str], since: float) -> int:
    """`count` due deliveries, in lines of 1-4 messages per (case, recipient); the number of lines."""
    run = uuid.uuid4().hex[:8]
    batch: list[NewOutboxItem] = []
    made = lines = case = 0
    started = time.monotonic()
    while made < count:
        for recipient in RECIPIENTS:
            line = f"{run}.{case}.{recipient}"
            lines += 1
            for seq in range(min(1 + case % 4, count - made)):
                mid = f"{line}-{seq}"
                body = message(mid)
                batch.append(
                    NewOutboxItem(
                        mid, f"src-{mid}", f"case-{run}-{case}", recipient, endpoints[recipient], "x", body
                    )
                )
                made += 1
            if made >= count:
                break
        case += 1
        if len(batch) >= 5000 or made >= count:
            with store.transaction() as conn:
                # Accepted over the last minutes, while the receivers were down.
                store.outbox_add(conn, batch, since + made / count * 60)
            batch.clear()
            if count >= 50_000 and made % 20_000 < 5000:
                print(f"    seeded {made}/{count} ({time.monotonic() - started:.0f} s)", flush=True)
    return lines


def drain(database_url: str, count: int, workdir: Path) -> dict[str, float]:
    tallies = {r: Tally() for r in RECIPIENTS}
    with serving(tallies[KOMMUN]), serving(tallies[VARDCENTRAL]):
        endpoints = {r: t.url for r, t in tallies.items()}
        config = write_routing(workdir / "config", {SELF: "http://127.0.0.1:9/ehr", **endpoints})
        store = Store.from_url(database_url)
        lines = seed(store, count, endpoints, time.time() - 120)
        store.engine.dispose()
        adapter = AdapterProcess(
            env={
                "LUS_DATABASE_URL": database_url,
                "LUS_CONFIG_DIR": str(config),
                "LUS_LOG_LEVEL": "warning",
            },
            log=workdir / "adapter.log",
        )
        started = time.monotonic()
        adapter.start()
        try:
            last_report, deadline = time.monotonic(), time.monotonic() + 3600
            while (done := sum(len(t.seen) for t in tallies.values())) < count:
                if time.monotonic() > deadline:
                    raise SystemExit(f"not drained in an hour: {done}/{count}")
                if time.monotonic() - last_report >= 10:
                    last_report = time.monotonic()
                    print(f"    delivered {done}/{count} ({last_report - started:.0f} s)", flush=True)
                time.sleep(0.05)
            cpu = _cpu_seconds(adapter)
        finally:
            adapter.stop()
    first = min(t.first for t in tallies.values())
    last = max(t.last for t in tallies.values())
    return {
        "rate": (count - 1) / (last - first) if last > first else float("nan"),
        "cpu_ms": 1000 * cpu / count,
        "seconds": last - first,
        "lines": lines,
        "duplicates": sum(t.duplicates for t in tallies.values()),
        "in_order": all(t.in_order() for t in tallies.values()),
    }


def _cpu_seconds(adapter: AdapterProcess) -> float:
    """The adapter process's CPU time so far (user + system), start-up included."""
    assert adapter.proc is not None
    fields = Path(f"/proc/{adapter.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backlogs", default="1000,10000,100000", help="deliveries, comma-separated")
    parser.add_argument("--stores", default="SQLite,PostgreSQL", help="which of SQLite, PostgreSQL")
    args = parser.parse_args()
    backlogs = [int(b) for b in args.backlogs.split(",")]
    dsn = os.environ.get("LUS_BENCH_POSTGRES_DSN") or os.environ.get("LUS_TEST_POSTGRES_DSN")
    stores = [s for s in args.stores.split(",") if s == "SQLite" or dsn]
    if not dsn:
        print("(PostgreSQL not measured: set LUS_BENCH_POSTGRES_DSN or LUS_TEST_POSTGRES_DSN)")
    results: dict[tuple[str, int], dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="lus-bench-drain-") as tmp:
        for name in stores:
            for count in backlogs:
                print(f"{name}: {count} deliveries ...", flush=True)
                workdir = Path(tmp) / f"{name}-{count}"
                fresh = fresh_postgres_database(dsn, prefix="lus_bench") if name == "PostgreSQL" else None
                with fresh or nullcontext(f"sqlite:///{workdir / 'drain.db'}") as url:
                    assert url is not None
                    found = results[name, count] = drain(url, count, workdir)
                print(
                    f"{name}: {count} drained in {found['seconds']:.1f} s, {found['rate']:.0f} deliveries/s",
                    flush=True,
                )
    print("\nDrain after an outage: `lus-adapter serve` (default worker settings), 2 receivers on loopback")
    print(
        f"{'store':12}{'backlog':>9}{'lines':>8}{'seconds':>9}{'per s':>8}{'vs first':>10}"
        f"{'CPU ms each':>13}  once, in order"
    )
    for name in stores:
        base = results.get((name, backlogs[0]), {}).get("rate")
        for count in backlogs:
            r = results[name, count]
            ratio = f"{r['rate'] / base:.2f}x" if base else "-"
            ok = "yes" if r["duplicates"] == 0 and r["in_order"] else f"NO ({r['duplicates']:.0f} duplicates)"
            print(
                f"{name:12}{count:>9}{r['lines']:>8.0f}{r['seconds']:>9.1f}{r['rate']:>8.0f}{ratio:>10}"
                f"{r['cpu_ms']:>13.1f}  {ok}"
            )


if __name__ == "__main__":
    main()
