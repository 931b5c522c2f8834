"""`python -m bench [name ...]`: run the named benchmarks, or all of them, each with its defaults."""

from __future__ import annotations

import argparse
import importlib
import sys

# name → module, imported only when run (so that --help answers at once)
BENCHMARKS = {
    "ingest": "bench.ingest",
    "http": "bench.http",
    "validation": "bench.validation",
    "message_cpu": "bench.message_cpu",
    "measures": "bench.bench_measures",
    "delivery": "bench.delivery",
    "claims": "bench.claims",
    "drain": "bench.drain",
    "profile": "bench.profile",
    "hostile": "bench.hostile",
    "conformance": "bench.conformance",
}


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run the named benchmarks (all of them if none is named), each with its defaults;"
        " they print figures. For a benchmark's own options: python -m bench.NAME --help.",
    )
    parse.add_argument("names", nargs="*", metavar="NAME", help="one of: " + ", ".join(BENCHMARKS))
    return parse


def main(argv: list[str]) -> None:
    parse = parser()
    names = parse.parse_args(argv).names
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parse.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    for name in names or list(BENCHMARKS):
        print(f"== {name}", flush=True)
        sys.argv = [f"bench.{name}"]  # each benchmark parses its own arguments: run it with its defaults
        importlib.import_module(BENCHMARKS[name]).main()


if __name__ == "__main__":
    main(sys.argv[1:])
