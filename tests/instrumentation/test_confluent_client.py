"""confluent-kafka instrumentation against the real broker: produce, delivery, poll, consume, commit, classes."""

from __future__ import annotations

import confluent_kafka
import pytest
from confluent_kafka import cimpl
from confluent_kafka.serialization import StringDeserializer, StringSerializer
from confluent_support import (
    TIMEOUT_S,
    consume_n,
    consumer,
    poll_one,
    produce_sync,
    producer,
    raw_produce,
)
from instr_support import Otel
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import SpanKind, StatusCode

from eventlens.instrumentation import ConfluentKafkaInstrumentor, processing

pytestmark = pytest.mark.kafka


def _traceparent(msg) -> str:
    (value,) = [v for k, v in (msg.headers() or []) if k == "traceparent"]
    return value.decode()


@pytest.mark.parametrize("headers", [None, [("a", b"1")], {"a": b"1"}], ids=["absent", "list", "dict"])
def test_produce_injects_traceparent_for_any_header_shape(kafka_bootstrap, topic_name, cinstrumented: Otel,
                                                          headers):
    """Headers given as a list, a dict or not at all: the record carries the user's headers plus traceparent."""
    p = producer(kafka_bootstrap)
    produce_sync(p, topic_name, b"v", headers=headers) if headers is not None else produce_sync(p, topic_name)
    c = consumer(kafka_bootstrap, topic_name)
    msg = poll_one(c)
    c.close()
    keys = [k for k, _ in msg.headers()]
    assert keys.count("traceparent") == 1
    assert ("a" in keys) == (headers is not None)
    (span,) = cinstrumented.spans(f"send {topic_name}")
    assert _traceparent(msg).split("-")[2] == format(span.context.span_id, "016x")


def test_send_span_ends_at_delivery_with_offset(kafka_bootstrap, topic_name, cinstrumented: Otel):
    """The send span is a PRODUCER span ended by the delivery report, carrying partition, offset and server."""
    p = producer(kafka_bootstrap, **{"client.id": "orders-1"})
    p.produce(topic_name, b"v", key=b"k1")
    assert cinstrumented.spans(f"send {topic_name}") == []  # not delivered yet: the span is still open
    p.flush(TIMEOUT_S)
    (span,) = cinstrumented.spans(f"send {topic_name}")
    attrs = dict(span.attributes or {})
    assert span.kind is SpanKind.PRODUCER
    assert attrs["messaging.kafka.offset"] == 0 and attrs["messaging.destination.partition.id"] == "0"
    assert attrs["messaging.kafka.message.key"] == "k1" and attrs["messaging.message.body.size"] == 1
    assert attrs["messaging.client.id"] == "orders-1"
    assert attrs["server.address"] == kafka_bootstrap.rsplit(":", 1)[0]


def test_user_delivery_callback_called_once_with_same_arguments(kafka_bootstrap, topic_name, cinstrumented: Otel):
    """`on_delivery` and `callback` are each called exactly once with (err, msg) as librdkafka reports them."""
    p = producer(kafka_bootstrap)
    calls: list[tuple[str, object, object]] = []
    p.produce(topic_name, b"a", on_delivery=lambda err, msg: calls.append(("on_delivery", err, msg)))
    p.produce(topic_name, b"b", callback=lambda err, msg: calls.append(("callback", err, msg)))
    p.flush(TIMEOUT_S)
    p.poll(0)
    assert [(name, err, msg.value(), msg.offset()) for name, err, msg in calls] == [
        ("on_delivery", None, b"a", 0), ("callback", None, b"b", 1)]
    assert all(type(msg) is cimpl.Message for _, _, msg in calls)


def test_producer_level_on_delivery_still_called(kafka_bootstrap, topic_name, cinstrumented: Otel):
    """A delivery callback from the configuration is called once per record, as without eventlens."""
    calls: list[object] = []
    p = producer(kafka_bootstrap, on_delivery=lambda err, msg: calls.append((err, msg.offset())))
    p.produce(topic_name, b"a")
    p.flush(TIMEOUT_S)
    assert calls == [(None, 0)]


