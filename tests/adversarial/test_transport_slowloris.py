"""Slowloris against a real collector: 1,000 idle connections and 1,000 half-sent bodies while the real OTLP
exporters (HTTP and gRPC) keep sending. Every export succeeds and every acknowledged span is stored."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from slowloris import Slowloris, export_loop
from transport_harness import collector

pytestmark = pytest.mark.slow


def _stored(url: str, service: str) -> int:
    answer = requests.get(f"{url}/api/spans", params={"service": service, "limit": 10000}, timeout=30)
    answer.raise_for_status()
    return len(answer.json()["spans"])


def test_exporters_keep_succeeding_and_every_acknowledged_span_is_stored_under_slowloris(tmp_path: Path) -> None:
    """2,000 slow HTTP connections (and 200 silent gRPC ones): the HTTP and gRPC exporters' requests succeed."""
    with collector(tmp_path) as proc:
        attack = Slowloris(proc.http_port or 0, idle=1000, half_sent=1000, grpc_port=proc.grpc_port,
                           grpc_idle=200).start()
        results: dict[str, tuple[int, int, list[float]]] = {}
        try:
            http = HttpExporter(endpoint=f"{proc.url}/v1/traces", timeout=10)
            grpc = GrpcExporter(endpoint=f"127.0.0.1:{proc.grpc_port}", insecure=True, timeout=10)
            threads = [threading.Thread(target=lambda: results.__setitem__(
                "http", export_loop(http, "slowloris-http", seconds=8))),
                threading.Thread(target=lambda: results.__setitem__(
                    "grpc", export_loop(grpc, "slowloris-grpc", seconds=8)))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            http.shutdown()
            grpc.shutdown()
        finally:
            attack.stop()
        assert attack.opened >= 2200
        for service, (acked, failed, _latencies) in (("slowloris-http", results["http"]),
                                                    ("slowloris-grpc", results["grpc"])):
            assert failed == 0, service
            assert acked >= 200, (service, acked)
            assert _stored(proc.url, service) == acked, service
