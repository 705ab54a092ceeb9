"""Real OpenTelemetry SDK OTLP exporters (HTTP and gRPC) → running collector → SQLite store."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, SpanKind, StatusCode

from eventlens.collector.config import CollectorConfig
from eventlens.collector.model import Operation
from eventlens.collector.model import SpanKind as Kind
from eventlens.collector.service import Collector
from eventlens.collector.storage.protocol import open_store


@pytest.fixture
def collector(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    c = Collector(CollectorConfig.from_env({}, store=url, http_port=0, grpc_port=0)).start()
    yield c, url
    c.stop()


def emit(exporter, service: str) -> tuple[str, str]:
    """A producer span and a consumer span parented on it, as a Kafka instrumentation would emit them."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("test.exporter")
    with tracer.start_as_current_span("send orders", kind=SpanKind.PRODUCER, attributes={
            "messaging.system": "kafka", "messaging.destination.name": "orders",
            "messaging.operation.type": "send", "messaging.kafka.message.key": "k-7",
            "messaging.destination.partition.id": "1", "messaging.kafka.offset": 41}) as send:
        ctx = send.get_span_context()
    with tracer.start_as_current_span("process orders", kind=SpanKind.CONSUMER, links=[Link(ctx)], attributes={
            "messaging.system": "kafka", "messaging.destination.name": "orders",
            "messaging.operation.type": "process", "messaging.consumer.group.name": "billing",
            "cloudevents.event_id": "evt-1"}) as proc:
        proc.set_status(StatusCode.ERROR, "failed to bill")
    assert provider.force_flush(30_000)
    provider.shutdown()
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def check_stored(url: str, trace_id: str, span_id: str, service: str) -> None:
    store = open_store(url)
    try:
        spans = {s.name: s for s in store.find_spans(service=service)}
        send, proc = spans["send orders"], spans["process orders"]
        assert (send.trace_id, send.span_id, send.kind) == (trace_id, span_id, Kind.PRODUCER)
        assert (send.messaging.operation, send.messaging.topic, send.messaging.key, send.messaging.partition,
                send.messaging.offset) == (Operation.SEND, "orders", "k-7", 1, 41)
        assert proc.kind is Kind.CONSUMER and proc.is_error and proc.status_message == "failed to bill"
        assert (proc.messaging.consumer_group, proc.messaging.event_id) == ("billing", "evt-1")
        assert [(link.trace_id, link.span_id) for link in proc.links] == [(trace_id, span_id)]
        assert proc.resource["service.name"] == service and proc.scope == "test.exporter"
    finally:
        store.close()


def test_http_exporter_spans_are_stored(collector):
    """The SDK's OTLP/HTTP protobuf exporter delivers spans that are stored with their messaging fields."""
    c, url = collector
    exporter = HttpExporter(endpoint=f"http://127.0.0.1:{c.http_port}/v1/traces")
    trace_id, span_id = emit(exporter, "http-shop")
    check_stored(url, trace_id, span_id, "http-shop")


def test_grpc_exporter_spans_are_stored(collector):
    """The SDK's OTLP/gRPC exporter delivers spans that are stored with their messaging fields."""
    c, url = collector
    exporter = GrpcExporter(endpoint=f"127.0.0.1:{c.grpc_port}", insecure=True)
    trace_id, span_id = emit(exporter, "grpc-shop")
    check_stored(url, trace_id, span_id, "grpc-shop")


def test_gzip_http_exporter_spans_are_stored(collector):
    """The HTTP exporter with gzip compression is accepted."""
    from opentelemetry.exporter.otlp.proto.http import Compression

    c, url = collector
    exporter = HttpExporter(endpoint=f"http://127.0.0.1:{c.http_port}/v1/traces", compression=Compression.Gzip)
    trace_id, span_id = emit(exporter, "gzip-shop")
    check_stored(url, trace_id, span_id, "gzip-shop")