def test_failed_delivery_ends_span_with_kafka_error_name(topic_name, cinstrumented: Otel):
    """A record that times out fails its send span with the KafkaError name; the user's callback sees the error."""
    p = confluent_kafka.Producer({"bootstrap.servers": "127.0.0.1:9", "message.timeout.ms": 300})
    errors: list[object] = []
    p.produce(topic_name, b"v", on_delivery=lambda err, msg: errors.append(err))
    p.flush(TIMEOUT_S)
    (err,) = errors
    (span,) = cinstrumented.spans(f"send {topic_name}")
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})["error.type"] == err.name() == "_MSG_TIMED_OUT"


def test_produce_raising_fails_span_and_reraises(topic_name, cinstrumented: Otel):
    """BufferError from a full queue reaches the caller, and that record's send span ends failed."""
    p = confluent_kafka.Producer({"bootstrap.servers": "127.0.0.1:9", "queue.buffering.max.messages": 1,
                                  "message.timeout.ms": 300})
    p.produce(topic_name, b"1")
    with pytest.raises(BufferError):
        p.produce(topic_name, b"2")
    p.flush(TIMEOUT_S)
    spans = cinstrumented.spans(f"send {topic_name}")
    assert sorted(dict(s.attributes or {})["error.type"] for s in spans) == ["BufferError", "_MSG_TIMED_OUT"]


def test_poll_process_span_current_while_handling(kafka_bootstrap, make_topic, cinstrumented: Otel):
    """A record from poll() has a process span current while handled; a produce inside it is its child."""
    source, sink = make_topic(1, "-s"), make_topic(1, "-d")
    p = producer(kafka_bootstrap)
    produce_sync(p, source)
    c = consumer(kafka_bootstrap, source, group="g-handler")
    msg = poll_one(c)
    current = trace.get_current_span().get_span_context()
    produce_sync(p, sink, b"next")
    c.close()
    (send,) = cinstrumented.spans(f"send {source}")
    (process,) = cinstrumented.spans(f"process {source}")
    (child,) = cinstrumented.spans(f"send {sink}")
    assert msg.value() == b"v"
    assert current.span_id == process.context.span_id
    assert process.parent is not None and process.parent.span_id == send.context.span_id
    assert child.parent is not None and child.parent.span_id == process.context.span_id
    attrs = dict(process.attributes or {})
    assert attrs["messaging.consumer.group.name"] == "g-handler" and attrs["messaging.kafka.offset"] == 0
    assert attrs["messaging.message.body.size"] == 1
    assert not trace.get_current_span().get_span_context().is_valid  # ended and detached at close()


def test_process_span_ends_at_next_poll(kafka_bootstrap, topic_name, cinstrumented: Otel):
    """The process span of one record ends when the consumer polls again."""
    raw_produce(kafka_bootstrap, topic_name, [(b"1", []), (b"2", [])])
    c = consumer(kafka_bootstrap, topic_name)
    poll_one(c)
    assert cinstrumented.spans(f"process {topic_name}") == []
    poll_one(c)
    assert len(cinstrumented.spans(f"process {topic_name}")) == 1
    c.close()
    assert len(cinstrumented.spans(f"process {topic_name}")) == 2


def test_lag_in_offsets_from_cached_watermark(kafka_bootstrap, topic_name, cinstrumented: Otel):
    """The process span of the first of three records says two records follow it (cached high watermark)."""
    raw_produce(kafka_bootstrap, topic_name, [(b"1", []), (b"2", []), (b"3", [])])
    c = consumer(kafka_bootstrap, topic_name)
    for _ in range(3):
        poll_one(c)
    c.close()
    spans = sorted(cinstrumented.spans(f"process {topic_name}"),
                   key=lambda s: dict(s.attributes or {})["messaging.kafka.offset"])
    assert [dict(s.attributes or {}).get("eventlens.lag.offsets") for s in spans] == [2, 1, 0]


