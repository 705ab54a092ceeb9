"""Collector ingest: OTLP/HTTP protobuf batches of 512 spans → committed in SQLite, one collector.

The collector runs as its own process (`python -m eventlens.cli collector`, SQLite store in a temporary folder),
in process (`--ingest-workers 0`) and with 2 ingest worker processes; this process is the sender (keep-alive
connections on 4, 16 or 64 threads, retrying 429/503 after Retry-After). The figure is spans acknowledged per second
of wall time: a 200 means the spans are committed. Two span shapes: "unpaired" (every span its own trace, every
process span's producer never arrives: the worst case for the store) and "paired" (what instrumented services
send: bodies of 512 `send` spans from a producer service, each followed by a body of the 512 `process` spans of
the same messages from a consumer service, parented on them). In the same run: the raw protobuf parse of the same
bodies (baseline), parse + flatten + normalise (`decode_traces`), the collector's CPU per span (its process and
its workers), the rate block by block while one collector's store grows to four times the run (random-keyed
indexes cost more per span as they grow), and the collector's peak RSS under a sustained overload (many more
senders than the store can keep up with, so the bounded queue answers 429).
"""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from bench._common import Result, cpu_seconds
from eventlens.collector.otlp import decode_traces
from eventlens.collector.storage.protocol import open_store

SPANS_PER_BATCH = 512
_LISTENING = re.compile(rb"listening http=(\d+)")


def _kv(key: str, value: str | int) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(int_value=value) if isinstance(value, int) else AnyValue(
        string_value=value))


def make_bodies(count: int, *, paired: bool = False) -> list[bytes]:
    """`count` ExportTraceServiceRequest bodies of 512 spans with the attributes eventlens emits (about 12 per
    span), unique ids. Unpaired: alternating send/process spans, each in its own trace, process spans parented on
    spans that never arrive. Paired: even bodies hold a producer's send spans, each odd body the process spans of
    the same messages (same traces, parented on those send spans) from a consumer service."""
    bodies = []
    sends: list[tuple[bytes, bytes]] = []
    for b in range(count):
        req = ExportTraceServiceRequest()
        rs = req.resource_spans.add()
        service = (f"svc-{b % 5}" if not paired else
                   f"producer-{b // 2 % 3}" if b % 2 == 0 else f"consumer-{b // 2 % 3}")
        rs.resource.attributes.extend([_kv("service.name", service), _kv("telemetry.sdk.language", "python"),
                                       _kv("service.version", "1.0.0")])
        ss = rs.scope_spans.add()
        ss.scope.name = "eventlens.instrumentation"
        if paired and b % 2 == 0:
            sends = [(os.urandom(16), os.urandom(8)) for _ in range(SPANS_PER_BATCH)]
        for i in range(SPANS_PER_BATCH):
            process = i % 2 == 1 if not paired else b % 2 == 1
            n = (b * SPANS_PER_BATCH + i) if not paired else (b // 2 * SPANS_PER_BATCH + i)
            s = ss.spans.add()
            if paired:
                s.trace_id = sends[i][0]
                s.span_id = sends[i][1] if not process else os.urandom(8)
                if process:
                    s.parent_span_id = sends[i][1]
            else:
                s.trace_id = os.urandom(16)
                s.span_id = os.urandom(8)
                if process:
                    s.parent_span_id = os.urandom(8)
            s.name = "process orders" if process else "send orders"
            s.kind = Span.SPAN_KIND_CONSUMER if process else Span.SPAN_KIND_PRODUCER
            s.start_time_unix_nano = time.time_ns() - 1_000_000
            s.end_time_unix_nano = s.start_time_unix_nano + 250_000
            attrs = [_kv("messaging.system", "kafka"), _kv("messaging.destination.name", "orders"),
                     _kv("messaging.operation.name", "process" if process else "send"),
                     _kv("messaging.operation.type", "process" if process else "send"),
                     _kv("messaging.destination.partition.id", str(n % 6)), _kv("messaging.kafka.offset", n),
                     _kv("messaging.kafka.message.key", f"order-{n % 1000}"), _kv("messaging.client.id", "c-1"),
                     _kv("messaging.message.body.size", 200), _kv("cloudevents.event_id", f"evt-{n}"),
                     _kv("cloudevents.event_type", "order.created")]
            if process:
                attrs += [_kv("messaging.consumer.group.name", "billing"), _kv("eventlens.lag.offsets", 3)]
            s.attributes.extend(attrs)
        bodies.append(req.SerializeToString())
    return bodies


class CollectorUnderTest:
    """`eventlens collector` in a child process on a fresh SQLite file."""

    def __init__(self, workdir: Path, *extra: str, store: str | None = None) -> None:
        store = store or f"sqlite:///{workdir / 'bench.db'}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "eventlens.cli", "collector", "--store", store,
             "--http-port", "0", "--grpc-port", "-1", "--log-level", "warning", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 60
        for line in self.proc.stderr:
            match = _LISTENING.search(line)
            if match:
                self.port = int(match.group(1))
                break
            if time.monotonic() > deadline:
                raise RuntimeError("collector did not start")
        else:
            raise RuntimeError("collector exited before listening")
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for _ in self.proc.stderr:
            pass

    def cpu_seconds(self) -> float:
        """CPU time of the collector process and its children (ingest workers), from /proc."""
        total = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(entry.name) == self.proc.pid or int(fields[1]) == self.proc.pid:
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def rss_mib(self, key: str = "VmRSS") -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(120)


def send_all(port: int, bodies: list[bytes], senders: int, *, retry: bool = True,
             until: float | None = None) -> tuple[int, int]:
    """POST every body (or keep posting them round-robin until `until`); returns (acknowledged, refused 429/503)."""
    lock = threading.Lock()
    state = {"next": 0, "ok": 0, "refused": 0}

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Content-Type": "application/x-protobuf"}
        while True:
            with lock:
                i = state["next"]
                if until is None and i >= len(bodies):
                    break
                if until is not None and time.monotonic() >= until:
                    break
                state["next"] += 1
            body = bodies[i % len(bodies)]
            while True:
                try:
                    conn.request("POST", "/v1/traces", body, headers)
                    resp = conn.getresponse()
                    resp.read()
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                    continue
                if resp.status == 200:
                    with lock:
                        state["ok"] += 1
                    break
                with lock:
                    state["refused"] += 1
                if not retry or resp.status not in (429, 503):
                    break
                time.sleep(0.05)
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return state["ok"], state["refused"]


def _rate(fn, bodies: list[bytes]) -> float:
    started = time.perf_counter()
    for body in bodies:
        fn(body)
    return len(bodies) * SPANS_PER_BATCH / (time.perf_counter() - started)


def store_rate(bodies: list[bytes]) -> tuple[float, float]:
    """(spans/s, CPU µs/span) of `SQLiteStore.write_spans` on its own (decoded spans, 8 bodies per call)."""
    decoded = [decode_traces(b, "application/x-protobuf") for b in bodies]
    spans = len(bodies) * SPANS_PER_BATCH
    with tempfile.TemporaryDirectory(prefix="eventlens-bench-store-") as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'store.db'}")
        try:
            def write() -> None:
                for i in range(0, len(decoded), 8):
                    store.write_spans([s for batch in decoded[i:i + 8] for s in batch])
            cpu, wall = cpu_seconds(write)
            return spans / wall, cpu / spans * 1e6
        finally:
            store.close()


