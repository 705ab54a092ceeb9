"""A slowloris attacker (idle sockets and half-sent bodies, reopened as the server drops them) and a real OTLP
exporter loop, shared by the slowloris test and `bench/bench_slowloris.py`."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

HALF_SENT = (b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n"
             b"Content-Length: 1000000\r\n\r\n\n\x00")


class Slowloris:
    """Keeps `idle` silent sockets and `half_sent` stalled uploads open against an HTTP port (and `grpc_idle`
    silent sockets against a gRPC port), reopening whatever the server closes, until stopped."""

    def __init__(self, http_port: int, *, idle: int = 1000, half_sent: int = 1000, grpc_port: int | None = None,
                 grpc_idle: int = 0) -> None:
        self.targets = [(http_port, b"")] * idle + [(http_port, HALF_SENT)] * half_sent
        if grpc_port is not None:
            self.targets += [(grpc_port, b"")] * grpc_idle
        self.socks: list[socket.socket | None] = [None] * len(self.targets)
        self.opened = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slowloris", daemon=True)

    def start(self) -> Slowloris:
        """Open every socket once (so the load is in place when this returns), then keep them open."""
        self._sweep()
        self._thread.start()
        return self

    def _open(self, i: int) -> None:
        port, first = self.targets[i]
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.setblocking(False)
            if first:
                sock.send(first)
        except OSError:
            return
        self.socks[i] = sock
        self.opened += 1

    def _closed(self, sock: socket.socket) -> bool:
        try:
            return sock.recv(65536) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def _sweep(self) -> None:
        for i, sock in enumerate(self.socks):
            if self._stop.is_set():
                return
            if sock is not None and self._closed(sock):
                sock.close()
                self.socks[i] = None
            if self.socks[i] is None:
                self._open(i)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self._sweep()

    def stop(self) -> None:
        """Stop reopening and close every socket."""
        self._stop.set()
        self._thread.join(30)
        for sock in self.socks:
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()


def make_spans(n: int, service: str) -> list[ReadableSpan]:
    """`n` finished SDK spans of one service (what an application's tracer hands its exporter)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("slowloris")
    for i in range(n):
        with tracer.start_as_current_span(f"send orders-{i % 7}"):
            pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def export_loop(exporter: SpanExporter, service: str, *, seconds: float, batch: int = 20,
                pause_s: float = 0.02, stop: Callable[[], bool] = lambda: False) -> tuple[int, int, list[float]]:
    """Export batches for `seconds`: (spans acknowledged, failed exports, each export's latency in seconds)."""
    acked, failed, latencies = 0, 0, []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not stop():
        spans = make_spans(batch, service)
        started = time.perf_counter()
        result = exporter.export(spans)
        latencies.append(time.perf_counter() - started)
        if result is SpanExportResult.SUCCESS:
            acked += len(spans)
        else:
            failed += 1
        time.sleep(pause_s)
    return acked, failed, latencies


def main(argv: list[str]) -> None:
    """`python slowloris.py PORT IDLE HALF_SENT`: attack until stdin closes (prints `ready` once in place)."""
    import sys

    port, idle, half_sent = (int(a) for a in argv)
    attack = Slowloris(port, idle=idle, half_sent=half_sent).start()
    print("ready", flush=True)
    sys.stdin.read()
    attack.stop()


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
