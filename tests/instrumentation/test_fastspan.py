"""eventlens' own spans: when they are used, and that they export the same OTLP content as SDK spans."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from instr_support import new_consumer, poll_all
from kafka import KafkaProducer
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as standard_encode
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState
from otlp_sink import otlp_sink

from eventlens.instrumentation import KafkaInstrumentor, processing
from eventlens.instrumentation._fastspan import BaseAttributes, FastSink, FastSpan
from eventlens.instrumentation._otlp_encode import encode_spans
from eventlens.instrumentation.exporter import FastOTLPSpanExporter
from eventlens.instrumentation.instrumentor import active_runtime


class Capture(SpanExporter):  # type: ignore[misc]
    """Keeps the OTLP bytes eventlens' encoder writes for each batch; takes eventlens spans when `fast`."""

    def __init__(self, fast: bool) -> None:
        self.eventlens_fast_spans = fast
        self.bodies: list[bytes] = []
        self.lock = threading.Lock()

    def export(self, spans: Any) -> SpanExportResult:
        with self.lock:
            self.bodies.append(encode_spans(spans))
        return SpanExportResult.SUCCESS

    def spans(self) -> list[tuple[Any, Any, Any]]:
        """(resource, scope, span) protobuf messages of everything exported."""
        with self.lock:
            bodies = list(self.bodies)
        out = []
        for body in bodies:
            for rs in ExportTraceServiceRequest.FromString(body).resource_spans:
                for ss in rs.scope_spans:
                    out.extend((rs.resource, ss.scope, span) for span in ss.spans)
        return out


def _provider(exporter: SpanExporter, batch: bool = False, **kwargs: Any) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": "fast-test"}), **kwargs)
    provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
    return provider


def _tracer(provider: TracerProvider) -> Any:
    return provider.get_tracer("eventlens.instrumentation", "1", schema_url="https://opentelemetry.io/schemas/1.44.0")


def test_sink_is_used_only_for_a_lone_processor_feeding_an_exporter_that_takes_eventlens_spans():
    """eventlens records its own spans only when the provider's one processor feeds such an exporter."""
    assert FastSink.for_tracer(_tracer(_provider(Capture(fast=True)))) is not None
    assert FastSink.for_tracer(_tracer(_provider(Capture(fast=True), batch=True))) is not None
    assert FastSink.for_tracer(_tracer(_provider(Capture(fast=False)))) is None
    assert FastSink.for_tracer(_tracer(_provider(InMemorySpanExporter()))) is None
    two = _provider(Capture(fast=True))
    two.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    assert FastSink.for_tracer(_tracer(two)) is None
    limited = _provider(Capture(fast=True), span_limits=SpanLimits(max_span_attribute_length=10))
    assert FastSink.for_tracer(_tracer(limited)) is None


def test_sink_stops_being_used_when_a_processor_is_added_later():
    """A processor added after instrumenting makes eventlens go back to SDK spans (it must see them too)."""
    provider = _provider(Capture(fast=True))
    sink = FastSink.for_tracer(_tracer(provider))
    assert sink is not None and sink.usable()
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    assert not sink.usable()


def _full_fast_span() -> FastSpan:
    """A FastSpan using every field: parent, trace state, links, user attributes, events, error status."""
    exporter = Capture(fast=True)
    sink = FastSink.for_tracer(_tracer(_provider(exporter)))
    assert sink is not None
    parent = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1),
                         trace_state=TraceState([("rojo", "00f067aa0ba902b7")]))
    span = FastSpan(sink, "send orders", SpanKind.PRODUCER, (0xABC, 0x123, 1, parent.trace_state), parent,
                    {"messaging.system": "kafka", "i": -5, "big": 2**62, "f": 0.25, "b": False},
                    [Link(parent, {"messaging.kafka.offset": 7})])
    span.set_attribute("arr", ["a", "b"])
    span.add_event("retry", {"attempt": 2})
    span.record_exception(ValueError("bad"))
    span.set_status(Status(StatusCode.ERROR, "broker said no"))
    span.end()
    return span


def test_fast_span_encodes_to_the_standard_exporters_message_for_the_same_span():
    """eventlens' encoding of a FastSpan equals the standard OTLP encoder's message for the same span."""
    span = _full_fast_span()
    assert ExportTraceServiceRequest.FromString(encode_spans([span])) == standard_encode([span.to_readable()])


def _sink() -> FastSink:
    sink = FastSink.for_tracer(_tracer(_provider(Capture(fast=True))))
    assert sink is not None
    return sink


def test_shared_attributes_encode_once_and_come_first():
    """Spans sharing a client's and topic's attributes encode them (cached) ahead of their own."""
    base = BaseAttributes({"messaging.system": "kafka", "server.port": 9092})
    sink = _sink()
    spans = []
    for i in range(2):
        span = FastSpan(sink, "process orders", SpanKind.CONSUMER, (0xABC, 0x200 + i, 1, None), None,
                        {"messaging.kafka.offset": i}, None, None, base)
        span.end()
        spans.append(span)
    decoded = ExportTraceServiceRequest.FromString(encode_spans(spans))
    assert decoded == standard_encode([s.to_readable() for s in spans])
    assert [a.key for a in decoded.resource_spans[0].scope_spans[0].spans[1].attributes] == [
        "messaging.system", "server.port", "messaging.kafka.offset"]
    assert base.encoded is not None


