"""OTLP/gRPC receiver (in-memory store): Export stores and answers; overload and store errors are UNAVAILABLE."""

from __future__ import annotations

import threading
import time

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from otlp_builders import request, span

from eventlens.collector.config import CollectorConfig
from eventlens.collector.service import Collector
from eventlens.collector.storage.protocol import StoreError


@pytest.fixture
def grpc_collector(memory_store):
    started: list[Collector] = []

    def _make(**overrides):
        config = CollectorConfig.from_env({}, store="memory", http_port=-1, grpc_port=0, **overrides)
        c = Collector(config, store=memory_store).start()
        started.append(c)
        channel = grpc.insecure_channel(f"127.0.0.1:{c.grpc_port}")
        return c, trace_service_pb2_grpc.TraceServiceStub(channel), channel

    yield _make
    if memory_store.gate is not None:
        memory_store.gate.set()
    for c in started:
        c.stop()


def test_export_stores_spans(grpc_collector, memory_store):
    """TraceService/Export returns once the spans are in the store."""
    _, stub, _ = grpc_collector()
    answer = stub.Export(request([span("g1"), span("g2")]), timeout=30)
    assert not answer.HasField("partial_success")
    assert sorted(s.name for s in memory_store.spans.values()) == ["g1", "g2"]


def test_invalid_span_is_partial_success(grpc_collector, memory_store):
    """A span with an invalid id is reported as rejected, the rest stored."""
    _, stub, _ = grpc_collector()
    answer = stub.Export(request([span("ok"), span("bad", span_id=bytes(8))]), timeout=30)
    assert answer.partial_success.rejected_spans == 1 and memory_store.span_count() == 1


def test_store_error_is_unavailable(grpc_collector, memory_store):
    """A failing store answers UNAVAILABLE (retryable)."""
    memory_store.fail = StoreError("locked")
    _, stub, _ = grpc_collector()
    with pytest.raises(grpc.RpcError) as err:
        stub.Export(request([span()]), timeout=30)
    assert err.value.code() is grpc.StatusCode.UNAVAILABLE and "store error" in err.value.details()
    assert "locked" not in err.value.details() and "error id" in err.value.details()  # logged, never answered


def test_full_queue_is_unavailable(grpc_collector, memory_store):
    """When the queue is full, Export answers UNAVAILABLE at once."""
    memory_store.gate = threading.Event()
    c, stub, _ = grpc_collector(queue_spans=4)
    first = stub.Export.future(request([span()]), timeout=60)  # taken by the writer, which blocks
    deadline = time.monotonic() + 30
    while c.metrics.spans_received.labels("grpc")._value.get() < 1 or c.pipeline.queued_spans:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    second = stub.Export.future(request([span() for _ in range(4)]), timeout=60)
    while c.pipeline.queued_spans < 4:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    with pytest.raises(grpc.RpcError) as err:
        stub.Export(request([span()]), timeout=30)
    assert err.value.code() is grpc.StatusCode.UNAVAILABLE and "queue full" in err.value.details()
    memory_store.gate.set()
    first.result()
    second.result()
    assert memory_store.span_count() == 5


def test_token_is_checked(grpc_collector, memory_store):
    """With a token, a call without `authorization: Bearer …` metadata is UNAUTHENTICATED."""
    _, stub, _ = grpc_collector(token="tok")
    with pytest.raises(grpc.RpcError) as err:
        stub.Export(request([span()]), timeout=30)
    assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED
    stub.Export(request([span()]), timeout=30, metadata=[("authorization", "Bearer tok")])
    assert memory_store.span_count() == 1


def test_metrics_service_accepts_metrics(grpc_collector):
    """MetricsService/Export answers OK and counts data points."""
    c, _, channel = grpc_collector()
    req = ExportMetricsServiceRequest()
    metric = req.resource_metrics.add().scope_metrics.add().metrics.add()
    metric.name = "m"
    metric.gauge.data_points.add().as_int = 3
    metrics_service_pb2_grpc.MetricsServiceStub(channel).Export(req, timeout=30)
    assert c.metrics.metric_points.labels("grpc")._value.get() == 1
