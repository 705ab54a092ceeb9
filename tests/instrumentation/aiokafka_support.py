"""What the aiokafka tests share: an `aio_instrument` fixture (on both span paths) and asyncio helpers that
produce and consume against the real broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from instr_support import Otel

from eventlens.instrumentation.aiokafka import AIOKafkaInstrumentor, active_runtime

TIMEOUT = 60.0


@pytest.fixture
def aio_instrument(otel: Otel, span_path: str) -> Iterator[Callable[..., Otel]]:
    """`aio_instrument(**options)` instruments aiokafka for this test with the session providers."""
    instrumentor = AIOKafkaInstrumentor()

    def _instrument(**options: Any) -> Otel:
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
        otel.exporter.clear()
        instrumentor.instrument(tracer_provider=otel.provider, meter_provider=otel.meter_provider, **options)
        runtime = active_runtime()
        assert runtime is not None and (runtime.sink is not None) == (span_path == "fast")
        return otel

    yield _instrument
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    otel.exporter.clear()


@pytest.fixture
def aio_instrumented(aio_instrument: Callable[..., Otel]) -> Otel:
    """aiokafka instrumented with default options for this test."""
    return aio_instrument()


def run(coro: Awaitable[Any]) -> Any:
    """Run one coroutine to completion in a fresh event loop, bounded by a generous timeout."""
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, TIMEOUT * 2)

    return asyncio.run(bounded())


def new_consumer(bootstrap: str, *topics: str, group: str | None = "", **config: Any) -> AIOKafkaConsumer:
    """An aiokafka consumer reading from the beginning (a fresh group unless `group` is None or given)."""
    return AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                            group_id=(group or f"g-{uuid.uuid4().hex[:8]}") if group is not None else None,
                            enable_auto_commit=False, **config)


async def produce(bootstrap: str, topic: str, values: list[bytes], **send: Any) -> list[Any]:
    """Send `values` to `topic` with a started producer and wait for every ack; returns the metadata."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        return [await producer.send_and_wait(topic, value, **send) for value in values]
    finally:
        await producer.stop()


async def consume_each(bootstrap: str, topic: str, n: int, handle: Callable[[Any], Awaitable[None]],
                       **config: Any) -> list[Any]:
    """`async for` over `n` records of `topic` with a new consumer, awaiting `handle(record)` in the loop body."""
    consumer = new_consumer(bootstrap, topic, **config)
    await consumer.start()
    seen: list[Any] = []
    try:
        async with asyncio.timeout(TIMEOUT):
            async for record in consumer:
                await handle(record)
                seen.append(record)
                if len(seen) >= n:
                    break
    finally:
        await consumer.stop()
    assert len(seen) == n, f"consumed {len(seen)} of {n}"
    return seen


async def get_all(consumer: AIOKafkaConsumer, n: int) -> list[dict[Any, list[Any]]]:
    """`getmany` until `n` records arrived; returns the non-empty batches."""
    batches: list[dict[Any, list[Any]]] = []
    got = 0
    async with asyncio.timeout(TIMEOUT):
        while got < n:
            batch = await consumer.getmany(timeout_ms=500)
            if batch:
                batches.append(batch)
                got += sum(len(v) for v in batch.values())
    return batches
