"""Every vector of shared/test-vectors/trace-headers.md (the table in header_vectors.py), its exact bytes put on
a real record, read by kafka-python.

Each test writes the header list with instrumentation suppressed, consumes it with an instrumented
iterator, and checks the process span, the context current while handling, and what a record produced
while handling carries downstream.
"""

from __future__ import annotations

from typing import Any

import pytest
from header_vectors import VECTORS, Outcome, Vector, check
from instr_support import Otel, consume_each, raw_send
from kafka import KafkaProducer
from opentelemetry import baggage, trace

pytestmark = pytest.mark.kafka


def run_vector(bootstrap: str, make_topic, otel: Otel, vector: Vector) -> Outcome:
    """Send the vector verbatim, consume with the instrumented iterator, produce downstream while handling."""
    source, sink = make_topic(1, "-v"), make_topic(1, "-d")
    raw_send(bootstrap, source, [(vector.value, vector.headers)])
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    seen: dict[str, Any] = {}

    def handle(_record):
        seen["current"] = trace.get_current_span().get_span_context()
        seen["baggage"] = dict(baggage.get_all())
        producer.send(sink, b"next").get(timeout=60)

    (record,) = consume_each(bootstrap, source, 1, handle)
    producer.close()
    (downstream,) = consume_each(bootstrap, sink, 1, lambda _r: None)
    return Outcome(record.headers, record.value, seen["current"], seen["baggage"], otel.spans(f"process {source}"),
                   downstream.headers)


@pytest.mark.parametrize("vector", VECTORS, ids=[v.id for v in VECTORS])
def test_vector(kafka_bootstrap, make_topic, instrumented: Otel, vector: Vector):
    """The vector's header bytes on a real record give the specified process span and downstream headers."""
    check(vector, run_vector(kafka_bootstrap, make_topic, instrumented, vector))
