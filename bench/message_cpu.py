"""CPU time per 30-entry message: validation alone and the whole ingest, for before/after pairs.

    .venv/bin/python -m bench.message_cpu [--batches 30]

Timed medians on this shared 2-core machine move by 20% from run to run; CPU time of the process
(time.process_time) over batches of 100 messages, the least and the median batch, moves far less.
Two messages: bench.ingest's inskrivningsmeddelande padded to 30 entries, and the 30-entry
planeringsunderlag of bench.validation. To compare two commits, run this in a worktree of each in
turn, A B A B, with this file copied in (before the tests moved to tests/support, `message` was in
tests/validation_messages).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from typing import Any

import orjson

from adapter.config import PROJECT_ROOT
from adapter.logging import configure_logging
from adapter.validation.validator import Validator
from bench.ingest import bundle_of, fresh, ingest_all, sqlite_runtime
from tests.support.validation_messages import message

_PER_BATCH = 100


def batches(work: Callable[[Any], Any], items: list[Any], count: int) -> tuple[float, float]:
    """(least, median) CPU ms per item over `count` batches, after a warm-up batch."""
    for item in items[:_PER_BATCH]:
        work(item)
    gc.collect()
    per_item = []
    for n in range(1, count + 1):
        batch = items[n * _PER_BATCH : (n + 1) * _PER_BATCH]
        start = time.process_time()
        for item in batch:
            work(item)
        per_item.append((time.process_time() - start) * 1000 / len(batch))
    return min(per_item), statistics.median(per_item)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=30, help=f"timed batches of {_PER_BATCH} messages")
    args = parser.parse_args()
    configure_logging("warning", json=True)
    count = args.batches
    start = time.process_time()
    validator = Validator.from_path(PROJECT_ROOT / "profiles")
    print(f"validator start-up: {time.process_time() - start:.2f} s CPU")
    for name, bundle in (
        ("inskrivningsmeddelande (bench.ingest)", bundle_of(30)),
        ("planeringsunderlag (bench.validation)", message("planeringsunderlag", performers=12)),
    ):
        raw = orjson.dumps(bundle)
        parsed = [orjson.loads(raw) for _ in range((count + 1) * _PER_BATCH)]
        least, median = batches(validator.validate_message, parsed, count)
        print(f"validate_message, {name}: least {least:.3f} ms, median {median:.3f} ms CPU")
    with sqlite_runtime() as runtime:
        template = bundle_of(30)
        raws = [fresh(template) for _ in range((count + 1) * _PER_BATCH)]
        least, median = batches(lambda raw: ingest_all(runtime, [raw]), raws, count)
        print(f"whole ingest on SQLite, inskrivningsmeddelande: least {least:.3f} ms, median {median:.3f} ms")


if __name__ == "__main__":
    main()
