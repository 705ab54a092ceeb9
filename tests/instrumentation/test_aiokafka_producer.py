"""aiokafka producer: `send`, `send_and_wait` and batches against the real broker."""

# ruff: noqa: F811  (the aiokafka fixtures are imported from aiokafka_support, then requested by name)
from __future__ import annotations

from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka_support import aio_instrument, aio_instrumented, consume_each, produce, run  # noqa: F401
from instr_support import Otel
from opentelemetry.trace import SpanKind, StatusCode

pytestmark = pytest.mark.kafka


async def _read(bootstrap: str, topic: str, n: int) -> list[Any]:
    async def keep(_r: Any) -> None:
        return None

    return await consume_each(bootstrap, topic, n, keep, group=None)


def _traceparents(record: Any) -> list[bytes | None]:
    return [v for k, v in record.headers if k == "traceparent"]


def test_send_span_ends_at_the_ack_with_offset_and_partition(kafka_bootstrap, make_topic, aio_instrumented: Otel):
    """`send` starts a PRODUCER span that ends when the broker acknowledges, with the acked offset."""
    topic = make_topic(2)

    async def main() -> Any:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, client_id="orders-api")
        await producer.start()
        try:
            future = await producer.send(topic, b"hello", key=b"k1", partition=1)
            assert aio_instrumented.spans(f"send {topic}") == []
            return await future
        finally:
            await producer.stop()

    metadata = run(main())
    (span,) = aio_instrumented.spans(f"send {topic}")
    attrs = dict(span.attributes or {})
    assert span.kind is SpanKind.PRODUCER
    assert attrs["messaging.kafka.offset"] == metadata.offset
    assert attrs["messaging.destination.partition.id"] == "1"
    assert attrs["messaging.kafka.message.key"] == "k1"
    assert attrs["messaging.client.id"] == "orders-api"
    assert attrs["server.port"] == int(kafka_bootstrap.rsplit(":", 1)[1])
    assert attrs["messaging.message.body.size"] == 5


@pytest.mark.parametrize("style", ["keyword", "positional", "none"])
def test_send_and_wait_injects_exactly_once(kafka_bootstrap, make_topic, aio_instrumented: Otel, style):
    """`send_and_wait` (which calls `send` positionally) injects one traceparent and passes headers once."""
    topic = make_topic(1)
    user_headers = [("app", b"1"), ("traceparent", b"stale")]

    async def main() -> list[Any]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            if style == "keyword":
                await producer.send_and_wait(topic, b"v", headers=user_headers)
            elif style == "positional":
                await producer.send_and_wait(topic, b"v", None, None, None, user_headers)
            else:
                await producer.send_and_wait(topic, b"v")
        finally:
            await producer.stop()
        return await _read(kafka_bootstrap, topic, 1)

    (record,) = run(main())
    (span,) = aio_instrumented.spans(f"send {topic}")
    (traceparent,) = _traceparents(record)
    assert traceparent is not None
    assert traceparent.decode().split("-")[2] == format(span.context.span_id, "016x")
    if style != "none":
        assert ("app", b"1") in record.headers
        assert user_headers == [("app", b"1"), ("traceparent", b"stale")], "the caller's list was changed"


def test_failed_send_ends_the_span_as_an_error(kafka_bootstrap, make_topic, aio_instrumented: Otel):
    """A send the client refuses (too large for the broker) fails its span with the Kafka error name."""
    topic = make_topic(1)

    async def main() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, max_request_size=20_000_000)
        await producer.start()
        try:
            with pytest.raises(KafkaError):
                await producer.send_and_wait(topic, b"x" * 5_000_000)
        finally:
            await producer.stop()

    run(main())
    (span,) = aio_instrumented.spans(f"send {topic}")
    assert span.status.status_code is StatusCode.ERROR
    assert "error.type" in dict(span.attributes or {})


def test_batch_records_get_one_send_span_each_ending_at_their_offsets(kafka_bootstrap, make_topic,
                                                                      aio_instrumented: Otel):
    """`create_batch` + `append` + `send_batch`: a span per appended record, its context in that record."""
    topic = make_topic(1)

    async def main() -> list[Any]:
        await produce(kafka_bootstrap, topic, [b"first"])  # offset 0, so batch offsets are not trivially 0..n
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            batch = producer.create_batch()
            for i in range(3):
                assert batch.append(key=None, value=f"b{i}".encode(), timestamp=None,
                                    headers=[("n", str(i).encode())]) is not None
            future = await producer.send_batch(batch, topic, partition=0)
            await future
        finally:
            await producer.stop()
        return await _read(kafka_bootstrap, topic, 4)

    records = run(main())[1:]
    spans = sorted(aio_instrumented.wait_spans(f"send {topic}", 4, timeout=10),
                   key=lambda s: dict(s.attributes or {})["messaging.kafka.offset"])[1:]
    assert [dict(s.attributes or {})["messaging.kafka.offset"] for s in spans] == [r.offset for r in records]
    for record, span in zip(records, spans, strict=True):
        (traceparent,) = _traceparents(record)
        assert traceparent is not None and traceparent.decode().split("-")[2] == format(span.context.span_id, "016x")
        assert ("n", str(record.offset - 1).encode()) in record.headers
        assert dict(span.attributes or {})["messaging.destination.name"] == topic


def test_produce_hook_and_event_type_getter_apply(kafka_bootstrap, make_topic, aio_instrument):
    """The produce hook sees the span and the call; the event type getter names the event."""
    otel = aio_instrument(produce_hook=lambda span, args, kwargs: span.set_attribute("hooked", len(args)),
                          event_type_getter=lambda record: "OrderPlaced")
    topic = make_topic(1)
    run(produce(kafka_bootstrap, topic, [b"{}"]))
    (span,) = otel.spans(f"send {topic}")
    attrs = dict(span.attributes or {})
    assert attrs["hooked"] == 6  # send_and_wait passes all six arguments positionally
    assert attrs["eventlens.event.type"] == "OrderPlaced"


def test_send_metrics_count_every_message(kafka_bootstrap, make_topic, aio_instrumented: Otel):
    """The sent-messages metric counts each send of the topic."""
    topic = make_topic(1)
    run(produce(kafka_bootstrap, topic, [b"a", b"b", b"c"]))
    data = aio_instrumented.reader.get_metrics_data()
    points = [p for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
              if m.name == "messaging.client.sent.messages" for p in m.data.data_points
              if p.attributes.get("messaging.destination.name") == topic]
    assert sum(p.value for p in points) == 3
