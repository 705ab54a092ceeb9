"""Collector ingest: OTLP/HTTP protobuf batches of 512 spans → committed in SQLite, one collector process.

The collector runs as its own process (`python -m eventlens.cli collector`, SQLite store in a temporary folder);
this process is the sender (keep-alive connections on a few threads, retrying 429/503 after Retry-After). The
figure is spans acknowledged per second of wall time: a 200 means the spans are committed. In the same run:
the raw protobuf parse of the same bodies (baseline), parse + flatten + normalise (`decode_traces`), the
collector's CPU per span, and the collector's peak RSS under a sustained overload (many more senders than the
store can keep up with, so the bounded queue answers 429).
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
from pathlib import Path

from eventlens.collector.otlp import decode_traces
from eventlens.collector.storage.api import open_store
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from bench._common import Result

SPANS_PER_BATCH = 512
_LISTENING = re.compile(rb"listening http=(\d+)")


def _kv(key: str, value: str | int) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(int_value=value) if isinstance(value, int) else AnyValue(
        string_value=value))


def make_bodies(count: int) -> list[bytes]:
    """`count` ExportTraceServiceRequest bodies of 512 spans: alternating send/process spans with the attributes
    eventlens emits (about 12 per span), unique ids."""
    bodies = []
    for b in range(count):
        req = ExportTraceServiceRequest()
        rs = req.resource_spans.add()
        rs.resource.attributes.extend([_kv("service.name", f"svc-{b % 5}"), _kv("telemetry.sdk.language", "python"),
                                       _kv("service.version", "1.0.0")])
        ss = rs.scope_spans.add()
        ss.scope.name = "eventlens.instrumentation"
        for i in range(SPANS_PER_BATCH):
            n = b * SPANS_PER_BATCH + i
            process = i % 2 == 1
            s = ss.spans.add()
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

    def __init__(self, workdir: Path, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "eventlens.cli", "collector", "--store", f"sqlite:///{workdir / 'bench.db'}",
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
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

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


def store_rate(bodies: list[bytes]) -> float:
    """Spans per second `SQLiteStore.write_spans` commits on its own (decoded spans, 8 bodies per call)."""
    decoded = [decode_traces(b, "application/x-protobuf") for b in bodies]
    with tempfile.TemporaryDirectory(prefix="eventlens-bench-store-") as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'store.db'}")
        try:
            started = time.perf_counter()
            for i in range(0, len(decoded), 8):
                store.write_spans([s for batch in decoded[i:i + 8] for s in batch])
            return len(bodies) * SPANS_PER_BATCH / (time.perf_counter() - started)
        finally:
            store.close()


def run(bootstrap: str, quick: bool = False) -> list[Result]:
    batches = 40 if quick else 300
    bodies = make_bodies(batches)
    spans = batches * SPANS_PER_BATCH
    parse_rate = _rate(ExportTraceServiceRequest.FromString, bodies)
    decode_rate = _rate(lambda b: decode_traces(b, "application/x-protobuf"), bodies)
    results = [
        Result("raw protobuf parse (baseline)", parse_rate, "spans/s"),
        Result("parse + flatten + normalise", decode_rate, "spans/s", "raw protobuf parse", parse_rate),
        Result("SQLite write_spans alone, 4,096-span transactions (in-process)", store_rate(bodies), "spans/s"),
    ]
    with tempfile.TemporaryDirectory(prefix="eventlens-bench-ingest-") as tmp:
        collector = CollectorUnderTest(Path(tmp))
        try:
            send_all(collector.port, make_bodies(4), 2)  # warm up: connections, tables, caches
            cpu0, started = collector.cpu_seconds(), time.perf_counter()
            ok, refused = send_all(collector.port, bodies, senders=4)
            wall = time.perf_counter() - started
            cpu = collector.cpu_seconds() - cpu0
        finally:
            collector.stop()
        if ok != batches:
            raise RuntimeError(f"only {ok} of {batches} batches acknowledged")
        results += [
            Result("end-to-end ingest, OTLP/HTTP → SQLite committed", spans / wall, "spans/s",
                   "raw protobuf parse", parse_rate, goal="≥ 50,000 spans/s"),
            Result("collector CPU per span", cpu / spans * 1e6, "µs/span"),
            Result("requests refused and retried (429) during the run", refused, "requests"),
        ]
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
