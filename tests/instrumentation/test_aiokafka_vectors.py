"""Every vector of shared/test-vectors/trace-headers.md (the table in header_vectors.py), its exact bytes on a
real record, read by aiokafka.

The record is written verbatim with instrumentation suppressed, then read with an instrumented `async for`; the
loop body records the current context and sends downstream with `send_and_wait`.
"""

# ruff: noqa: F811  (the aiokafka fixtures are imported from aiokafka_support, then requested by name)
from __future__ import annotations

from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka_support import aio_instrument, aio_instrumented, consume_each, run  # noqa: F401
from header_vectors import VECTORS, Outcome, Vector, check
from instr_support import Otel, raw_send
from opentelemetry import baggage, trace

pytestmark = pytest.mark.kafka


async def _ignore(_record: Any) -> None:
    return None


@pytest.mark.parametrize("vector", VECTORS, ids=[v.id for v in VECTORS])
def test_vector(kafka_bootstrap, make_topic, aio_instrumented: Otel, vector: Vector):
    """The vector's header bytes on a real record give the specified process span and downstream headers."""
    source, sink = make_topic(1, "-v"), make_topic(1, "-d")
    raw_send(kafka_bootstrap, source, [(vector.value, vector.headers)])
    seen: dict[str, Any] = {}

    async def main() -> tuple[Any, Any]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()

        async def handle(_record: Any) -> None:
            seen["current"] = trace.get_current_span().get_span_context()
            seen["baggage"] = dict(baggage.get_all())
            await producer.send_and_wait(sink, b"next")

        try:
            (record,) = await consume_each(kafka_bootstrap, source, 1, handle)
        finally:
            await producer.stop()
        (downstream,) = await consume_each(kafka_bootstrap, sink, 1, _ignore)
        return record, downstream

    record, downstream = run(main())
    check(vector, Outcome(list(record.headers), record.value, seen["current"], seen["baggage"],
                          aio_instrumented.spans(f"process {source}"), list(downstream.headers)))
