"""Run the benchmarks: `python -m bench [--quick] [names...]` (names match `bench_<name>.py`)."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time

import bench
from bench._common import Result, broker, format_table


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("names", nargs="*", help="only these benchmarks (e.g. kafka_baseline)")
    parser.add_argument("--quick", action="store_true", help="smaller workloads, for a smoke run")
    args = parser.parse_args()
    modules = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_"))
    if args.names:
        modules = [m for m in modules if m.removeprefix("bench_") in args.names]
    with broker() as bootstrap:
        for name in modules:
            started = time.perf_counter()
            module = importlib.import_module(f"bench.{name}")
            results: list[Result] = module.run(bootstrap=bootstrap, quick=args.quick)
            print(f"\n== {name.removeprefix('bench_')} ({time.perf_counter() - started:.0f} s)")
            print(format_table(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
