"""The shared core's features through confluent-kafka: metrics, patterns, schema fingerprints, unsampled paths."""

from __future__ import annotations

import pytest
from confluent_support import TIMEOUT_S, consume_n, consumer, poll_one, produce_sync, producer
from instr_support import Otel
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from test_metrics import _total

from eventlens.instrumentation import ConfluentKafkaInstrumentor, capture_context, restore_context, send_context

pytestmark = pytest.mark.kafka


def test_unsampled_traces_still_count_every_message(kafka_bootstrap, topic_name, otel: Otel, cinstrument):
    """With traces sampled off, sent/consumed counters and duration histograms still see every message."""
    cinstrument()
    ConfluentKafkaInstrumentor().uninstrument()
    ConfluentKafkaInstrumentor().instrument(tracer_provider=TracerProvider(sampler=ALWAYS_OFF),
                                            meter_provider=otel.meter_provider)
    p = producer(kafka_bootstrap)
    delivered: list[object] = []
    for _ in range(5):
        p.produce(topic_name, b"v", on_delivery=lambda err, msg: delivered.append(err))
    p.flush(TIMEOUT_S)
    c = consumer(kafka_bootstrap, topic_name)
    msgs = [poll_one(c) for _ in range(5)]
    c.close()
    assert delivered == [None] * 5
    assert all(m.headers()[0][0] == "traceparent" for m in msgs)  # the context still travels, unsampled
    assert _total(otel, "messaging.client.sent.messages", topic_name) == 5
    assert _total(otel, "messaging.client.consumed.messages", topic_name) == 5
    assert _total(otel, "messaging.process.duration", topic_name) == 5


def test_consume_metrics_count_records(kafka_bootstrap, topic_name, cinstrumented: Otel):
    """consume() counts every record of its batches as consumed."""
    p = producer(kafka_bootstrap)
    for _ in range(3):
        p.produce(topic_name, b"v")
    p.flush(TIMEOUT_S)
    c = consumer(kafka_bootstrap, topic_name)
    consume_n(c, 3)
    c.close()
    assert _total(cinstrumented, "messaging.client.consumed.messages", topic_name) == 3
    assert _total(cinstrumented, "messaging.client.sent.messages", topic_name) == 3


def test_retry_and_dead_letter_marks(kafka_bootstrap, topic_name, cinstrumented: Otel):
    """Sends inside send_context(...) carry the retry attempt and the dead-letter marks."""
    p = producer(kafka_bootstrap)
    with send_context(retry_attempt=2):
        produce_sync(p, topic_name, b"retry")
    with send_context(dead_letter=True, reason="bad payload"):
        produce_sync(p, topic_name, b"dead")
    retry, dead = sorted(cinstrumented.spans(f"send {topic_name}"),
                         key=lambda s: dict(s.attributes or {})["messaging.kafka.offset"])
    assert dict(retry.attributes or {})["eventlens.retry.attempt"] == 2
    assert dict(dead.attributes or {})["eventlens.dead_letter"] is True
    assert dict(dead.attributes or {})["eventlens.dead_letter.reason"] == "bad payload"


def test_outbox_relay_joins_the_captured_trace(kafka_bootstrap, topic_name, cinstrumented: Otel):
    """A produce inside restore_context(carrier) joins the captured trace and is marked as an outbox relay."""
    tracer = cinstrumented.provider.get_tracer("test")
    with tracer.start_as_current_span("request") as request:
        carrier = capture_context()
    with restore_context(carrier):
        produce_sync(producer(kafka_bootstrap), topic_name)
    (send,) = cinstrumented.spans(f"send {topic_name}")
    assert send.context.trace_id == request.get_span_context().trace_id
    assert dict(send.attributes or {})["eventlens.outbox"] is True
    assert not trace.get_current_span().get_span_context().is_valid


def test_json_payload_gets_a_schema_fingerprint(kafka_bootstrap, topic_name, cinstrumented: Otel):
    """A JSON object value gets the same `json:` fingerprint on its send and process spans."""
    produce_sync(producer(kafka_bootstrap), topic_name, b'{"id": 1, "items": [{"sku": "a"}]}')
    c = consumer(kafka_bootstrap, topic_name)
    poll_one(c)
    c.close()
    (send,) = cinstrumented.spans(f"send {topic_name}")
    (process,) = cinstrumented.spans(f"process {topic_name}")
    fingerprint = dict(send.attributes or {})["eventlens.schema.fingerprint"]
    assert str(fingerprint).startswith("json:")
    assert dict(process.attributes or {})["eventlens.schema.fingerprint"] == fingerprint