def test_partition_eof_is_not_a_record(kafka_bootstrap, topic_name, cinstrumented: Otel):
    """Messages carrying an error (here partition EOF) get no process span."""
    raw_produce(kafka_bootstrap, topic_name, [(b"1", [])])
    c = consumer(kafka_bootstrap, topic_name, **{"enable.partition.eof": True})
    poll_one(c)
    eof = None
    for _ in range(40):
        eof = c.poll(0.5)
        if eof is not None and eof.error() is not None:
            break
    assert eof is not None and eof.error().code() == confluent_kafka.KafkaError._PARTITION_EOF
    c.close()
    assert len(cinstrumented.spans(f"process {topic_name}")) == 1


def test_consume_batch_links_every_record(kafka_bootstrap, topic_name, cinstrumented: Otel):
    """consume() records one CLIENT span linking every record's send span; processing(msg) parents on it."""
    p = producer(kafka_bootstrap)
    for i in range(3):
        p.produce(topic_name, str(i).encode())
    p.flush(TIMEOUT_S)
    sends = cinstrumented.spans(f"send {topic_name}")
    c = consumer(kafka_bootstrap, topic_name, group="g-batch")
    batches = consume_n(c, 3)
    for batch in batches:
        for msg in batch:
            with processing(msg) as span:
                assert trace.get_current_span() is span
    c.close()
    polls = cinstrumented.spans(f"poll {topic_name}")
    assert sum(dict(s.attributes or {})["messaging.batch.message_count"] for s in polls) == 3
    assert all(s.kind is SpanKind.CLIENT for s in polls)
    linked = {link.context.span_id for s in polls for link in s.links}
    assert linked == {s.context.span_id for s in sends}
    processes = cinstrumented.spans(f"process {topic_name}")
    assert {s.parent.span_id for s in processes if s.parent} == {s.context.span_id for s in sends}
    assert {dict(s.attributes or {})["messaging.consumer.group.name"] for s in processes} == {"g-batch"}


def test_send_after_consume_links_the_batch(kafka_bootstrap, make_topic, cinstrumented: Otel):
    """A produce after consume() outside any process span links to every record of the batch (fan-in)."""
    source, sink = make_topic(1, "-in"), make_topic(1, "-out")
    p = producer(kafka_bootstrap)
    for i in range(2):
        p.produce(source, str(i).encode())
    p.flush(TIMEOUT_S)
    c = consumer(kafka_bootstrap, source)
    consume_n(c, 2)
    produce_sync(p, sink, b"sum")
    c.close()
    (out,) = cinstrumented.spans(f"send {sink}")
    assert {link.context.span_id for link in out.links} == {s.context.span_id for s in
                                                            cinstrumented.spans(f"send {source}")}


def test_commit_and_store_offsets_spans(kafka_bootstrap, topic_name, cinstrumented: Otel):
    """commit (sync and async) and store_offsets each make a CLIENT span named for the topic."""
    raw_produce(kafka_bootstrap, topic_name, [(b"1", [])])
    c = consumer(kafka_bootstrap, topic_name, **{"enable.auto.offset.store": False})
    msg = poll_one(c)
    c.store_offsets(message=msg)
    c.commit(message=msg, asynchronous=False)
    c.commit(asynchronous=True)
    c.close()
    commits = cinstrumented.spans(f"commit {topic_name}")
    assert len(commits) == 2 and all(s.kind is SpanKind.CLIENT for s in commits)
    (store,) = cinstrumented.spans(f"store_offsets {topic_name}")
    assert dict(store.attributes or {})["messaging.operation.type"] == "settle"
    (process,) = cinstrumented.spans(f"process {topic_name}")
    assert process.end_time <= store.start_time  # store_offsets ended the open process span


