"""p99 latency of a real OTLP/HTTP exporter's requests with and without a slowloris attack (1,000 idle connections
plus 1,000 half-sent bodies, reopened as the collector drops them), alternating in one run. Goal: at most 2x.

The attacker runs in its own process (`tests/adversarial/slowloris.py`), as a real one would, so its Python work
does not hold the exporter's GIL; `EXTRA` adds collector flags (e.g. a lower `--max-connections`)."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from bench._common import Result

ATTACKER = Path(__file__).resolve().parents[1] / "tests" / "adversarial" / "slowloris.py"
sys.path.insert(0, str(ATTACKER.parent))
from slowloris import export_loop  # noqa: E402 (after the path insert)

EXTRA: list[str] = []
_LISTENING = re.compile(rb"eventlens collector listening http=(\d+) grpc=(\S+)")


def _start(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen([sys.executable, "-m", "eventlens.cli", "collector", "--store",
                             f"sqlite:///{folder / 'bench.db'}", "--http-port", "0", "--grpc-port", "-1",
                             "--log-level", "warning", *EXTRA], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    for line in proc.stderr:
        match = _LISTENING.search(line)
        if match:
            return proc, int(match.group(1))
    raise RuntimeError("the collector did not start")


def _p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def run(*, bootstrap: str, quick: bool = False) -> list[Result]:
    """Alternate rounds without and with the attack against one collector; report p99 export latency."""
    rounds, seconds = (1, 4.0) if quick else (3, 8.0)
    calm: list[float] = []
    attacked: list[float] = []
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = _start(Path(tmp))
        try:
            exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces", timeout=10)
            export_loop(exporter, "warmup", seconds=1.0)
            for _ in range(rounds):
                _, failed, latencies = export_loop(exporter, "calm", seconds=seconds)
                calm += latencies
                failures += failed
                attacker = subprocess.Popen([sys.executable, str(ATTACKER), str(port), "1000", "1000"],
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
                assert attacker.stdout is not None and attacker.stdin is not None
                attacker.stdout.readline()  # "ready": every socket is open
                try:
                    _, failed, latencies = export_loop(exporter, "attacked", seconds=seconds)
                finally:
                    attacker.stdin.close()
                    attacker.wait(60)
                attacked += latencies
                failures += failed
            exporter.shutdown()
        finally:
            proc.terminate()
            proc.wait(60)
    return [
        Result("p99 export latency under slowloris (20 spans/request)", _p99(attacked) * 1000, "ms",
               "without the attack", _p99(calm) * 1000, goal="<= 2x"),
        Result("median export latency under slowloris", sorted(attacked)[len(attacked) // 2] * 1000, "ms",
               "without the attack", sorted(calm)[len(calm) // 2] * 1000),
        Result("failed exports (both phases)", failures, "requests", goal="0"),
    ]
