"""Every vector of shared/test-vectors/trace-headers.md, its exact bytes on a real record, read by confluent-kafka.

Each test writes the header list with instrumentation suppressed, polls it with an instrumented consumer, and
checks the process span, the context current while handling, and what a record produced while handling carries.
"""

from __future__ import annotations

import pytest
from confluent_support import (
    consumer,
    poll_one,
    produce_sync,
    producer,
    raw_produce,
)
from header_vectors import VECTORS, Outcome, Vector, check
from instr_support import Otel
from opentelemetry import baggage, trace

pytestmark = pytest.mark.kafka


@pytest.mark.parametrize("vector", VECTORS, ids=[v.id for v in VECTORS])
def test_vector(kafka_bootstrap, make_topic, cinstrumented: Otel, vector: Vector):
    """The vector's header bytes on a real record give the specified process span and downstream headers."""
    source, sink = make_topic(1, "-v"), make_topic(1, "-d")
    raw_produce(kafka_bootstrap, source, [(vector.value, vector.headers)])
    p = producer(kafka_bootstrap)
    c = consumer(kafka_bootstrap, source)
    msg = poll_one(c)
    current = trace.get_current_span().get_span_context()
    entries = dict(baggage.get_all())
    produce_sync(p, sink, b"next")
    c.close()
    reader = consumer(kafka_bootstrap, sink)
    downstream = poll_one(reader)
    reader.close()
    check(vector, Outcome(msg.headers() or [], msg.value(), current, entries,
                          cinstrumented.spans(f"process {source}"), downstream.headers() or []))