def test_isinstance_still_passes(kafka_bootstrap, cinstrumented: Otel):
    """Traced clients are instances of the names in confluent_kafka, and plain ones still are too."""
    p = producer(kafka_bootstrap)
    c = consumer(kafka_bootstrap)
    plain = cimpl.Producer({"bootstrap.servers": kafka_bootstrap})
    assert isinstance(p, confluent_kafka.Producer) and isinstance(p, cimpl.Producer)
    assert isinstance(plain, confluent_kafka.Producer)
    assert isinstance(c, confluent_kafka.Consumer) and not isinstance(c, confluent_kafka.Producer)
    assert issubclass(confluent_kafka.SerializingProducer, confluent_kafka.Producer)
    c.close()


def test_uninstrument_restores_plain_clients(kafka_bootstrap, topic_name, cinstrumented: Otel):
    """After uninstrument() the module names the original classes and even traced instances send plainly."""
    traced = producer(kafka_bootstrap)
    ConfluentKafkaInstrumentor().uninstrument()
    assert confluent_kafka.Producer is cimpl.Producer and confluent_kafka.Consumer is cimpl.Consumer
    produce_sync(traced, topic_name)
    produce_sync(producer(kafka_bootstrap), topic_name)
    c = consumer(kafka_bootstrap, topic_name)
    msgs = [poll_one(c), poll_one(c)]
    c.close()
    assert [m.headers() for m in msgs] == [None, None]
    assert cinstrumented.spans() == []


def test_suppressed_produce_is_plain(kafka_bootstrap, topic_name, cinstrumented: Otel):
    """Inside suppress_instrumentation() a produce carries no traceparent and makes no span."""
    p = producer(kafka_bootstrap)
    with suppress_instrumentation():
        produce_sync(p, topic_name)
    c = consumer(kafka_bootstrap, topic_name)
    assert poll_one(c).headers() is None
    c.close()
    assert cinstrumented.spans(f"send {topic_name}") == []


def test_hooks_and_event_type_getter(kafka_bootstrap, topic_name, cinstrument):
    """produce_hook, consume_hook and event_type_getter see confluent-kafka's calls and records."""
    otel = cinstrument(produce_hook=lambda span, args, kwargs: span.set_attribute("hook.produce", args[0]),
                       consume_hook=lambda span, record, args, kwargs: span.set_attribute("hook.key",
                                                                                          record.key.decode()),
                       event_type_getter=lambda record: "t." + record.topic)
    p = producer(kafka_bootstrap)
    produce_sync(p, topic_name, b"v", key=b"k")
    c = consumer(kafka_bootstrap, topic_name)
    poll_one(c)
    c.close()
    (send,) = otel.spans(f"send {topic_name}")
    (process,) = otel.spans(f"process {topic_name}")
    assert dict(send.attributes or {})["hook.produce"] == topic_name
    assert dict(send.attributes or {})["eventlens.event.type"] == f"t.{topic_name}"
    assert dict(process.attributes or {})["hook.key"] == "k"


def test_serializing_producer_and_deserializing_consumer(kafka_bootstrap, topic_name, cinstrumented: Otel):
    """SerializingProducer/DeserializingConsumer are traced with the serialized body size; values round-trip."""
    p = confluent_kafka.SerializingProducer({"bootstrap.servers": kafka_bootstrap,
                                            "value.serializer": StringSerializer("utf_8")})
    assert isinstance(p, confluent_kafka.Producer)
    p.produce(topic_name, value="héllo", headers={"x": b"1"})
    p.flush(TIMEOUT_S)
    c = confluent_kafka.DeserializingConsumer({"bootstrap.servers": kafka_bootstrap, "group.id": "g-serde",
                                               "auto.offset.reset": "earliest",
                                               "value.deserializer": StringDeserializer("utf_8")})
    c.subscribe([topic_name])
    msg = poll_one(c)
    c.close()
    assert msg.value() == "héllo"
    (send,) = cinstrumented.spans(f"send {topic_name}")
    (process,) = cinstrumented.spans(f"process {topic_name}")
    assert dict(send.attributes or {})["messaging.message.body.size"] == 6
    assert dict(process.attributes or {})["messaging.message.body.size"] == 6
    assert process.parent is not None and process.parent.span_id == send.context.span_id