def test_user_attribute_overrides_a_shared_one_without_duplicating_it():
    """A hook setting a key the shared attributes hold replaces its value (moved last, as the SDK does); once."""
    base = BaseAttributes({"messaging.system": "kafka", "server.address": "a"})
    span = FastSpan(_sink(), "send orders", SpanKind.PRODUCER, (0xABC, 0x300, 1, None), None, {"k": 1}, None,
                    None, base)
    span.set_attribute("server.address", "b")
    span.end()
    (decoded,) = ExportTraceServiceRequest.FromString(encode_spans([span])).resource_spans[0].scope_spans[0].spans
    assert [(a.key, a.value.string_value or a.value.int_value) for a in decoded.attributes] == [
        ("messaging.system", "kafka"), ("k", 1), ("server.address", "b")]
    assert base.values["server.address"] == "a"  # the shared set is untouched


def test_fast_span_follows_sdk_span_rules_after_end():
    """After `end()` a FastSpan stops recording and ignores changes, as an SDK span does."""
    span = _full_fast_span()
    assert not span.is_recording()
    span.set_attribute("late", 1)
    span.update_name("renamed")
    span.end()
    assert "late" not in span.attributes and span.name == "send orders"


def _normalised(exported: list[tuple[Any, Any, Any]]) -> list[tuple[Any, ...]]:
    """Span content without what differs between two runs (ids, times, offsets, lag, sizes of keys)."""
    volatile = {"messaging.kafka.offset", "eventlens.record.timestamp_ms", "eventlens.lag.seconds",
                "eventlens.lag.offsets", "messaging.destination.name", "messaging.consumer.group.name",
                "server.port", "messaging.client.id"}
    out = []
    for resource, scope, span in exported:
        attrs = sorted((a.key, str(a.value)) for a in span.attributes if a.key not in volatile)
        events = [(e.name, sorted(a.key for a in e.attributes)) for e in span.events]
        links = [sorted(a.key for a in link.attributes if a.key not in volatile) for link in span.links]
        out.append((span.name.split(" ")[0], span.kind, attrs, events, links, bool(span.parent_span_id),
                    span.flags, span.status.code, span.status.message, len(span.trace_state) > 0,
                    str(resource), scope.name, scope.version))
    return sorted(out, key=repr)


def _scenario(bootstrap: str, make_topic: Any, fast: bool) -> list[tuple[Any, ...]]:
    """Send, consume with the iterator and send from the handler, poll and fail inside `processing`."""
    exporter = Capture(fast)
    provider = _provider(exporter)
    instrumentor = KafkaInstrumentor()
    instrumentor.instrument(tracer_provider=provider, metrics=False)
    try:
        runtime = active_runtime()
        assert runtime is not None and (runtime.sink is not None) == fast
        first, second = make_topic(), make_topic()
        producer = KafkaProducer(bootstrap_servers=bootstrap, client_id="p")
        producer.send(first, b'{"a": 1}', key=b"k1", headers=[("ce_type", b"order.placed"),
                                                                ("correlation-id", b"c-1")]).get(timeout=60)
        consumer = new_consumer(bootstrap, first, client_id="c")
        for _record in consumer:
            producer.send(second, b'{"b": 2}', key=b"k2").get(timeout=60)
            break
        consumer.close()
        poller = new_consumer(bootstrap, second, client_id="c")
        for batch in poll_all(poller, 1):
            for records in batch.values():
                for record in records:
                    with pytest.raises(RuntimeError), processing(record, poller):
                        raise RuntimeError("handler failed")
        poller.close()
        producer.close()
        deadline = time.monotonic() + 60
        while len(exporter.spans()) < 5 and time.monotonic() < deadline:  # 2 send, poll, 2 process
            time.sleep(0.05)
        return _normalised(exporter.spans())
    finally:
        instrumentor.uninstrument()
        provider.shutdown()


@pytest.mark.kafka
def test_fast_path_exports_the_same_otlp_content_as_the_sdk_path(kafka_bootstrap, make_topic):
    """Names, kinds, attributes, links, parents, flags, status, error events and resource match both ways."""
    sdk = _scenario(kafka_bootstrap, make_topic, fast=False)
    fast = _scenario(kafka_bootstrap, make_topic, fast=True)
    assert sorted(s[0] for s in sdk) == ["poll", "process", "process", "send", "send"]
    assert fast == sdk


@pytest.mark.kafka
def test_provider_force_flush_exports_eventlens_spans_over_otlp(kafka_bootstrap, topic_name):
    """With a batch processor and eventlens' OTLP exporter, the provider's force_flush sends eventlens' spans."""
    with otlp_sink() as sink:
        provider = _provider(FastOTLPSpanExporter(endpoint=f"{sink.endpoint}/v1/traces"), batch=True)
        instrumentor = KafkaInstrumentor()
        instrumentor.instrument(tracer_provider=provider, metrics=False)
        try:
            runtime = active_runtime()
            assert runtime is not None and runtime.sink is not None
            producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
            for i in range(3):
                producer.send(topic_name, b"v%d" % i)
            producer.flush(timeout=60)
            producer.close()
            assert provider.force_flush(60_000)
            assert sink.spans() == [("fast-test", f"send {topic_name}")] * 3
        finally:
            instrumentor.uninstrument()
            provider.shutdown()
