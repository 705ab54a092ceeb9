"""What every benchmark module shares: the result type, a broker for the run, and the report table."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventlens.local_kafka import LocalKafka, free_port

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Result:
    """One measured figure, with the baseline it is compared to (measured in the same run) if any."""

    name: str
    value: float
    unit: str
    baseline_name: str | None = None
    baseline_value: float | None = None
    goal: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline_value in (None, 0):
            return None
        assert self.baseline_value is not None
        return self.value / self.baseline_value


def format_table(results: list[Result]) -> str:
    """A plain-text table: figure, value, baseline, ratio, goal."""
    rows = [("figure", "value", "baseline", "ratio", "goal")]
    for r in results:
        base = f"{r.baseline_value:,.2f} {r.unit} ({r.baseline_name})" if r.baseline_value is not None else "-"
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else "-"
        rows.append((r.name, f"{r.value:,.2f} {r.unit}", base, ratio, r.goal))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows)


@contextmanager
def broker() -> Iterator[str]:
    """A Kafka broker for the benchmark run: `KAFKA_BOOTSTRAP_SERVERS` if set, else a local one."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    with tempfile.TemporaryDirectory(prefix="eventlens-bench-kafka-") as tmp:
        kafka = LocalKafka(workdir=Path(tmp), port=free_port()).start()
        try:
            yield kafka.bootstrap
        finally:
            kafka.stop()


def cpu_seconds(fn: Callable[[], object]) -> tuple[float, float]:
    """Run `fn` once; return (process CPU seconds, wall seconds) it took (all threads of this process)."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - cpu0, time.perf_counter() - wall0


@contextmanager
def baseline_code(ref: str, own_bench: bool = False) -> Iterator[Path | None]:
    """A directory whose `eventlens` package is the code of git `ref` (None when it cannot be made), beside
    this tree's `bench` (so both sides of a comparison are measured by the same code), or `ref`'s own `bench`
    with `own_bench` (when this tree's bench needs code `ref` does not have).

    Put it first on a child's PYTHONPATH (with PYTHONSAFEPATH=1) to run that ref's code beside this tree's.
    """
    tmp = Path(tempfile.mkdtemp(prefix="eventlens-bench-baseline-"))
    try:
        src, shim = tmp / "src", tmp / "shim"
        src.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], capture_output=True, check=False)
        if archive.returncode != 0:
            yield None
            return
        subprocess.run(["tar", "-x", "-C", str(src)], input=archive.stdout, check=True)
        shutil.copytree(src / "eventlens", shim / "eventlens")
        for part in ("collector", "instrumentation", "dashboard"):
            (shim / "eventlens" / part).symlink_to(src / part)
        (shim / "bench").symlink_to((src if own_bench else ROOT) / "bench")
        yield shim
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def encode_only_exporter(fast_spans: bool = True) -> Any:
    """A span exporter that only encodes each batch with eventlens' OTLP encoder: the in-process export work of
    a benchmark without a network; `fast_spans` says whether it takes eventlens' own spans (the fast path)."""
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    from eventlens.instrumentation._otlp_encode import encode_spans

    class EncodeOnly(SpanExporter):  # type: ignore[misc]
        eventlens_fast_spans = fast_spans

        def export(self, spans: Any) -> SpanExportResult:
            encode_spans(spans)
            return SpanExportResult.SUCCESS

    return EncodeOnly()
