"""Profile validation of a 30-entry LUS message, beside fhir.resources parsing the same bytes.

    .venv/bin/python -m bench.validation [rounds]

The message is a planeringsunderlag: MessageHeader, CarePlan with twelve activities, Encounter,
Patient, two Organizations, twelve PractitionerRoles and their Practitioners — 30 entries, every
reference resolved in the Bundle and checked against its target profile. "ours" is the whole of
what $process-message does to validate: orjson.loads of the bytes and Validator.validate_message
(LUS message profiles, SE base profiles, R4 base structure, identifier rules, FHIRPath
invariants). Target: ours at most the time of `Bundle.model_validate_json` alone.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson
from fhir.resources.R4B.bundle import Bundle

from adapter.config import PROJECT_ROOT
from adapter.validation.validator import Validator
from tests.support.validation_messages import message


def sample(work: Callable[[], Any], rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        work()
        times.append((time.perf_counter_ns() - start) / 1e6)
    return times


def row(label: str, times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    median, p99 = statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]
    print(f"{label:<52} median {median:7.3f} ms   p99 {p99:7.3f} ms")
    return median, p99


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    start = time.perf_counter()
    validator = Validator.from_path(PROJECT_ROOT / "profiles")
    print(
        f"start-up: load package and compile every profile and R4 type   {time.perf_counter() - start:.2f} s"
    )
    bundle = message("planeringsunderlag", performers=12)
    raw = orjson.dumps(bundle)
    entries, issues = len(bundle["entry"]), validator.validate_message(orjson.loads(raw))
    print(f"message: planeringsunderlag, {entries} entries, {len(raw)} bytes, {len(issues)} issues")
    Bundle.model_validate_json(raw)  # the same bytes are valid R4B for fhir.resources too

    def ours() -> None:
        validator.validate_message(orjson.loads(raw))

    def theirs() -> None:
        Bundle.model_validate_json(raw)

    for work in (ours, theirs):
        sample(work, 50)  # warm up
    ours_times: list[float] = []
    theirs_times: list[float] = []
    gc.collect()
    for _ in range(10):  # interleaved, so that drift in the machine hits both alike
        ours_times += sample(ours, rounds // 10)
        theirs_times += sample(theirs, rounds // 10)
    print(f"{rounds} rounds each, same process, garbage collector on:")
    ours_median, ours_p99 = row("ours: orjson.loads + validate_message (full profiles)", ours_times)
    parse_median, parse_p99 = row("fhir.resources Bundle.model_validate_json (parse only)", theirs_times)
    verdict = "met" if ours_median <= parse_median and ours_p99 <= parse_p99 else "NOT met"
    print(
        f"ours / parse: {ours_median / parse_median:.2f} (median), {ours_p99 / parse_p99:.2f} (p99)"
        f" — target (ours <= parse alone) {verdict}"
    )


if __name__ == "__main__":
    main()