def _cpu_per_span(fn, bodies: list[bytes]) -> float:
    cpu, _ = cpu_seconds(lambda: [fn(b) for b in bodies])
    return cpu / (len(bodies) * SPANS_PER_BATCH) * 1e6


def fresh_database(server_dsn: str) -> str:
    """A new, empty database on the benchmark's PostgreSQL server."""
    import psycopg

    name = f"bench_ingest_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = server_dsn.rpartition("/")
    return f"{base}/{name}"


def postgres_results(bodies: list[bytes], sqlite_rate: float) -> list[Result]:
    """End to end into PostgreSQL: one collector in process, one with 2 ingest workers, then two collectors
    (4 senders each) on one database."""
    from bench.bench_storage import postgres_dsn

    spans = len(bodies) * SPANS_PER_BATCH
    results: list[Result] = []
    with postgres_dsn() as server, tempfile.TemporaryDirectory(prefix="eventlens-bench-pg-") as tmp:
        for count, workers in ((1, 0), (1, 2), (2, 0)):
            store = fresh_database(server)
            collectors = [CollectorUnderTest(Path(tmp), "--ingest-workers", str(workers), store=store)
                          for _ in range(count)]
            try:
                for c in collectors:
                    send_all(c.port, make_bodies(2), 2)
                shares = [bodies[i::count] for i in range(count)]
                outcome: list[tuple[int, int]] = []
                threads = [threading.Thread(target=lambda c=c, share=share, out=outcome: out.append(
                    send_all(c.port, share, senders=4))) for c, share in zip(collectors, shares, strict=True)]
                started = time.perf_counter()
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                wall = time.perf_counter() - started
            finally:
                for c in collectors:
                    c.stop()
            if sum(ok for ok, _ in outcome) != len(bodies):
                raise RuntimeError("not every batch was acknowledged")
            label = ("two collectors, one database" if count == 2 else
                     "one collector, 2 ingest workers" if workers else "one collector")
            results.append(Result(f"end-to-end ingest, OTLP/HTTP → PostgreSQL, {label}", spans / wall, "spans/s",
                                  "SQLite end-to-end", sqlite_rate))
    return results


def end_to_end(bodies: list[bytes], workers: int, senders: int) -> tuple[float, float, int]:
    """(spans/s, collector CPU µs per span, refused requests) of sending every body to a fresh collector."""
    spans = len(bodies) * SPANS_PER_BATCH
    with tempfile.TemporaryDirectory(prefix="eventlens-bench-ingest-") as tmp:
        collector = CollectorUnderTest(Path(tmp), "--ingest-workers", str(workers))
        try:
            send_all(collector.port, make_bodies(4), 2)  # warm up: connections, tables, caches
            cpu0, started = collector.cpu_seconds(), time.perf_counter()
            ok, refused = send_all(collector.port, bodies, senders=senders)
            wall = time.perf_counter() - started
            cpu = collector.cpu_seconds() - cpu0
        finally:
            collector.stop()
    if ok != len(bodies):
        raise RuntimeError(f"only {ok} of {len(bodies)} batches acknowledged")
    return spans / wall, cpu / spans * 1e6, refused


