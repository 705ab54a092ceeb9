"""Consumer side through the real broker: process spans for iterator and poll users, poll and commit spans."""

from __future__ import annotations

import time

import pytest
from instr_support import Otel, consume_each, new_consumer, poll_all
from kafka import KafkaProducer
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from eventlens.instrumentation import processing

pytestmark = pytest.mark.kafka


def _produce(bootstrap: str, topic: str, n: int, key: bytes = b"k") -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for i in range(n):
        producer.send(topic, f'{{"n": {i}}}'.encode(), key=key)
    producer.flush(timeout=60)
    producer.close()


def test_iterator_process_span_is_current_in_loop_body(kafka_bootstrap, topic_name, instrumented: Otel):
    """Inside `for record in consumer` the current span is that record's `process {topic}` span."""
    _produce(kafka_bootstrap, topic_name, 2)
    current = []
    consume_each(kafka_bootstrap, topic_name, 2, lambda _r: current.append(trace.get_current_span()))
    spans = instrumented.wait_spans(f"process {topic_name}", 2)
    assert all(s.kind is SpanKind.CONSUMER for s in spans)
    assert [c.get_span_context().span_id for c in current] == [s.context.span_id for s in spans]


def test_iterator_process_span_is_child_of_send_span(kafka_bootstrap, topic_name, instrumented: Otel):
    """By default a process span's parent is the producer's send span (same trace)."""
    _produce(kafka_bootstrap, topic_name, 1)
    consume_each(kafka_bootstrap, topic_name, 1, lambda _r: None)
    (send,) = instrumented.wait_spans(f"send {topic_name}", 1)
    (process,) = instrumented.wait_spans(f"process {topic_name}", 1)
    assert process.parent is not None
    assert process.parent.span_id == send.context.span_id
    assert process.context.trace_id == send.context.trace_id


def test_link_mode_process_span_links_instead_of_parenting(kafka_bootstrap, topic_name, instrument):
    """With `process_parent=False` the process span is a new trace linking the send span."""
    otel = instrument(process_parent=False)
    _produce(kafka_bootstrap, topic_name, 1)
    consume_each(kafka_bootstrap, topic_name, 1, lambda _r: None)
    (send,) = otel.wait_spans(f"send {topic_name}", 1)
    (process,) = otel.wait_spans(f"process {topic_name}", 1)
    assert process.context.trace_id != send.context.trace_id
    assert [link.context.span_id for link in process.links] == [send.context.span_id]


def test_process_span_attributes(kafka_bootstrap, topic_name, instrumented: Otel):
    """A process span carries group, partition, offset, key, body size and lag in offsets and seconds."""
    _produce(kafka_bootstrap, topic_name, 3, key=b"cust-1")
    records = consume_each(kafka_bootstrap, topic_name, 1, lambda _r: None, group="grp-attrs")
    (span,) = instrumented.wait_spans(f"process {topic_name}", 1)
    attrs = dict(span.attributes or {})
    assert attrs["messaging.consumer.group.name"] == "grp-attrs"
    assert attrs["messaging.operation.type"] == "process"
    assert attrs["messaging.destination.partition.id"] == str(records[0].partition)
    assert attrs["messaging.kafka.offset"] == records[0].offset
    assert attrs["messaging.kafka.message.key"] == "cust-1"
    assert attrs["messaging.message.body.size"] == len(records[0].value)
    assert attrs["eventlens.lag.offsets"] == 2
    assert 0 <= attrs["eventlens.lag.seconds"] < 600
    assert attrs["eventlens.record.timestamp_ms"] == records[0].timestamp


def test_iterator_makes_no_poll_span(kafka_bootstrap, topic_name, instrumented: Otel):
    """The poll that `__next__` runs internally makes no `poll` span (re-entrancy guard)."""
    _produce(kafka_bootstrap, topic_name, 2)
    consume_each(kafka_bootstrap, topic_name, 2, lambda _r: None)
    instrumented.wait_spans(f"process {topic_name}", 2)
    assert not [s for s in instrumented.spans() if s.name.startswith("poll")]


