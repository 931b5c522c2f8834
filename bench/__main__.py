"""`python -m bench [name ...]`: run the named benchmarks, or all of them, each with its defaults."""

from __future__ import annotations

import sys

from bench import bench_measures, delivery, hostile, http, ingest, profile, validation

BENCHMARKS = {
    "ingest": ingest.main,
    "http": http.main,
    "validation": validation.main,
    "measures": bench_measures.main,
    "delivery": delivery.main,
    "profile": profile.main,
    "hostile": hostile.main,
}


def main(names: list[str]) -> None:
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    for name in names or list(BENCHMARKS):
        print(f"== {name}", flush=True)
        sys.argv = [f"bench.{name}"]  # each benchmark parses its own arguments: run it with its defaults
        BENCHMARKS[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
