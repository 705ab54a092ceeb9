"""aiokafka consumer: `async for` / `getone` process spans, `getmany` batches, commit, stop, against the broker."""

# ruff: noqa: F811  (the aiokafka fixtures are imported from aiokafka_support, then requested by name)
from __future__ import annotations

from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka_support import (  # noqa: F401
    aio_instrument,
    aio_instrumented,
    consume_each,
    get_all,
    new_consumer,
    produce,
    run,
)
from instr_support import Otel
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import SpanKind

from eventlens.instrumentation import processing

pytestmark = pytest.mark.kafka


def _attrs(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


def test_async_for_body_runs_inside_the_process_span(kafka_bootstrap, make_topic, aio_instrumented: Otel):
    """Inside `async for`, the record's process span is current: a send there is its child, same trace."""
    source, sink = make_topic(1), make_topic(1)
    current: list[Any] = []

    async def main() -> None:
        await produce(kafka_bootstrap, source, [b"a", b"b"])
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()

        async def handle(_record: Any) -> None:
            current.append(trace.get_current_span().get_span_context())
            await producer.send_and_wait(sink, b"next")

        try:
            await consume_each(kafka_bootstrap, source, 2, handle)
        finally:
            await producer.stop()

    run(main())
    processes = sorted(aio_instrumented.spans(f"process {source}"), key=lambda s: _attrs(s)["messaging.kafka.offset"])
    sends = aio_instrumented.wait_spans(f"send {sink}", 2)
    upstream = {s.context.span_id: s for s in aio_instrumented.spans(f"send {source}")}
    assert [c.span_id for c in current] == [p.context.span_id for p in processes]
    for process in processes:
        assert process.kind is SpanKind.CONSUMER
        assert process.parent is not None and process.parent.span_id in upstream
        (child,) = [s for s in sends if s.parent is not None and s.parent.span_id == process.context.span_id]
        assert child.context.trace_id == process.context.trace_id
    assert processes[0].end_time is not None and processes[0].end_time <= processes[1].start_time


def test_process_span_carries_group_offset_and_lag(kafka_bootstrap, make_topic, aio_instrumented: Otel):
    """The process span names the group, partition and offset, and the lag in offsets from `highwater`."""
    topic = make_topic(1)

    async def main() -> None:
        await produce(kafka_bootstrap, topic, [b"0", b"1", b"2"])
        consumer = new_consumer(kafka_bootstrap, topic, group="billing")
        await consumer.start()
        try:
            await consumer.getone()
        finally:
            await consumer.stop()

    run(main())
    (span,) = aio_instrumented.spans(f"process {topic}")
    attrs = _attrs(span)
    assert attrs["messaging.consumer.group.name"] == "billing"
    assert attrs["messaging.destination.partition.id"] == "0"
    assert attrs["messaging.kafka.offset"] == 0
    assert attrs["eventlens.lag.offsets"] == 2
    assert attrs["eventlens.lag.seconds"] >= 0


def test_commit_ends_the_process_span_and_has_its_own(kafka_bootstrap, make_topic, aio_instrumented: Otel):
    """`commit()` ends the open process span first and makes a `commit {topic}` CLIENT span."""
    topic = make_topic(1)
    seen: dict[str, Any] = {}

    async def main() -> None:
        await produce(kafka_bootstrap, topic, [b"x"])
        consumer = new_consumer(kafka_bootstrap, topic)
        await consumer.start()
        try:
            await consumer.getone()
            await consumer.commit()
            seen["after"] = trace.get_current_span().get_span_context()
        finally:
            await consumer.stop()

    run(main())
    (process,) = aio_instrumented.spans(f"process {topic}")
    (commit,) = aio_instrumented.spans(f"commit {topic}")
    assert commit.kind is SpanKind.CLIENT
    assert process.end_time is not None and process.end_time <= commit.end_time
    assert not seen["after"].is_valid, "the process span was still current after commit"


def test_getmany_links_every_record_of_the_batch(kafka_bootstrap, make_topic, aio_instrumented: Otel):
    """`getmany` makes one `poll {topic}` CLIENT span with a link to each record's send span."""
    topic = make_topic(2)

    async def main() -> int:
        for partition in (0, 1):
            await produce(kafka_bootstrap, topic, [b"a", b"b"], partition=partition)
        consumer = new_consumer(kafka_bootstrap, topic)
        await consumer.start()
        try:
            batches = await get_all(consumer, 4)
        finally:
            await consumer.stop()
        return len(batches)

    batches = run(main())
    polls = aio_instrumented.spans(f"poll {topic}")
    assert len(polls) == batches
    sends = {s.context.span_id for s in aio_instrumented.spans(f"send {topic}")}
    linked = [link.context.span_id for poll in polls for link in poll.links]
    assert sorted(linked) == sorted(sends) and len(sends) == 4
    assert sum(_attrs(p)["messaging.batch.message_count"] for p in polls) == 4
    assert aio_instrumented.spans(f"process {topic}") == []


def test_processing_gives_a_record_from_getmany_its_process_span(kafka_bootstrap, make_topic,
                                                                aio_instrumented: Otel):
    """`processing(record)` on an aiokafka record makes a process span with the consumer's group."""
    topic = make_topic(1)

    async def main() -> None:
        await produce(kafka_bootstrap, topic, [b"x"])
        consumer = new_consumer(kafka_bootstrap, topic, group="batcher")
        await consumer.start()
        try:
            (batch,) = await get_all(consumer, 1)
            for records in batch.values():
                for record in records:
                    with processing(record) as span:
                        assert trace.get_current_span() is span
        finally:
            await consumer.stop()

    run(main())
    (span,) = aio_instrumented.spans(f"process {topic}")
    (send,) = aio_instrumented.spans(f"send {topic}")
    assert span.parent is not None and span.parent.span_id == send.context.span_id
    assert _attrs(span)["messaging.consumer.group.name"] == "batcher"


def test_send_after_getmany_links_every_input(kafka_bootstrap, make_topic, aio_instrumented: Otel):
    """Fan-in: a send after a `getmany` batch, outside any process span, links to every record of it."""
    source, sink = make_topic(1), make_topic(1)

    async def main() -> None:
        await produce(kafka_bootstrap, source, [b"1", b"2", b"3"])
        consumer = new_consumer(kafka_bootstrap, source)
        await consumer.start()
        try:
            await get_all(consumer, 3)
            await produce(kafka_bootstrap, sink, [b"sum"])
        finally:
            await consumer.stop()

    run(main())
    inputs = {s.context.span_id for s in aio_instrumented.spans(f"send {source}")}
    (out,) = aio_instrumented.spans(f"send {sink}")
    assert {link.context.span_id for link in out.links} == inputs


def test_stop_ends_the_open_process_span(kafka_bootstrap, make_topic, aio_instrumented: Otel):
    """Leaving the loop and stopping the consumer ends the last record's process span."""
    topic = make_topic(1)

    async def main() -> None:
        await produce(kafka_bootstrap, topic, [b"x"])
        consumer = new_consumer(kafka_bootstrap, topic)
        await consumer.start()
        await consumer.getone()
        assert aio_instrumented.spans(f"process {topic}") == []
        await consumer.stop()

    run(main())
    assert len(aio_instrumented.spans(f"process {topic}")) == 1


def test_suppressed_consume_makes_no_span(kafka_bootstrap, make_topic, aio_instrumented: Otel):
    """Inside `suppress_instrumentation()` getone and getmany record nothing."""
    topic = make_topic(1)

    async def main() -> None:
        await produce(kafka_bootstrap, topic, [b"x", b"y"])
        consumer = new_consumer(kafka_bootstrap, topic)
        await consumer.start()
        try:
            with suppress_instrumentation():
                await consumer.getone()
                await get_all(consumer, 1)
        finally:
            await consumer.stop()

    run(main())
    assert aio_instrumented.spans(f"process {topic}") == []
    assert aio_instrumented.spans(f"poll {topic}") == []


def test_consume_hook_sees_each_record(kafka_bootstrap, make_topic, aio_instrument):
    """The consume hook is called with the process span and the aiokafka record."""
    seen: list[Any] = []
    otel = aio_instrument(consume_hook=lambda span, record, args, kwargs: seen.append(record.value))
    topic = make_topic(1)

    async def main() -> None:
        await produce(kafka_bootstrap, topic, [b"h"])

        async def keep(_r: Any) -> None:
            return None

        await consume_each(kafka_bootstrap, topic, 1, keep)

    run(main())
    assert seen == [b"h"]
    assert len(otel.spans(f"process {topic}")) == 1
