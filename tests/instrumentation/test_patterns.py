"""Outbox, retries, dead letters, request/reply, user event types, hooks, suppression and payload opt-in."""

from __future__ import annotations

import pytest
from instr_support import Otel, consume_each
from kafka import KafkaProducer
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation

from eventlens.instrumentation import capture_context, restore_context, send_context

pytestmark = pytest.mark.kafka


def _send(bootstrap: str, topic: str, value: bytes = b"v", headers=None) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    producer.send(topic, value, headers=headers).get(timeout=60)
    producer.close()


def _attrs(otel: Otel, name: str) -> dict:
    (span,) = otel.wait_spans(name, 1)
    return dict(span.attributes or {})


def test_outbox_relay_continues_captured_trace(kafka_bootstrap, topic_name, instrumented: Otel):
    """A send inside `restore_context(capture_context())` joins the captured trace and is marked outbox."""
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("place order") as request:
        row_context = capture_context()
    assert "traceparent" in row_context
    with restore_context(row_context):
        _send(kafka_bootstrap, topic_name)
    (span,) = instrumented.wait_spans(f"send {topic_name}", 1)
    assert span.context.trace_id == request.get_span_context().trace_id
    assert span.parent is not None and span.parent.span_id == request.get_span_context().span_id
    assert (span.attributes or {})["eventlens.outbox"] is True


def test_send_context_marks_retry_and_dead_letter(kafka_bootstrap, make_topic, instrumented: Otel):
    """Sends inside `send_context(...)` carry the retry attempt, or the dead-letter flag and reason."""
    retry, dlq = make_topic(1, "-retry"), make_topic(1, "-dlq")
    with send_context(retry_attempt=2):
        _send(kafka_bootstrap, retry)
    with send_context(dead_letter=True, reason="schema mismatch"):
        _send(kafka_bootstrap, dlq)
    assert _attrs(instrumented, f"send {retry}")["eventlens.retry.attempt"] == 2
    dead = _attrs(instrumented, f"send {dlq}")
    assert dead["eventlens.dead_letter"] is True
    assert dead["eventlens.dead_letter.reason"] == "schema mismatch"


def test_request_reply_headers_are_recorded(kafka_bootstrap, topic_name, instrumented: Otel):
    """`reply-to` and `correlation-id` headers are recorded on send and process spans."""
    _send(kafka_bootstrap, topic_name, headers=[("reply-to", b"replies"), ("correlation-id", b"c-42")])
    consume_each(kafka_bootstrap, topic_name, 1, lambda _r: None)
    for name in (f"send {topic_name}", f"process {topic_name}"):
        attrs = _attrs(instrumented, name)
        assert attrs["eventlens.correlation_id"] == "c-42"
        assert attrs["eventlens.reply_to"] == "replies"


def test_event_type_from_user_function(kafka_bootstrap, topic_name, instrument):
    """`event_type_getter(record)` names the event type on send and process spans."""
    otel = instrument(event_type_getter=lambda record: "OrderPlaced" if record.value == b"v" else None)
    _send(kafka_bootstrap, topic_name)
    consume_each(kafka_bootstrap, topic_name, 1, lambda _r: None)
    assert _attrs(otel, f"send {topic_name}")["eventlens.event.type"] == "OrderPlaced"
    assert _attrs(otel, f"process {topic_name}")["eventlens.event.type"] == "OrderPlaced"


def test_failing_hooks_and_getters_never_reach_user_code(kafka_bootstrap, topic_name, instrument):
    """Hooks and the event type getter that raise are logged, and sends and consumption go on."""

    def boom(*_args):
        raise RuntimeError("hook failure")

    otel = instrument(produce_hook=boom, consume_hook=boom, event_type_getter=boom)
    _send(kafka_bootstrap, topic_name)
    (record,) = consume_each(kafka_bootstrap, topic_name, 1, lambda _r: None)
    assert record.value == b"v"
    assert otel.wait_spans(f"process {topic_name}", 1)


def test_hooks_receive_span_and_record(kafka_bootstrap, topic_name, instrument):
    """`produce_hook(span, args, kwargs)` and `consume_hook(span, record, args, kwargs)` can add attributes."""
    otel = instrument(produce_hook=lambda span, args, kwargs: span.set_attribute("app.topic", args[0]),
                      consume_hook=lambda span, record, args, kwargs: span.set_attribute("app.off", record.offset))
    _send(kafka_bootstrap, topic_name)
    consume_each(kafka_bootstrap, topic_name, 1, lambda _r: None)
    assert _attrs(otel, f"send {topic_name}")["app.topic"] == topic_name
    assert _attrs(otel, f"process {topic_name}")["app.off"] == 0


def test_suppress_instrumentation_is_honoured(kafka_bootstrap, topic_name, instrumented: Otel):
    """Inside `suppress_instrumentation()` sends make no span and inject no header."""
    with suppress_instrumentation():
        _send(kafka_bootstrap, topic_name)
    (record,) = consume_each(kafka_bootstrap, topic_name, 1, lambda _r: None)
    assert record.headers == []
    assert instrumented.spans(f"send {topic_name}") == []


def test_payload_recorded_only_when_opted_in(kafka_bootstrap, make_topic, instrument):
    """Without `capture_payload=True` no payload is recorded; with it, a truncated copy is."""
    plain, opted = make_topic(1, "-plain"), make_topic(1, "-opted")
    otel = instrument()
    _send(kafka_bootstrap, plain, b"secret")
    assert "eventlens.payload" not in _attrs(otel, f"send {plain}")
    otel = instrument(capture_payload=True)
    _send(kafka_bootstrap, opted, b"secret")
    assert _attrs(otel, f"send {opted}")["eventlens.payload"] == "secret"


def test_schema_registry_fingerprint_on_process_span(kafka_bootstrap, topic_name, instrumented: Otel):
    """A Confluent-framed payload gets `sr:<id>` as its schema fingerprint."""
    _send(kafka_bootstrap, topic_name, b"\x00\x00\x00\x00\x05avro-bytes")
    consume_each(kafka_bootstrap, topic_name, 1, lambda _r: None)
    assert _attrs(instrumented, f"process {topic_name}")["eventlens.schema.fingerprint"] == "sr:5"
