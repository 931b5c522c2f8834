"""Hostile bodies against `lus-adapter serve`: the server's peak resident memory with four
MessageHeaders of 300 000 unknown keys each (3.5 MB, inside the body limit) in flight at once,
to $process-message and to $validate, and how long GET /health waits meanwhile.

    .venv/bin/python -m bench.hostile [--rounds 20] [--keys 300000]

PostgreSQL is measured too when LUS_TEST_POSTGRES_DSN names a server. Target (examples/k8s gives
the container 512 MiB): peak resident memory under 512 MiB.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from pathlib import Path

import httpx
import orjson

from bench.http import cpu_seconds, percentile
from tests.support.examples import load_example, write_routing
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL
from tests.support.postgres import fresh_postgres_database
from tests.support.processes import FHIR, AdapterProcess

IN_FLIGHT = 4
TARGET_MIB = 512


def hostile_body(keys: int) -> bytes:
    bundle = load_example("inskrivningsmeddelande.json")
    bundle["entry"][0]["resource"].update({f"x{i}": 0 for i in range(keys)})  # as issue 19 found it
    return orjson.dumps(bundle)


def resident_mib(pid: int, field: str = "VmRSS") -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for {pid}")


@dataclass
class Run:
    rest_mib: float
    peak_mib: float
    statuses: list[int]
    answer_bytes: int  # the largest answer
    request_p99_ms: float
    health_rest_p99_ms: float  # before the bodies: the machine's own noise
    health_p99_ms: float  # while they are sent
    health_max_ms: float
    health_asked: int
    cpu_ms: float  # the server's CPU time (user + system) per hostile body


def probe(
    base: str, ready: Event, stop: Event, out: multiprocessing.Queue[list[tuple[float, float]]]
) -> None:
    """GET /health every 20 ms until `stop`, from its own process (the senders' threads would
    otherwise hold up the probe in the client, not the server)."""
    health: list[tuple[float, float]] = []  # (asked at, seconds waited)
    with httpx.Client(base_url=base, timeout=600) as client:
        while not stop.is_set():
            start = time.perf_counter()
            with contextlib.suppress(httpx.HTTPError):  # counted as long as it waited
                client.get("/health")
            health.append((time.time(), time.perf_counter() - start))
            ready.set()
            time.sleep(0.02)
    out.put(health)


def hammer(process: AdapterProcess, path: str, body: bytes, rounds: int) -> Run:
    """`rounds` times: IN_FLIGHT copies of `body` posted at once; /health asked every 20 ms."""
    assert process.proc is not None
    pid = process.proc.pid
    rest = resident_mib(pid)
    peak = rest
    done = threading.Event()
    latencies: list[float] = []
    statuses: list[int] = []
    biggest = 0
    lock = threading.Lock()

    def watch() -> None:  # resident memory, sampled every 5 ms (VmHWM would include start-up)
        nonlocal peak
        while not done.is_set():
            peak = max(peak, resident_mib(pid))
            time.sleep(0.005)

    def send(client: httpx.Client) -> None:
        nonlocal biggest
        start = time.perf_counter()
        reply = client.post(path, content=body, headers=FHIR)
        with lock:
            latencies.append(time.perf_counter() - start)
            statuses.append(reply.status_code)
            biggest = max(biggest, len(reply.content))

    context = multiprocessing.get_context("spawn")
    ready, stop, answers = context.Event(), context.Event(), context.Queue()
    prober = context.Process(target=probe, args=(process.base, ready, stop, answers))
    prober.start()
    watcher = threading.Thread(target=watch)
    watcher.start()
    ready.wait(60)
    time.sleep(2)  # the probe at rest
    began = time.time()
    clients = [httpx.Client(base_url=process.base, timeout=300) for _ in range(IN_FLIGHT)]
    cpu_before = cpu_seconds(pid)
    try:
        for _ in range(rounds):
            senders = [threading.Thread(target=send, args=(c,)) for c in clients]
            for t in senders:
                t.start()
            for t in senders:
                t.join()
    finally:
        cpu = cpu_seconds(pid) - cpu_before
        done.set()
        stop.set()
        asked = answers.get()
        prober.join()
        watcher.join()
        for c in clients:
            c.close()
    return Run(
        rest,
        peak,
        statuses,
        biggest,
        percentile(latencies, 99),
        percentile([s for at, s in asked if at < began], 99),
        percentile(health := [s for at, s in asked if at >= began], 99),
        1000 * max(health),
        len(health),
        1000 * cpu / max(1, len(statuses)),
    )


def serve(database_url: str, workdir: Path) -> AdapterProcess:
    none = "http://127.0.0.1:9/none"
    config = write_routing(workdir / "config", {SELF: none, VARDCENTRAL: none, KOMMUN: none})
    return AdapterProcess(
        env={"LUS_DATABASE_URL": database_url, "LUS_CONFIG_DIR": str(config), "LUS_LOG_LEVEL": "warning"},
        log=workdir / "adapter.log",
        command=("serve", "--no-worker"),
    ).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help=f"rounds of {IN_FLIGHT} bodies at once")
    parser.add_argument("--keys", type=int, default=300_000, help="unknown keys in the MessageHeader")
    args = parser.parse_args()
    body = hostile_body(args.keys)
    print(
        f"\n{IN_FLIGHT} bodies at once x {args.rounds} rounds: a MessageHeader with {args.keys} unknown keys"
        f" ({len(body) / 1e6:.1f} MB each); resident memory of the server process, /health every 20 ms"
    )
    print(
        f"{'store':<12}{'endpoint':<24}{'rest MiB':>9}{'peak MiB':>9}{'statuses':>16}{'answer B':>10}"
        f"{'req p99 ms':>11}{'CPU ms/req':>11}{'health p99 at rest / loaded / max (n)':>40}"
    )
    stores = {"SQLite": None}
    dsn = os.environ.get("LUS_TEST_POSTGRES_DSN")
    if dsn:
        stores["PostgreSQL"] = dsn
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="lus-bench-") as tmp:
        for name, server_dsn in stores.items():
            workdir = Path(tmp) / name
            for path in ("/fhir/$process-message", "/fhir/Bundle/$validate"):
                if server_dsn is None:
                    run = _on(f"sqlite:///{workdir / 'bench.db'}", workdir, path, body, args.rounds)
                else:
                    with fresh_postgres_database(server_dsn, prefix="lus_bench") as url:
                        run = _on(url, workdir, path, body, args.rounds)
                worst = max(worst, run.peak_mib)
                counts = ", ".join(f"{s}x{run.statuses.count(s)}" for s in sorted(set(run.statuses)))
                print(
                    f"{name:<12}{path:<24}{run.rest_mib:>9.0f}{run.peak_mib:>9.0f}{counts:>16}"
                    f"{run.answer_bytes:>10}{run.request_p99_ms:>11.1f}{run.cpu_ms:>11.1f}"
                    f"{run.health_rest_p99_ms:>17.1f}{run.health_p99_ms:>9.1f}{run.health_max_ms:>8.1f}"
                    f" ({run.health_asked})"
                )
    if not dsn:
        print("(PostgreSQL not measured: set LUS_TEST_POSTGRES_DSN)")
    verdict = "met" if worst < TARGET_MIB else "NOT met"
    print(f"target: peak under {TARGET_MIB} MiB: {verdict} (worst {worst:.0f} MiB)")


def _on(url: str, workdir: Path, path: str, body: bytes, rounds: int) -> Run:
    workdir.mkdir(parents=True, exist_ok=True)
    process = serve(url, workdir / path.rsplit("/", 1)[-1].strip("$"))
    try:
        return hammer(process, path, body, rounds)
    finally:
        process.stop()


if __name__ == "__main__":
    main()