def sustained(bodies: list[bytes], blocks: int) -> list[tuple[int, float]]:
    """(spans stored before, spans/s) of each of `blocks` consecutive equal shares of `bodies` sent to one
    collector (2 ingest workers, 16 senders): how the rate holds up as the store grows."""
    share = len(bodies) // blocks
    out: list[tuple[int, float]] = []
    with tempfile.TemporaryDirectory(prefix="eventlens-bench-sustained-") as tmp:
        collector = CollectorUnderTest(Path(tmp), "--ingest-workers", "2")
        try:
            send_all(collector.port, make_bodies(4), 2)
            for i in range(blocks):
                block = bodies[i * share:(i + 1) * share]
                started = time.perf_counter()
                ok, _ = send_all(collector.port, block, senders=16)
                if ok != len(block):
                    raise RuntimeError("not every batch was acknowledged")
                rate = len(block) * SPANS_PER_BATCH / (time.perf_counter() - started)
                out.append((i * share * SPANS_PER_BATCH, rate))
        finally:
            collector.stop()
    return out


def run(bootstrap: str, quick: bool = False) -> list[Result]:
    batches = 40 if quick else 300
    bodies = make_bodies(batches)
    parse_rate = _rate(ExportTraceServiceRequest.FromString, bodies)
    decode_rate = _rate(lambda b: decode_traces(b, "application/x-protobuf"), bodies)
    store_spans_s, store_cpu = store_rate(bodies)
    results = [
        Result("raw protobuf parse (baseline)", parse_rate, "spans/s"),
        Result("parse + flatten + normalise", decode_rate, "spans/s", "raw protobuf parse", parse_rate),
        Result("parse + flatten + normalise CPU", _cpu_per_span(
            lambda b: decode_traces(b, "application/x-protobuf"), bodies), "µs/span"),
        Result("SQLite write_spans alone, 4,096-span transactions (in-process)", store_spans_s, "spans/s"),
        Result("SQLite write_spans alone CPU", store_cpu, "µs/span"),
    ]
    paired = make_bodies(batches, paired=True)
    best = 0.0
    goal = "≥ 50,000 spans/s"
    for shape, shape_bodies in (("unpaired", bodies), ("paired", paired)):
        for workers, senders in ((0, 4), (2, 4), (2, 16), (2, 64)):
            if shape == "unpaired" and senders == 64:
                continue
            # The headline (paired spans, the workers, 16 senders) runs three times: on a shared 2-vCPU machine
            # single runs of a few seconds vary by ±10%, so its median is the figure.
            repeats = 3 if (shape, workers, senders) == ("paired", 2, 16) and not quick else 1
            runs = sorted((end_to_end(shape_bodies, workers, senders) for _ in range(repeats)),
                          key=lambda run: run[0])
            rate, cpu, refused = runs[len(runs) // 2]
            best = max(best, rate)
            where = "in process" if not workers else f"{workers} ingest workers"
            label = f"{shape} spans, {where}, {senders} senders"
            spread = (f" (median of {repeats} runs: " + ", ".join(f"{r[0]:,.0f}" for r in runs) + ")"
                      if repeats > 1 else "")
            results += [
                Result(f"end-to-end ingest, OTLP/HTTP → SQLite committed, {label}{spread}", rate, "spans/s",
                       "raw protobuf parse", parse_rate, goal=goal),
                Result(f"collector CPU per span (process + workers), {label}", cpu, "µs/span"),
                Result(f"requests refused and retried (429), {label}", refused, "requests"),
            ]
    blocks = sustained(make_bodies(2 if quick else 4 * batches, paired=True), 2 if quick else 4)
    results += [Result(f"sustained ingest, paired spans, 2 ingest workers, 16 senders: block {i + 1} of "
                       f"{len(blocks)} ({stored:,} spans stored before it)", rate, "spans/s",
                       "first block", blocks[0][1]) for i, (stored, rate) in enumerate(blocks)]
    results += postgres_results(paired, best)
    with tempfile.TemporaryDirectory(prefix="eventlens-bench-overload-") as tmp:
        collector = CollectorUnderTest(Path(tmp), "--queue-spans", "4096")
        try:
            idle = collector.rss_mib()
            duration = 8 if quick else 30
            ok, refused = send_all(collector.port, bodies[:50], senders=48, retry=False,
                                   until=time.monotonic() + duration)
            peak = collector.rss_mib("VmHWM")
        finally:
            collector.stop()
        results += [
            Result(f"peak RSS under {duration} s overload (48 senders, queue 4,096 spans)", peak, "MiB",
                   "idle RSS after start", idle),
            Result("overload: acknowledged / refused requests", ok, f"ok (refused {refused})"),
        ]
    return results
