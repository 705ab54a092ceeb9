"""Before/after in one run: `python -m bench.compare --ref REF [--rounds N] [--quick] NAME...`.

Runs `python -m bench NAME...` alternately on the code of git `REF` (its `eventlens` package from a `git archive`,
first on the child's PYTHONPATH) and on this tree, both measured by this tree's `bench/` (`--ref-bench`: the REF
side by REF's own), `--rounds` times each (order swapped every round), against one broker, then prints each
figure's median on both sides and the ratio after/before.
Figures are matched by benchmark and name; a figure only one side prints is listed with a dash.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

from bench._common import ROOT, baseline_code, broker

_SECTION = re.compile(r"^== (\S+) \(")
_VALUE = re.compile(r"^(-?[\d,]+(?:\.\d+)?) (.+)$")


def parse_report(text: str) -> dict[tuple[str, str], tuple[float, str]]:
    """(benchmark, figure) -> (value, unit) from the tables `python -m bench` prints."""
    found: dict[tuple[str, str], tuple[float, str]] = {}
    section = ""
    for line in text.splitlines():
        head = _SECTION.match(line)
        if head:
            section = head.group(1)
            continue
        cells = re.split(r"\s{2,}", line.strip())
        if not section or len(cells) < 2 or cells[0] == "figure":
            continue
        value = _VALUE.match(cells[1])
        if value:
            found[(section, cells[0])] = (float(value.group(1).replace(",", "")), value.group(2))
    return found


def run_side(code: Path | None, names: list[str], quick: bool, bootstrap: str) -> str:
    """One `python -m bench` run on `code` (None: this tree); its printed report."""
    env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=bootstrap)
    if code is not None:
        env["PYTHONPATH"] = str(code)
        env["PYTHONSAFEPATH"] = "1"  # this tree, the current directory, must not shadow the baseline
    cmd = [sys.executable, "-m", "bench", *(["--quick"] if quick else []), *names]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench.compare: {'before' if code else 'after'} side failed:\n{done.stderr[-4000:]}")
    return done.stdout


def summarise(before: list[dict[tuple[str, str], tuple[float, str]]],
              after: list[dict[tuple[str, str], tuple[float, str]]]) -> list[tuple[str, str, str, str]]:
    """Rows (figure, before median, after median, after/before) over every figure either side printed."""
    keys = list(dict.fromkeys([k for run in before + after for k in run]))
    rows = []
    for key in keys:
        b = [run[key][0] for run in before if key in run]
        a = [run[key][0] for run in after if key in run]
        unit = next(run[key][1] for run in before + after if key in run)
        mb = statistics.median(b) if b else None
        ma = statistics.median(a) if a else None
        ratio = f"{ma / mb:.2f}x" if mb and ma is not None else "-"
        rows.append((f"{key[0]}: {key[1]}", f"{mb:,.2f} {unit}" if mb is not None else "-",
                     f"{ma:,.2f} {unit}" if ma is not None else "-", ratio))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare")
    parser.add_argument("names", nargs="+", help="benchmarks to run (e.g. instr_wrappers ingest)")
    parser.add_argument("--ref", default="main", help="git ref of the 'before' code (default: main)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each side, alternating (default 3)")
    parser.add_argument("--quick", action="store_true", help="smaller workloads, for a smoke run")
    parser.add_argument("--ref-bench", action="store_true",
                        help="measure the REF side with REF's own bench/ (when this tree's needs code REF lacks)")
    args = parser.parse_args()
    before: list[dict[tuple[str, str], tuple[float, str]]] = []
    after: list[dict[tuple[str, str], tuple[float, str]]] = []
    with baseline_code(args.ref, args.ref_bench) as code, broker() as bootstrap:
        if code is None:
            raise SystemExit(f"bench.compare: git archive {args.ref} failed")
        for i in range(args.rounds):
            for side in ((code, before), (None, after)) if i % 2 == 0 else ((None, after), (code, before)):
                side[1].append(parse_report(run_side(side[0], args.names, args.quick, bootstrap)))
                print(f"round {i + 1}: {'before' if side[0] else 'after'} done", file=sys.stderr, flush=True)
    rows = [("figure", f"before ({args.ref})", "after (this tree)", "after/before"),
            *summarise(before, after)]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    print(f"medians of {args.rounds} alternating runs")
    print("\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
