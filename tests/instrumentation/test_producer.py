"""Producer side through the real broker: send spans, header injection rules, acknowledgement data."""

from __future__ import annotations

import pytest
from instr_support import Otel, consume_each
from kafka import KafkaProducer
from opentelemetry.sdk.trace import IdGenerator, TracerProvider
from opentelemetry.trace import SpanKind, StatusCode

from eventlens.instrumentation import KafkaInstrumentor

pytestmark = pytest.mark.kafka

T = "4bf92f3577b34da6a3ce929d0e0e4736"
S = "00f067aa0ba902b7"


class FixedIds(IdGenerator):
    """Always T and S, marked non-random so the flags stay `01`."""

    def generate_span_id(self) -> int:
        return int(S, 16)

    def generate_trace_id(self) -> int:
        return int(T, 16)

    def is_trace_id_random(self) -> bool:
        return False


def _received(bootstrap: str, topic: str, n: int = 1) -> list:
    return consume_each(bootstrap, topic, n, lambda _r: None)


def test_send_span_has_semconv_attributes_and_offset_from_ack(kafka_bootstrap, topic_name, instrumented: Otel):
    """A send creates `send {topic}` PRODUCER with v1.44 attributes; the offset arrives with the ack."""
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, client_id="p-1")
    meta = producer.send(topic_name, b'{"a": 1}', key=b"order-7").get(timeout=60)
    producer.close()
    (span,) = instrumented.wait_spans(f"send {topic_name}", 1)
    attrs = dict(span.attributes or {})
    assert span.kind is SpanKind.PRODUCER
    assert attrs["messaging.system"] == "kafka"
    assert attrs["messaging.destination.name"] == topic_name
    assert attrs["messaging.operation.name"] == "send"
    assert attrs["messaging.operation.type"] == "send"
    assert attrs["messaging.kafka.message.key"] == "order-7"
    assert attrs["messaging.kafka.offset"] == meta.offset
    assert attrs["messaging.destination.partition.id"] == str(meta.partition)
    assert attrs["messaging.message.body.size"] == 8
    assert attrs["messaging.client.id"] == "p-1"
    assert attrs["server.address"] == "127.0.0.1" or attrs["server.address"] == kafka_bootstrap.rsplit(":", 1)[0]
    assert attrs["server.port"] == int(kafka_bootstrap.rsplit(":", 1)[1])
    assert attrs["eventlens.schema.fingerprint"].startswith("json:")


def test_rejected_send_marks_span_error_and_reraises(kafka_bootstrap, instrumented: Otel):
    """A send kafka-python rejects raises its own error to the caller and ends the span with ERROR."""
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, max_block_ms=2000)
    with pytest.raises(ValueError, match="illegal"):
        producer.send("bad topic name!", b"x")
    producer.close()
    spans = instrumented.spans("send bad topic name!")
    assert len(spans) == 1
    assert spans[0].status.status_code is StatusCode.ERROR
    assert (spans[0].attributes or {})["error.type"] == "ValueError"


def test_root_send_with_fixed_ids_carries_exactly_tp(kafka_bootstrap, topic_name, instrument):
    """With a fixed id generator a root send puts exactly one ("traceparent", TP) on the record."""
    instrument()
    KafkaInstrumentor().uninstrument()
    KafkaInstrumentor().instrument(tracer_provider=TracerProvider(id_generator=FixedIds()))
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    producer.send(topic_name, b"v").get(timeout=60)
    producer.close()
    (record,) = _received(kafka_bootstrap, topic_name)
    assert [h for h in record.headers if h[0] == "traceparent"] == [("traceparent", f"00-{T}-{S}-01".encode())]


def test_root_send_with_random_ids_sets_flags_03(kafka_bootstrap, topic_name, instrumented: Otel):
    """With the SDK's random id generator a root send's traceparent ends in `-03`."""
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    producer.send(topic_name, b"v").get(timeout=60)
    producer.close()
    (record,) = _received(kafka_bootstrap, topic_name)
    (value,) = [v for k, v in record.headers if k == "traceparent"]
    assert value.endswith(b"-03")


def test_reused_header_list_carries_one_traceparent_per_record(kafka_bootstrap, topic_name, instrumented: Otel):
    """Two sends reusing one header list each carry exactly one traceparent, each its own span's."""
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    headers = [("app", b"1")]
    producer.send(topic_name, b"a", headers=headers).get(timeout=60)
    producer.send(topic_name, b"b", headers=headers).get(timeout=60)
    producer.close()
    records = _received(kafka_bootstrap, topic_name, 2)
    spans = {format(s.context.span_id, "016x") for s in instrumented.wait_spans(f"send {topic_name}", 2)}
    for record in records:
        parents = [v for k, v in record.headers if k == "traceparent"]
        assert len(parents) == 1
        assert parents[0].decode().split("-")[2] in spans
    assert records[0].headers != records[1].headers


def test_positional_none_headers_work(kafka_bootstrap, topic_name, instrumented: Otel):
    """`send(topic, value, key, None)` with headers passed positionally as None succeeds and is traced."""
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    producer.send(topic_name, b"v", b"k", None).get(timeout=60)
    producer.send(topic_name, b"v", b"k", headers=None).get(timeout=60)
    producer.close()
    records = _received(kafka_bootstrap, topic_name, 2)
    assert all([k for k, _ in r.headers] == ["traceparent"] for r in records)


def test_other_headers_kept_byte_for_byte_and_in_order(kafka_bootstrap, topic_name, instrumented: Otel):
    """Headers already on the record keep their bytes and order; a stale traceparent is replaced."""
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    original = [("z-first", b"\x00\xff"), ("traceparent", b"00-stale"), ("a-second", b""), ("dup", b"1"),
                ("dup", b"2")]
    producer.send(topic_name, b"v", headers=list(original)).get(timeout=60)
    producer.close()
    (record,) = _received(kafka_bootstrap, topic_name)
    others = [h for h in record.headers if h[0] != "traceparent"]
    assert others == [h for h in original if h[0] != "traceparent"]
    parents = [v for k, v in record.headers if k == "traceparent"]
    assert len(parents) == 1 and parents[0] != b"00-stale"


def test_binary_cloudevent_send_carries_event_id_and_type(kafka_bootstrap, topic_name, instrumented: Otel):
    """A send whose headers describe a binary-mode CloudEvent records its id, type and source on the span."""
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    headers = [("ce_specversion", b"1.0"), ("ce_id", b"e-42"), ("ce_source", b"/shop"),
               ("ce_type", b"com.example.placed")]
    producer.send(topic_name, b"{}", headers=headers).get(timeout=60)
    producer.close()
    (span,) = instrumented.wait_spans(f"send {topic_name}", 1)
    attrs = span.attributes or {}
    assert (attrs["cloudevents.event_id"], attrs["cloudevents.event_type"], attrs["cloudevents.event_source"]) == (
        "e-42", "com.example.placed", "/shop")


def test_fingerprint_sampling_options_are_honoured(kafka_bootstrap, topic_name, instrument):
    """`fingerprint_first_n` and `fingerprint_every` decide which sends carry a schema fingerprint."""
    otel = instrument(fingerprint_first_n=1, fingerprint_every=2)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for i in range(5):
        producer.send(topic_name, b'{"n": %d}' % i).get(timeout=60)
    producer.close()
    spans = sorted(otel.wait_spans(f"send {topic_name}", 5), key=lambda s: s.start_time or 0)
    marked = [("eventlens.schema.fingerprint" in (s.attributes or {})) for s in spans]
    assert marked == [True, False, True, False, True]
