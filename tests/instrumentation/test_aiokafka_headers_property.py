"""Property: arbitrary header lists never make an instrumented aiokafka consumer raise or skip a record."""

# ruff: noqa: F811  (the aiokafka fixtures are imported from aiokafka_support, then requested by name)
from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiokafka_support import aio_instrument, aio_instrumented, consume_each, get_all, new_consumer, run  # noqa: F401
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from instr_support import Otel, raw_send
from test_headers_property import header_lists, payloads

from eventlens.instrumentation import _safety

pytestmark = pytest.mark.kafka


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(st.tuples(header_lists, payloads), min_size=1, max_size=4), batched=st.booleans())
def test_arbitrary_headers_never_raise_nor_skip(kafka_bootstrap, aio_instrumented: Otel, batch, batched):
    """Records with any header list reach user code in order through `async for` or `getmany`, with no
    exception from the instrumentation."""
    errors_before = set(_safety._logged)
    topic = f"t-aioprop-{uuid.uuid4().hex[:10]}"
    for i, (headers, value) in enumerate(batch):
        raw_send(kafka_bootstrap, topic, [(value, headers)], key=str(i).encode())

    async def by_getmany() -> list[Any]:
        consumer = new_consumer(kafka_bootstrap, topic, group=None)
        await consumer.start()
        try:
            batches = await get_all(consumer, len(batch))
        finally:
            await consumer.stop()
        return [r for b in batches for records in b.values() for r in records]

    async def by_iteration() -> list[Any]:
        async def keep(_r: Any) -> None:
            return None

        return await consume_each(kafka_bootstrap, topic, len(batch), keep, group=None)

    records = run(by_getmany() if batched else by_iteration())
    got = [(r.key, r.value, list(r.headers)) for r in records]
    assert [(str(i).encode(), value, headers) for i, (headers, value) in enumerate(batch)] == got
    assert len(aio_instrumented.spans(f"process {topic}")) <= len(batch)
    assert set(_safety._logged) == errors_before, "the instrumentation hit an internal error"
