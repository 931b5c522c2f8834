"""The ingest path per message, in one process: each stage beside `orjson.loads` and
`fhir.resources` parsing the same bytes; how ingest time grows with the Bundle and with the
case; memory.

    .venv/bin/python -m bench.ingest [--rounds 1000] [--messages 2000]

The message is an inskrivningsmeddelande padded with PractitionerRoles and Practitioners to 30
entries (every entry checked against its profile). Stages, each a median and p99 over `rounds`:
orjson.loads; fhir.resources R4B `Bundle.model_validate_json`; our profile validation (parse
included); our mapping (BundleIndex + rules → event); our full ingest — `Pipeline.process_message`
on SQLite: parse, validate, map, case update, routing, outbound rendering and the one commit
that makes the message durable. Each message is new (own Bundle.id, MessageHeader.id and case).
Case length: a meddelande to a case that already has 10, 100, 300 events.
Memory: resident size at rest and after `--messages` ingested messages (the issue's full run is
`--messages 100000`; the default is a quick smoke run).
"""

from __future__ import annotations

import argparse
import copy
import gc
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import func, literal, select

from adapter.config import Settings
from adapter.fhir.bundle import BundleIndex
from adapter.logging import configure_logging
from adapter.runtime import Runtime, build_runtime, settle_heap
from adapter.store import schema
from tests.support.examples import write_routing
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL
from tests.support.validation_messages import add, message, practitioner_role


def bundle_of(entries: int) -> dict[str, Any]:
    """An inskrivningsmeddelande with exactly `entries` entries (at least its own five)."""
    bundle = message("inskrivningsmeddelande")
    n = 0
    while len(bundle["entry"]) + 2 <= entries:
        n += 1
        practitioner_role(bundle, n)
    if len(bundle["entry"]) < entries:
        add(bundle, {"resourceType": "Practitioner", "identifier": [{"value": f"extra-{n}"}]})
    return bundle


def fresh(template: dict[str, Any], case_id: str | None = None) -> bytes:
    """The template as a new message (its own Bundle.id and MessageHeader.id) for the case
    `case_id`, or for a new stay."""
    bundle = copy.deepcopy(template)
    bundle["id"] = str(uuid.uuid4())
    bundle["entry"][0]["resource"]["id"] = str(uuid.uuid4())
    case_id = case_id or f"BENCH-{uuid.uuid4().hex[:16]}"
    bundle["entry"][1]["resource"]["identifier"][0]["value"] = case_id
    return orjson.dumps(bundle)


@contextmanager
def sqlite_runtime() -> Iterator[Runtime]:
    with tempfile.TemporaryDirectory(prefix="lus-bench-") as tmp:
        none = "http://127.0.0.1:9/none"
        config = write_routing(Path(tmp) / "config", {SELF: none, VARDCENTRAL: none, KOMMUN: none})
        settings = Settings(
            database_url=f"sqlite:///{Path(tmp) / 'bench.db'}",
            config_dir=config,
            worker=False,
            log_level="warning",
        )
        runtime = build_runtime(settings)
        settle_heap()  # as `lus-adapter serve` does
        try:
            yield runtime
        finally:
            runtime.store.engine.dispose()


def timed(work: Callable[[], Any]) -> float:
    start = time.perf_counter_ns()
    work()
    return (time.perf_counter_ns() - start) / 1e6


