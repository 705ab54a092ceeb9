"""Property: arbitrary header lists never make an instrumented confluent-kafka consumer raise or skip a record."""

from __future__ import annotations

import uuid

import pytest
from confluent_support import consumer, poll_one, raw_produce
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from instr_support import Otel
from test_headers_property import names, payloads, values

from eventlens.instrumentation import _safety

pytestmark = pytest.mark.kafka
# librdkafka takes header names as C strings: a NUL ends the name on the wire, with or without eventlens
header_lists = st.lists(st.tuples(names.filter(lambda name: "\x00" not in name), values), max_size=8)
hypothesis_settings = settings(max_examples=30, deadline=None,
                               suppress_health_check=[HealthCheck.function_scoped_fixture])


@hypothesis_settings
@given(batch=st.lists(st.tuples(header_lists, payloads), min_size=1, max_size=4))
def test_arbitrary_headers_never_raise_nor_skip(kafka_bootstrap, cinstrumented: Otel, batch):
    """Records with any header list reach user code through poll() in order, with no internal error."""
    errors_before = set(_safety._logged)
    topic = f"t-cprop-{uuid.uuid4().hex[:10]}"
    raw_produce(kafka_bootstrap, topic, [(value, headers) for headers, value in batch])
    c = consumer(kafka_bootstrap, topic)
    try:
        got = [poll_one(c) for _ in batch]
    finally:
        c.close()
    assert [(value, headers) for headers, value in batch] == [(m.value(), m.headers() or []) for m in got]
    assert len(cinstrumented.spans(f"process {topic}")) <= len(batch)
    assert set(_safety._logged) == errors_before, "the instrumentation hit an internal error"
