"""Where the ingest time goes: cProfile over `Pipeline.process_message` of new 30-entry messages
on SQLite, summed into the stages of the one road, each as a share of the whole.

    .venv/bin/python -m bench.profile [--messages 300] [--top 25]

Stages are the road's own steps (parse, validate, map, read, render, store, commit); the list after
them is the functions with the most time of their own, for finding the next thing to make faster.
Profiling slows everything about twofold; the shares, not the milliseconds, are the result.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
from typing import Any

from adapter.logging import configure_logging
from bench.ingest import bundle_of, fresh, ingest_all, sqlite_runtime

# (stage, file suffix, function name): cumulative time of that function within process_message.
STAGES = [
    ("parse (orjson + input limits)", "adapter/road/parse.py", "parse_json"),
    ("parse (orjson + input limits)", "adapter/road/parse.py", "within_limits"),
    ("duplicate checks (inbox reads)", "adapter/road/dedupe.py", "answered_before"),
    ("profile validation", "adapter/validation/validator.py", "validate_message"),
    ("reference cycles", "adapter/validation/cycles.py", "reference_cycle"),
    ("mapping in (rules → event)", "adapter/road/map_in.py", "to_event"),
    ("case read (apply)", "adapter/store/store.py", "case_at_version"),
    ("rendering out (per recipient)", "adapter/road/render.py", "for_recipient"),
    ("case and outbox writes", "adapter/store/store.py", "save_case"),
    ("case and outbox writes", "adapter/store/store.py", "case_version"),
    ("case and outbox writes", "adapter/store/outbox.py", "outbox_add"),
    ("case and outbox writes", "adapter/store/store.py", "inbox_put"),
    ("case and outbox writes", "adapter/store/store.py", "audit"),
    ("commit (fsync)", "sqlalchemy/engine/base.py", "_commit_impl"),
]


def stage_shares(stats: pstats.Stats) -> tuple[float, dict[str, float]]:
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = next(
        cum
        for (file, _, name), (_, _, _, cum, _) in table.items()
        if name == "process_message" and file.endswith("adapter/road/pipeline.py")
    )
    shares: dict[str, float] = {}
    for stage, suffix, function in STAGES:
        for (file, _, name), (_, _, _, cum, _) in table.items():
            if name == function and file.endswith(suffix):
                shares[stage] = shares.get(stage, 0.0) + cum
    return total, shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=300, help="profiled messages")
    parser.add_argument("--top", type=int, default=25, help="functions listed by own time")
    args = parser.parse_args()
    configure_logging("warning", json=True)
    with sqlite_runtime() as runtime:
        template = bundle_of(30)
        ingest_all(runtime, [fresh(template) for _ in range(50)])  # warm up
        raws = [fresh(template) for _ in range(args.messages)]
        profile = cProfile.Profile()
        profile.enable()
        ingest_all(runtime, raws)
        profile.disable()
    stats = pstats.Stats(profile)
    total, shares = stage_shares(stats)
    print(
        f"\nprocess_message, {args.messages} new 30-entry messages:"
        f" {1000 * total / args.messages:.2f} ms each"
    )
    print(f"(under the profiler; about twice the unprofiled time)\n{'stage':<36}{'share':>7}")
    for stage, seconds in sorted(shares.items(), key=lambda s: -s[1]):
        print(f"{stage:<36}{100 * seconds / total:>6.1f}%")
    print(f"{'the rest (routing, response, glue)':<36}{100 * (1 - sum(shares.values()) / total):>6.1f}%")
    print(f"\nTop {args.top} functions by own time:")
    stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
