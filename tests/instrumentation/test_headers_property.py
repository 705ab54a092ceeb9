"""Property: arbitrary header lists never make an instrumented consumer raise or skip a record."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from instr_support import Otel, _null_sized_as_zero, new_consumer, wire_headers
from kafka import KafkaProducer
from opentelemetry.instrumentation.utils import suppress_instrumentation

from eventlens.instrumentation import _safety

pytestmark = pytest.mark.kafka

T = "4bf92f3577b34da6a3ce929d0e0e4736"
S = "00f067aa0ba902b7"

names = st.sampled_from(["traceparent", "tracestate", "baggage", "ce_id", "ce_type", "ce_source",
                         "ce_specversion", "ce_traceparent", "content-type", "correlation-id", "reply-to",
                         "Traceparent"]) | st.text(max_size=12)
values = st.none() | st.binary(max_size=80) | st.sampled_from([
    f"00-{T}-{S}-01".encode(), f"00-{T}-{S}-03".encode(), f"01-{T}-{S}-01-x".encode(), b"\xff\xfe00",
    b"application/cloudevents+json", b"k=a+b;prop=1", b"=,;%%", "é".encode("latin-1")])
header_lists = st.lists(st.tuples(names, values), max_size=8)
payloads = st.none() | st.binary(max_size=60) | st.sampled_from(
    [b"{", b'{"id": 1, "type": []}', b"\x00\x00\x00\x00\x07x"])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(st.tuples(header_lists, payloads), min_size=1, max_size=4))
def test_arbitrary_headers_never_raise_nor_skip(kafka_bootstrap, instrumented: Otel, batch):
    """Records with any header list reach user code in order, with no exception from the instrumentation."""
    errors_before = set(_safety._logged)
    topic = f"t-prop-{uuid.uuid4().hex[:10]}"
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    with suppress_instrumentation(), _null_sized_as_zero():
        for i, (headers, value) in enumerate(batch):
            producer.send(topic, value, key=str(i).encode(), headers=wire_headers(headers)).get(timeout=60)
    producer.close()
    consumer = new_consumer(kafka_bootstrap, topic)
    got = []
    try:
        for record in consumer:
            got.append((record.key, record.value, record.headers))
            if len(got) == len(batch):
                break
    finally:
        consumer.close()
    assert [(str(i).encode(), value, headers) for i, (headers, value) in enumerate(batch)] == got
    assert len(instrumented.spans(f"process {topic}")) <= len(batch)
    assert set(_safety._logged) == errors_before, "the instrumentation hit an internal error"
