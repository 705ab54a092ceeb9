"""Hostile input: the collector's peak RSS under 16 concurrent maximum-size hostile requests, and ingest throughput
of this code against a baseline (by default the `main` branch) measured alternately in one run.

Hostile request: a 16 MiB OTLP protobuf body (the default body limit) holding one span with 1.86 million tiny
attributes, the shape that costs the most memory per byte to decode (about 16x). 16 senders post it at once to a
fresh collector (default settings: `--memory-limit-mib 512`); the figure is the collector's VmHWM afterwards
(goal ≤ 512 MiB), with how many were taken (200) and refused (429).

Throughput: `bench ingest`'s end-to-end run (OTLP/HTTP protobuf, 512-span bodies, in-process collector, 16
senders, SQLite) against a collector running the baseline's code (`git archive $EVENTLENS_BENCH_BASELINE_REF`,
default `main`, put first on the child's PYTHONPATH) and one running this tree, alternating, fresh store each.
Spans/s and the collector's CPU per span (less sensitive to other load on a shared machine) are medians.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from bench._common import Result, baseline_code
from bench.bench_ingest import CollectorUnderTest, end_to_end, make_bodies

MAX_BODY = 16 * 1024 * 1024


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def hostile_body(max_bytes: int = MAX_BODY) -> bytes:
    """One span with as many 9-byte integer attributes as fit in `max_bytes`, built straight as protobuf bytes."""
    kv = _field(9, _field(1, b"k") + _field(2, b"\x18\x01"))
    span = _field(1, os.urandom(16)) + _field(2, os.urandom(8)) + _field(5, b"hostile")
    span += kv * ((max_bytes - 200) // len(kv))
    return _field(1, _field(2, _field(2, span)))


def _post(port: int, body: bytes) -> int:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        conn.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def hostile_peak(senders: int = 16) -> tuple[float, int, int]:
    """(peak RSS MiB, requests taken, requests refused) of `senders` concurrent hostile maximum-size requests."""
    body = hostile_body()
    answers: list[int] = []
    with tempfile.TemporaryDirectory(prefix="eventlens-bench-hostile-") as tmp:
        collector = CollectorUnderTest(Path(tmp))
        try:
            threads = [threading.Thread(target=lambda: answers.append(_post(collector.port, body)))
                       for _ in range(senders)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            peak = _peak_rss_mib(collector.proc.pid)
        finally:
            collector.stop()
    return peak, answers.count(200), answers.count(429)


@contextlib.contextmanager
def child_code(path: Path | None) -> Iterator[None]:
    """Child processes started meanwhile import eventlens from `path` (None: from this tree, as installed)."""
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "PYTHONSAFEPATH")}
    if path is not None:
        os.environ["PYTHONPATH"] = str(path)
        os.environ["PYTHONSAFEPATH"] = "1"  # the current directory must not shadow it
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


Runs = list[tuple[float, float]]


def alternate(baseline: Path, rounds: int, batches: int) -> tuple[Runs, Runs]:
    """(spans/s, CPU µs/span) per run of the baseline and of this tree, alternating."""
    bodies = make_bodies(batches)
    base: Runs = []
    new: Runs = []
    for _ in range(rounds):
        for code, out in ((baseline, base), (None, new)):
            with child_code(code):
                rate, cpu, _ = end_to_end(bodies, 0, 16)
            out.append((rate, cpu))
    return base, new


def run(bootstrap: str, quick: bool = False) -> list[Result]:
    peak, taken, refused = hostile_peak()
    results = [
        Result("peak RSS, 16 concurrent 16 MiB hostile requests (1.86M attributes each)", peak, "MiB",
               goal="≤ 512 MiB"),
        Result("  of which taken (200)", taken, "requests"),
        Result("  of which refused (429 + Retry-After)", refused, "requests"),
    ]
    ref = os.environ.get("EVENTLENS_BENCH_BASELINE_REF", "main")
    with baseline_code(ref) as baseline:
        if baseline is None:
            print(f"bench hostile: cannot read git ref {ref!r}; throughput comparison skipped")
            return results
        base, new = alternate(baseline, 2 if quick else 4, 40 if quick else 300)
    base_rate, new_rate = statistics.median(r for r, _ in base), statistics.median(r for r, _ in new)
    base_cpu, new_cpu = statistics.median(c for _, c in base), statistics.median(c for _, c in new)
    results += [
        Result("ingest end to end, in process, 16 senders (median)", new_rate, "spans/s", f"{ref} (median)",
               base_rate, "within 5%"),
        Result("collector CPU per span (median)", new_cpu, "µs/span", f"{ref} (median)", base_cpu, "within 5%"),
    ]
    return results