def test_poll_span_links_every_record(kafka_bootstrap, topic_name, instrumented: Otel):
    """A non-empty poll makes one `poll {topic}` CLIENT span with a link per record and the batch count."""
    _produce(kafka_bootstrap, topic_name, 5)
    consumer = new_consumer(kafka_bootstrap, topic_name)
    batches = poll_all(consumer, 5)
    consumer.close()
    polls = instrumented.spans(f"poll {topic_name}")
    assert len(polls) == len(batches)
    sends = {s.context.span_id for s in instrumented.wait_spans(f"send {topic_name}", 5)}
    linked = {link.context.span_id for p in polls for link in p.links}
    assert linked == sends
    assert sum((p.attributes or {})["messaging.batch.message_count"] for p in polls) == 5
    assert all(p.kind is SpanKind.CLIENT for p in polls)


def test_processing_helper_makes_current_process_span(kafka_bootstrap, topic_name, instrumented: Otel):
    """`with processing(record)` makes a current process span parented on the record's send span."""
    _produce(kafka_bootstrap, topic_name, 1)
    consumer = new_consumer(kafka_bootstrap, topic_name, group="grp-proc")
    (batch,) = poll_all(consumer, 1)
    (record,) = next(iter(batch.values()))
    with processing(record) as span:
        inside = trace.get_current_span()
    consumer.close()
    (process,) = instrumented.spans(f"process {topic_name}")
    (send,) = instrumented.wait_spans(f"send {topic_name}", 1)
    assert inside is span
    assert process.parent is not None and process.parent.span_id == send.context.span_id
    assert (process.attributes or {})["messaging.consumer.group.name"] == "grp-proc"


def test_processing_records_exception(kafka_bootstrap, topic_name, instrumented: Otel):
    """An exception leaving `processing(record)` is recorded on the span and re-raised unchanged."""
    _produce(kafka_bootstrap, topic_name, 1)
    consumer = new_consumer(kafka_bootstrap, topic_name)
    (batch,) = poll_all(consumer, 1)
    (record,) = next(iter(batch.values()))
    with pytest.raises(KeyError), processing(record):
        raise KeyError("boom")
    consumer.close()
    (process,) = instrumented.spans(f"process {topic_name}")
    assert (process.attributes or {})["error.type"] == "KeyError"


def test_commit_makes_commit_span(kafka_bootstrap, topic_name, instrumented: Otel):
    """`commit()` and `commit_async()` make `commit {topic}` CLIENT spans with the group."""
    _produce(kafka_bootstrap, topic_name, 1)
    consumer = new_consumer(kafka_bootstrap, topic_name, group="grp-commit", enable_auto_commit=False)
    poll_all(consumer, 1)
    consumer.commit()
    future = consumer.commit_async()
    deadline = time.monotonic() + 60
    while not future.is_done and time.monotonic() < deadline:
        consumer.poll(timeout_ms=100)
    consumer.close()
    commits = instrumented.spans(f"commit {topic_name}")
    assert len(commits) == 2
    assert all(c.kind is SpanKind.CLIENT for c in commits)
    assert all((c.attributes or {})["messaging.consumer.group.name"] == "grp-commit" for c in commits)


def test_process_span_ends_at_next_record(kafka_bootstrap, topic_name, instrumented: Otel):
    """The first record's process span ends when the loop asks for the next record, not before."""
    _produce(kafka_bootstrap, topic_name, 2)
    ended_during_body = []

    def handle(_record):
        time.sleep(0.05)
        ended_during_body.append(len(instrumented.spans(f"process {topic_name}")))

    consume_each(kafka_bootstrap, topic_name, 2, handle)
    assert ended_during_body == [0, 1]
    spans = instrumented.spans(f"process {topic_name}")
    assert all((s.end_time or 0) - (s.start_time or 0) >= 40_000_000 for s in spans)


def test_uninstrument_restores_plain_behaviour(kafka_bootstrap, topic_name, instrument):
    """After `uninstrument()` sends add no headers and no spans are made."""
    from eventlens.instrumentation import KafkaInstrumentor

    otel = instrument()
    KafkaInstrumentor().uninstrument()
    import kafka

    assert not hasattr(kafka.KafkaProducer.send, "__wrapped__")
    assert not hasattr(kafka.KafkaConsumer.__next__, "__wrapped__")
    assert not hasattr(kafka.KafkaConsumer.poll, "__wrapped__")
    _produce(kafka_bootstrap, topic_name, 1)
    (record,) = consume_each(kafka_bootstrap, topic_name, 1, lambda _r: None)
    assert record.headers == []
    assert otel.spans() == []
