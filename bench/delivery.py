"""Accepted messages per second and delivery lag, SQLite and PostgreSQL side by side.

The adapter runs as it does in production: `lus-adapter serve` with its delivery worker, in its
own process, with default settings. Two receivers (the kommun's and the vårdcentral's systems)
answer on loopback. Each message is an admission notice for a new stay, so the adapter accepts
it, opens a case and queues two outbound messages.

1. Saturation: N client threads post as fast as they are answered, for S seconds → accepted/s.
2. Steady load: messages at a fixed rate (default half the saturation rate) for S seconds →
   delivery lag, from the sender's 200 to the receiver having the outbound message, per message
   and recipient (p50, p95, max), and whether every accepted message arrived.

    python -m bench.delivery [--seconds 10] [--clients 8] [--rate R]

PostgreSQL is measured when LUS_BENCH_POSTGRES_DSN (or LUS_TEST_POSTGRES_DSN) names a server; a
fresh database is made and dropped.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

from adapter.mapping.outbound import outbound_message_id
from tests.support.examples import write_routing
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL
from tests.support.postgres import fresh_postgres_database
from tests.support.processes import FHIR, AdapterProcess, message_id, stay_messages
from tests.support.receivers import Receiver, running


@dataclass
class Figures:
    accepted_per_second: float = 0.0
    steady_rate: float = 0.0
    steady_accepted: int = 0
    lags: tuple[float, ...] = ()
    arrived: int = 0
    expected: int = 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--clients", type=int, default=8, help="client threads in the saturation phase")
    parser.add_argument("--rate", type=float, default=None, help="steady load, messages/s (default: half)")
    args = parser.parse_args()

    results: dict[str, Figures] = {}
    with tempfile.TemporaryDirectory(prefix="lus-bench-") as tmp:
        results["SQLite"] = measure(f"sqlite:///{Path(tmp) / 'bench.db'}", Path(tmp) / "sqlite", args)
        dsn = os.environ.get("LUS_BENCH_POSTGRES_DSN") or os.environ.get("LUS_TEST_POSTGRES_DSN")
        if dsn:
            with fresh_postgres_database(dsn, prefix="lus_bench") as url:
                results["PostgreSQL"] = measure(url, Path(tmp) / "postgres", args)
        else:
            print("(PostgreSQL not measured: set LUS_BENCH_POSTGRES_DSN or LUS_TEST_POSTGRES_DSN)")
    report(results, args)


def measure(database_url: str, workdir: Path, args: argparse.Namespace) -> Figures:
    figures = Figures()
    kommun, vardcentral = Receiver(), Receiver()
    with running(kommun), running(vardcentral):
        config = write_routing(
            workdir / "config",
            {SELF: "http://127.0.0.1:9/ehr", KOMMUN: kommun.url, VARDCENTRAL: vardcentral.url},
        )
        adapter = AdapterProcess(
            env={
                "LUS_DATABASE_URL": database_url,
                "LUS_CONFIG_DIR": str(config),
                "LUS_LOG_LEVEL": "warning",
                "LUS_WORKER_POLL_SECONDS": "0.05",
            },
            log=workdir / "adapter.log",
        )
        adapter.start()
        try:
            count, elapsed = saturate(adapter, args.clients, args.seconds)
            figures.accepted_per_second = count / elapsed
            wait_for(lambda: len(kommun.applied) >= count and len(vardcentral.applied) >= count, 120)
            rate = args.rate or max(1.0, figures.accepted_per_second / 2)
            accepted = steady(adapter, rate, args.seconds)
            figures.steady_rate, figures.steady_accepted = rate, len(accepted)
            figures.expected = 2 * len(accepted)
            ids = {
                (outbound_message_id(mid, party), at)
                for mid, at in accepted.items()
                for party in (KOMMUN, VARDCENTRAL)
            }
            wait_for(
                lambda: all(out in kommun.applied_at or out in vardcentral.applied_at for out, _ in ids), 120
            )
            arrived = {**kommun.applied_at, **vardcentral.applied_at}
            figures.lags = tuple(sorted(arrived[out] - at for out, at in ids if out in arrived))
            figures.arrived = len(figures.lags)
        finally:
            adapter.stop()
    return figures


def saturate(adapter: AdapterProcess, clients: int, seconds: float) -> tuple[int, float]:
    counts = [0] * clients
    deadline = time.monotonic() + seconds

    def client(i: int) -> None:
        with httpx.Client(timeout=30) as http:
            while time.monotonic() < deadline:
                [bundle] = stay_messages(f"BENCH-{uuid.uuid4().hex[:12]}", 1)
                reply = http.post(
                    f"{adapter.base}/fhir/$process-message", content=orjson.dumps(bundle), headers=FHIR
                )
                counts[i] += reply.status_code == 200

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts), time.monotonic() - started


def steady(adapter: AdapterProcess, rate: float, seconds: float) -> dict[str, float]:
    """Open loop: message i is sent at start + i/rate, whatever happened to the others."""
    total = int(rate * seconds)
    bundles = [stay_messages(f"STEADY-{uuid.uuid4().hex[:12]}", 1)[0] for _ in range(total)]
    accepted: dict[str, float] = {}
    lock = threading.Lock()
    next_index = iter(range(total))
    start = time.time() + 0.2

    def sender() -> None:
        with httpx.Client(timeout=30) as http:
            for i in next_index:
                time.sleep(max(0.0, start + i / rate - time.time()))
                bundle = bundles[i]
                reply = http.post(
                    f"{adapter.base}/fhir/$process-message", content=orjson.dumps(bundle), headers=FHIR
                )
                if reply.status_code == 200:
                    with lock:
                        accepted[message_id(bundle)] = time.time()

    threads = [threading.Thread(target=sender) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return accepted


def wait_for(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.05)


def report(results: dict[str, Figures], args: argparse.Namespace) -> None:
    def ms(values: tuple[float, ...], q: float) -> str:
        if not values:
            return "-"
        return f"{1000 * values[min(len(values) - 1, int(q * len(values)))]:.0f}"

    rows = [
        (f"accepted msg/s ({args.clients} clients, saturated)", lambda f: f"{f.accepted_per_second:.0f}"),
        ("steady load, msg/s offered", lambda f: f"{f.steady_rate:.0f}"),
        ("steady load, msg/s accepted", lambda f: f"{f.steady_accepted / args.seconds:.0f}"),
        ("delivery lag p50 (ms)", lambda f: ms(f.lags, 0.50)),
        ("delivery lag p95 (ms)", lambda f: ms(f.lags, 0.95)),
        ("delivery lag max (ms)", lambda f: ms(f.lags, 1.0)),
        ("delivery lag mean (ms)", lambda f: f"{1000 * statistics.fmean(f.lags):.0f}" if f.lags else "-"),
        ("delivered / expected", lambda f: f"{f.arrived}/{f.expected}"),
    ]
    names = list(results)
    print(f"\nDelivery benchmark: {args.seconds:.0f} s per phase, each message → 2 recipients, one process")
    print(f"{'':44}" + "".join(f"{n:>12}" for n in names))
    for label, value in rows:
        print(f"{label:44}" + "".join(f"{value(results[n]):>12}" for n in names))


if __name__ == "__main__":
    main()
