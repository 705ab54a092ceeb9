"""Hostile headers against the instrumentation, on the real broker: every header value copied into a span
attribute is capped, and no oversized header is ever logged whole.

Both ways of recording spans are checked: through the SDK, and as eventlens' own spans (an exporter that
declares `eventlens_fast_spans`). The providers are this module's own (not the global one).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from eventlens.instrumentation import KafkaInstrumentor, attributes
from eventlens.instrumentation._fastspan import FastSpan

pytestmark = pytest.mark.kafka

CAP = 256
BIG = 200_000
"""A header value far over any cap (five of them stay under the broker's 1 MB record limit)."""
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class _Exporter(InMemorySpanExporter):  # type: ignore[misc]
    """In-memory exporter; with `eventlens_fast_spans` it takes eventlens' own spans (stored as ReadableSpan)."""

    eventlens_fast_spans = False

    def export(self, spans: Any) -> SpanExportResult:
        return super().export([s.to_readable() if isinstance(s, FastSpan) else s for s in spans])


@pytest.fixture(params=["sdk", "fast"])
def spans(request: pytest.FixtureRequest) -> Iterator[_Exporter]:
    """kafka-python instrumented for this test on a provider of its own; yields the exporter."""
    exporter = _Exporter()
    exporter.eventlens_fast_spans = request.param == "fast"
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = KafkaInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    instrumentor.instrument(tracer_provider=provider, metrics=False)
    from eventlens.instrumentation.instrumentor import active_runtime

    runtime = active_runtime()
    assert runtime is not None and (runtime.sink is not None) == (request.param == "fast")
    yield exporter
    instrumentor.uninstrument()
    provider.shutdown()


def _hostile_headers(fill: str = "x") -> list[tuple[str, bytes | None]]:
    return [(name, (fill * (BIG // len(fill.encode()))).encode()) for name in
            ("correlation-id", "reply-to", "ce_id", "ce_type", "ce_source")]


def _capped(span: ReadableSpan, *keys: str) -> None:
    attrs = span.attributes or {}
    for key in keys:
        assert key in attrs, f"{key} missing from {span.name}"
        assert len(str(attrs[key])) == CAP, f"{key} on {span.name} has {len(str(attrs[key]))} chars"


_HEADER_KEYS = (attributes.CORRELATION_ID, "messaging.message.conversation_id", attributes.REPLY_TO,
                attributes.CLOUDEVENTS_EVENT_ID, attributes.CLOUDEVENTS_EVENT_TYPE, attributes.CLOUDEVENTS_EVENT_SOURCE)


def _consume(bootstrap: str, topic: str, n: int) -> list[Any]:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             group_id=f"g-{uuid.uuid4().hex[:8]}", consumer_timeout_ms=60_000)
    seen: list[Any] = []
    try:
        for record in consumer:
            seen.append(record)
            if len(seen) >= n:
                break
    finally:
        consumer.close()
    assert len(seen) == n
    return seen


def _raw_send(bootstrap: str, topic: str, value: bytes, headers: list[tuple[str, bytes | None]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, max_request_size=4 << 20)
    try:
        with suppress_instrumentation():
            producer.send(topic, value, headers=headers).get(timeout=60)
    finally:
        producer.close()


def test_send_span_caps_every_header_value_it_copies(spans: _Exporter, kafka_bootstrap: str,
                                                     topic_name: str) -> None:
    """A send with 200 kB correlation-id, reply-to and ce_* headers records each as 256 characters."""
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, max_request_size=4 << 20)
    producer.send(topic_name, b"v", headers=_hostile_headers()).get(timeout=60)
    producer.close()
    (span,) = [s for s in spans.get_finished_spans() if s.name == f"send {topic_name}"]
    _capped(span, *_HEADER_KEYS)


def test_process_span_caps_every_header_value_it_copies(spans: _Exporter, kafka_bootstrap: str,
                                                        topic_name: str) -> None:
    """A consumed record with 200 kB request/reply and binary CloudEvents headers gets capped attributes."""
    _raw_send(kafka_bootstrap, topic_name, b"v", _hostile_headers("é"))
    _consume(kafka_bootstrap, topic_name, 1)
    (span,) = [s for s in spans.get_finished_spans() if s.name == f"process {topic_name}"]
    _capped(span, *_HEADER_KEYS)
    assert (span.attributes or {})[attributes.CORRELATION_ID] == "é" * CAP


def test_structured_cloudevent_fields_are_capped(spans: _Exporter, kafka_bootstrap: str, topic_name: str) -> None:
    """A structured-mode CloudEvent with a 200 kB id and type records both capped."""
    event = {"specversion": "1.0", "id": "i" * BIG, "type": "t" * BIG, "source": "/s"}
    _raw_send(kafka_bootstrap, topic_name, json.dumps(event).encode(),
              [("content-type", b"application/cloudevents+json")])
    _consume(kafka_bootstrap, topic_name, 1)
    (span,) = [s for s in spans.get_finished_spans() if s.name == f"process {topic_name}"]
    _capped(span, attributes.CLOUDEVENTS_EVENT_ID, attributes.CLOUDEVENTS_EVENT_TYPE)


def test_oversized_baggage_is_never_logged_whole(spans: _Exporter, kafka_bootstrap: str, topic_name: str,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    """Three records with a 300 kB baggage header: OpenTelemetry and eventlens log at most a short line, and
    each process span keeps its parent."""
    caplog.set_level(logging.DEBUG, logger="opentelemetry")
    caplog.set_level(logging.DEBUG, logger="eventlens")
    baggage = ("k=" + "v" * 300_000).encode()
    for _ in range(3):
        _raw_send(kafka_bootstrap, topic_name, b"v", [("traceparent", TRACEPARENT.encode()), ("baggage", baggage)])
    _consume(kafka_bootstrap, topic_name, 3)
    logged = sum(len(r.getMessage()) for r in caplog.records if r.name.startswith(("opentelemetry", "eventlens")))
    assert logged < 2_000, f"{logged} characters logged for three oversized baggage headers"
    processed = [s for s in spans.get_finished_spans() if s.name == f"process {topic_name}"]
    assert len(processed) == 3
    assert all(s.parent is not None and s.parent.span_id == 0xB7AD6B7169203331 for s in processed)


def test_baggage_within_the_limit_still_reaches_the_handler(spans: _Exporter, kafka_bootstrap: str,
                                                            topic_name: str) -> None:
    """The size check drops only oversized baggage: a normal header is still current while handling."""
    from opentelemetry import baggage

    _raw_send(kafka_bootstrap, topic_name, b"v",
              [("traceparent", TRACEPARENT.encode()), ("baggage", b"tenant=acme")])
    consumer = KafkaConsumer(topic_name, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest",
                             group_id=f"g-{uuid.uuid4().hex[:8]}", consumer_timeout_ms=60_000)
    try:
        seen = None
        for _record in consumer:
            seen = baggage.get_baggage("tenant")
            break
    finally:
        consumer.close()
    assert seen == "acme"
