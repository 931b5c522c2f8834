"""Run the benchmarks named on the command line, or all of them."""

from __future__ import annotations

import sys

from bench import bench_measures, bench_validation

BENCHMARKS = {"validation": bench_validation.main, "measures": bench_measures.main}


def main(names: list[str]) -> None:
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    for name in names or list(BENCHMARKS):
        print(f"== {name}")
        sys.argv = [name]  # each benchmark reads its own arguments; run with defaults
        BENCHMARKS[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