def median_p99(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def ingest_all(runtime: Runtime, raws: list[bytes]) -> list[float]:
    times = []
    for raw in raws:
        start = time.perf_counter_ns()
        result = runtime.pipeline.process_message(raw)
        times.append((time.perf_counter_ns() - start) / 1e6)
        if result.status != 200:
            raise SystemExit(f"ingest refused the benchmark message: {result.body[:500]!r}")
    return times


def stages(runtime: Runtime, rounds: int) -> None:
    template = bundle_of(30)
    raw = orjson.dumps(template)
    validator, pipeline = runtime.validator, runtime.pipeline

    def validate() -> None:
        validator.validate_message(orjson.loads(raw))

    bundle = orjson.loads(raw)

    def mapping() -> None:
        pipeline.map_in.to_event(BundleIndex(bundle))

    work: dict[str, Callable[[], Any]] = {
        "orjson.loads": lambda: orjson.loads(raw),
        "fhir.resources R4B Bundle.model_validate_json": lambda: Bundle.model_validate_json(raw),
        "ours: profile validation (orjson.loads + validate)": validate,
        "ours: mapping (BundleIndex + rules → event)": mapping,
    }
    raws = [fresh(template) for _ in range(rounds + 20)]
    ingest_all(runtime, raws[:20])
    directory = Path(runtime.settings.database_url.removeprefix("sqlite:///")).parent
    work[DURABLE] = durable_write(directory / "floor.db", raw, [raw])
    stored = [bytes(size) for size in stored_rows(runtime, 20)]
    work[STORED] = durable_write(directory / "stored.db", raw, stored)
    times: dict[str, list[float]] = {name: [] for name in work}
    for fn in work.values():
        for _ in range(20):
            fn()  # warm up
    ingest: list[float] = []
    cpu: list[float] = []  # per part: process CPU ms per ingested message
    gc.collect()
    for part in range(10):  # interleaved, so that drift in the machine hits every stage alike
        for name, fn in work.items():
            times[name] += [timed(fn) for _ in range(rounds // 10)]
        start = time.process_time()
        ingest += ingest_all(runtime, raws[20 + part * (rounds // 10) : 20 + (part + 1) * (rounds // 10)])
        cpu.append(1000 * (time.process_time() - start) / (rounds // 10))
    times["ours: full ingest, SQLite (parse → … → commit)"] = ingest
    print(f"\nPer message: {len(template['entry'])}-entry bundle, {len(raw)} bytes, {rounds} rounds each")
    loads, parse = median_p99(times["orjson.loads"])[0], median_p99(times[next(iter(list(work)[1:]))])[0]
    print(f"{'stage':<52}{'median ms':>10}{'p99 ms':>9}{'/ orjson':>10}{'/ fhir.res':>11}")
    for name, values in times.items():
        median, p99 = median_p99(values)
        print(f"{name:<52}{median:>10.3f}{p99:>9.3f}{median / loads:>10.1f}{median / parse:>11.3f}")
    full, durable = median_p99(ingest)[0], median_p99(times[STORED])[0]
    print(
        f"fhir.resources parse / full ingest = {parse / full:.1f}"
        f" (target >= 7x, median <= 1.5 ms: {'met' if parse / full >= 7 and full <= 1.5 else 'NOT met'})"
    )
    print(
        f"full ingest CPU time per message (this process; the commit's wait for the disk is not CPU):"
        f" least {min(cpu):.3f} ms, median {statistics.median(cpu):.3f} ms of 10 parts"
    )
    print(
        f"storing what a message stores ({len(stored)} rows, {sum(map(len, stored))} bytes) is"
        f" {durable / full:.0%} of full ingest; at 7x the whole ingest would have {parse / 7:.3f} ms,"
        f" of which it leaves {parse / 7 - durable:.3f} ms for the rest"
    )


DURABLE = "floor: orjson.loads + 1 INSERT + commit (no checks)"
STORED = "floor: the same, the rows a message stores"


def durable_write(path: Path, raw: bytes, rows: list[bytes]) -> Callable[[], Any]:
    """What any durable ingest costs at least: parse the body and commit `rows` to SQLite with the
    adapter's own settings (WAL, synchronous=FULL) in one transaction per message, into one table
    without indexes (the adapter's own tables have some: a lower bound)."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE row (id INTEGER PRIMARY KEY, body BLOB)")

    def write() -> None:
        orjson.loads(raw)
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO row (body) VALUES (?)", ((row,) for row in rows))
        db.execute("COMMIT")

    return write


def stored_rows(runtime: Runtime, messages: int) -> list[int]:
    """The rows one message leaves in the store, by size (all its columns' lengths), measured on
    the `messages` ingested so far: every table's rows per message, at their mean size."""
    sizes: list[int] = []
    with runtime.store.reading() as conn:
        for table in schema.metadata.sorted_tables:
            size = sum((func.coalesce(func.length(c), 0) for c in table.columns), literal(0))
            count, total = conn.execute(
                select(func.count(), func.coalesce(func.sum(size), 0)).select_from(table)
            ).one()
            if count:
                sizes += [int(total / count)] * round(count / messages)
    return sizes


def scaling(runtime: Runtime, rounds: int) -> None:
    print("\nScaling: full ingest (SQLite) by Bundle size")
    print(f"{'entries':>8}{'bytes':>10}{'median ms':>11}{'ms / entry':>12}")
    for entries in (10, 100, 1000):
        template = bundle_of(entries)
        count = max(5, rounds // entries)
        raws = [fresh(template) for _ in range(count + 2)]
        ingest_all(runtime, raws[:2])
        median = median_p99(ingest_all(runtime, raws[2:]))[0]
        print(f"{entries:>8}{len(raws[0]):>10}{median:>11.3f}{median / entries:>12.4f}")


def case_length(runtime: Runtime) -> None:
    """Ingest time of a message to a case by the events the case has already: flat, if the case
    is not rebuilt from its whole log for every message."""
    print("\nCase length: full ingest (SQLite) of a meddelande to a case that has N events")
    print(f"{'events':>8}{'median ms':>11}")
    case_id = f"BENCH-{uuid.uuid4().hex[:16]}"
    ingest_all(runtime, [fresh(message("inskrivningsmeddelande"), case_id)])
    template, events = message("meddelande"), 1
    for length in (10, 100, 300):
        raws = [fresh(template, case_id) for _ in range(length - events)]
        events = length
        print(f"{length:>8}{median_p99(ingest_all(runtime, raws)[-9:])[0]:>11.3f}")


def memory(runtime: Runtime, messages: int) -> None:
    template = bundle_of(30)
    gc.collect()
    at_rest = rss_mb()
    print(f"\nMemory: resident {at_rest:.0f} MB at rest (rules and profiles loaded, after the runs above)")
    start = time.perf_counter()
    batch, report_every = 1000, max(1000, messages // 10)
    for done in range(0, messages, batch):
        ingest_all(runtime, [fresh(template) for _ in range(min(batch, messages - done))])
        if (done + batch) % report_every == 0 and done + batch < messages:  # the curve, and progress
            rate = (done + batch) / (time.perf_counter() - start)
            print(f"        {rss_mb():.0f} MB after {done + batch} messages ({rate:.0f} msg/s)", flush=True)
    elapsed = time.perf_counter() - start
    gc.collect()
    after = rss_mb()
    print(
        f"        {after:.0f} MB after {messages} more 30-entry messages"
        f" ({messages / elapsed:.0f} msg/s in one thread; target < 200 MB after 100000)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=1000, help="timed rounds per stage")
    parser.add_argument("--messages", type=int, default=2000, help="messages for the memory figure")
    args = parser.parse_args()
    configure_logging("warning", json=True)
    with sqlite_runtime() as runtime:
        stages(runtime, args.rounds)
        scaling(runtime, args.rounds)
        case_length(runtime)
        memory(runtime, args.messages)


if __name__ == "__main__":
    main()
