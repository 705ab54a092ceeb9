"""aiokafka across asyncio tasks and clients: 200 concurrent tasks keep their own context, a kafka-python →
aiokafka → kafka-python chain forms one trace, and `uninstrument()` restores plain aiokafka."""

# ruff: noqa: F811  (the aiokafka fixtures are imported from aiokafka_support, then requested by name)
from __future__ import annotations

import asyncio
import itertools
import random
from typing import Any

import aiokafka
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka_support import aio_instrument, aio_instrumented, consume_each, new_consumer, produce, run  # noqa: F401
from instr_support import Otel
from instr_support import consume_each as kp_consume_each
from kafka import KafkaProducer
from opentelemetry import trace

from eventlens.instrumentation.aiokafka import AIOKafkaInstrumentor

pytestmark = pytest.mark.kafka
TASKS = 200


def test_200_concurrent_tasks_each_keep_their_own_process_span(kafka_bootstrap, make_topic, aio_instrumented: Otel):
    """200 tasks share one consumer: each handles its record inside its own process span, and the record it
    produces while handling is a child of that span (never of another task's)."""
    source, sink = make_topic(4), make_topic(4)
    wrong: list[str] = []

    async def main() -> None:
        await produce(kafka_bootstrap, source, [str(i).encode() for i in range(TASKS)])
        consumer = new_consumer(kafka_bootstrap, source)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await asyncio.gather(consumer.start(), producer.start())

        async def task() -> None:
            record = await consumer.getone()
            mine = trace.get_current_span().get_span_context()
            await asyncio.sleep(random.random() / 20)  # let the other tasks run between getone and the send
            if trace.get_current_span().get_span_context() != mine:
                wrong.append(f"context changed while handling {record.value!r}")
            await producer.send_and_wait(sink, record.value, key=b"%d" % mine.span_id)

        try:
            await asyncio.gather(*(task() for _ in range(TASKS)))
        finally:
            await producer.stop()
            await consumer.stop()

    run(main())
    assert wrong == []
    processes = {s.context.span_id: s for s in aio_instrumented.spans(f"process {source}")}
    sends = aio_instrumented.wait_spans(f"send {sink}", TASKS)
    assert len(processes) == TASKS and len(sends) == TASKS
    for send in sends:
        assert send.parent is not None
        handler = processes[send.parent.span_id]
        assert int(dict(send.attributes or {})["messaging.kafka.message.key"]) == handler.context.span_id
        assert send.context.trace_id == handler.context.trace_id
    assert sorted(dict(s.attributes or {})["messaging.message.body.size"] for s in sends) == sorted(
        len(str(i)) for i in range(TASKS))


def test_kafka_python_to_aiokafka_chain_is_one_trace(kafka_bootstrap, make_topic, instrument, aio_instrument):
    """kafka-python produces, aiokafka consumes and produces, kafka-python consumes: one trace, each hop a child."""
    instrument()
    otel = aio_instrument()
    first, second = make_topic(1), make_topic(1)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    producer.send(first, b"order").get(timeout=60)
    producer.close()

    async def relay() -> None:
        out = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await out.start()

        async def handle(record: Any) -> None:
            await out.send_and_wait(second, record.value)

        try:
            await consume_each(kafka_bootstrap, first, 1, handle)
        finally:
            await out.stop()

    run(relay())
    kp_consume_each(kafka_bootstrap, second, 1, lambda _r: None)
    chain = [otel.wait_spans(name, 1)[0] for name in
             (f"send {first}", f"process {first}", f"send {second}", f"process {second}")]
    assert len({span.context.trace_id for span in chain}) == 1
    for parent, child in itertools.pairwise(chain):
        assert child.parent is not None and child.parent.span_id == parent.context.span_id


def test_uninstrument_restores_plain_aiokafka(kafka_bootstrap, make_topic, aio_instrument):
    """After `uninstrument()`: the original methods, no headers added, no spans."""
    otel = aio_instrument()
    AIOKafkaInstrumentor().uninstrument()
    for cls, name in ((aiokafka.AIOKafkaProducer, "send"), (aiokafka.AIOKafkaProducer, "send_batch"),
                      (aiokafka.AIOKafkaProducer, "create_batch"), (aiokafka.AIOKafkaConsumer, "getone"),
                      (aiokafka.AIOKafkaConsumer, "getmany"), (aiokafka.AIOKafkaConsumer, "commit"),
                      (aiokafka.AIOKafkaConsumer, "stop")):
        assert not hasattr(cls.__dict__[name], "__wrapped__"), f"{cls.__name__}.{name} still wrapped"
    topic = make_topic(1)
    otel.exporter.clear()

    async def main() -> list[Any]:
        await produce(kafka_bootstrap, topic, [b"plain"], headers=[("a", b"1")])

        async def keep(_r: Any) -> None:
            return None

        return await consume_each(kafka_bootstrap, topic, 1, keep)

    (record,) = run(main())
    assert list(record.headers) == [("a", b"1")]
    assert otel.spans() == []


def test_span_of_a_finished_task_ends_at_the_next_call(kafka_bootstrap, make_topic, aio_instrumented: Otel):
    """A process span opened by a task that has finished is ended at the consumer's next call, and it never
    became current in the caller's task."""
    topic = make_topic(1)
    seen: dict[str, Any] = {}

    async def main() -> None:
        await produce(kafka_bootstrap, topic, [b"a", b"b"])
        consumer = new_consumer(kafka_bootstrap, topic)
        await consumer.start()
        try:
            await asyncio.create_task(consumer.getone())
            seen["caller"] = trace.get_current_span().get_span_context()
            seen["before"] = len(aio_instrumented.spans(f"process {topic}"))
            await consumer.getone()
            seen["after"] = len(aio_instrumented.spans(f"process {topic}"))
        finally:
            await consumer.stop()

    run(main())
    assert not seen["caller"].is_valid
    assert (seen["before"], seen["after"]) == (0, 1)
