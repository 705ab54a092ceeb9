"""The collector's HTTP API on a real SQLite store, with the analysis and lag parts' routes mounted."""

from __future__ import annotations

import pytest
import requests
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from otlp_builders import body, span

from eventlens.collector.config import CollectorConfig
from eventlens.collector.service import Collector

PB = {"Content-Type": "application/x-protobuf"}


@pytest.fixture
def url(tmp_path):
    c = Collector(CollectorConfig.from_env({}, store=f"sqlite:///{tmp_path / 's.db'}", http_port=0,
                                           grpc_port=-1)).start()
    yield f"http://127.0.0.1:{c.http_port}"
    c.stop()


def test_spans_found_by_key_and_offset(url):
    """Spans stored through OTLP/HTTP are found by message key and by topic/partition/offset."""
    attrs = {"messaging.system": "kafka", "messaging.destination.name": "orders",
             "messaging.destination.partition.id": "2", "messaging.kafka.offset": 9,
             "messaging.kafka.message.key": "o-1"}
    assert requests.post(f"{url}/v1/traces", data=body([span("send orders", Span.SPAN_KIND_PRODUCER, attrs)], "shop"),
                         headers=PB, timeout=30).status_code == 200
    by_key = requests.get(f"{url}/api/spans", params={"key": "o-1"}, timeout=30).json()["spans"]
    by_offset = requests.get(f"{url}/api/spans", params={"topic": "orders", "partition": 2, "offset": 9},
                             timeout=30).json()["spans"]
    assert [s["name"] for s in by_key] == [s["name"] for s in by_offset] == ["send orders"]
    assert requests.get(f"{url}/api/services", timeout=30).json() == {"services": ["shop"]}


def test_analysis_and_lag_routes_are_mounted(url):
    """/api/topology and /api/lag answer on the collector's port and appear in the OpenAPI document."""
    assert requests.get(f"{url}/api/topology", timeout=30).status_code == 200
    assert requests.get(f"{url}/api/lag", timeout=30).status_code == 200
    paths = requests.get(f"{url}/api/openapi.json", timeout=30).json()["paths"]
    assert {"/api/topology", "/api/lag", "/api/lineage"} <= set(paths)
