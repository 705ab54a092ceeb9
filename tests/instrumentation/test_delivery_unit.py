"""Unit tests of the send wrapper's delivery handling, driving kafka-python's own Future by hand."""

from __future__ import annotations

from kafka.errors import KafkaTimeoutError
from kafka.future import Future
from kafka.producer.future import RecordMetadata
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from eventlens.instrumentation._kafka_python import make_send_wrapper
from eventlens.instrumentation._runtime import Options, Runtime


class _Producer:
    """Stands in for a KafkaProducer instance: only its config is read."""

    def __init__(self) -> None:
        self.config = {"bootstrap_servers": "127.0.0.1:9092", "client_id": "p"}


def _setup():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    runtime = Runtime.build(provider, None, Options(metrics=False))
    return exporter, make_send_wrapper(runtime)


def test_span_stays_open_until_ack_then_records_offset():
    """The send span is not finished before the ack; the ack adds offset and partition and ends it."""
    exporter, send = _setup()
    future = send(lambda *a, **k: Future(), _Producer(), ("orders", b"v"), {})
    assert exporter.get_finished_spans() == ()
    future.success(RecordMetadata("orders", 2, ("orders", 2), 41, 1_700_000_000_000, None, 0, 1, -1))
    (span,) = exporter.get_finished_spans()
    assert span.attributes["messaging.kafka.offset"] == 41
    assert span.attributes["messaging.destination.partition.id"] == "2"


def test_failed_future_marks_span_error():
    """A delivery future that fails ends the span with ERROR status and the error type."""
    exporter, send = _setup()
    future = send(lambda *a, **k: Future(), _Producer(), ("orders", b"v"), {})
    future.failure(KafkaTimeoutError("no ack"))
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "KafkaTimeoutError"


def test_positional_none_headers_are_replaced_by_a_list_with_traceparent():
    """`send(topic, value, key, None)` reaches kafka-python with a headers list holding the traceparent."""
    _exporter, send = _setup()
    seen = {}

    def wrapped(*args, **kwargs):
        seen["args"], seen["kwargs"] = args, kwargs
        return Future()

    send(wrapped, _Producer(), ("orders", b"v", b"k", None), {})
    headers = seen["args"][3]
    assert [k for k, _ in headers] == ["traceparent"]
    assert seen["kwargs"] == {}
