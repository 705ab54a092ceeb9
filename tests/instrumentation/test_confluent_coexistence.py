"""Coexistence with opentelemetry-instrumentation-confluent-kafka 0.66b1: a record is never traced twice."""

from __future__ import annotations

import confluent_kafka
import pytest
from confluent_kafka import cimpl
from confluent_support import consumer, poll_one, produce_sync, producer
from conftest import Otel
from eventlens.instrumentation.confluent_kafka import TracedConsumer, TracedProducer
from opentelemetry.instrumentation.confluent_kafka import ConfluentKafkaInstrumentor as UpstreamInstrumentor

pytestmark = pytest.mark.kafka


@pytest.fixture
def upstream(otel: Otel):
    """The upstream instrumentor, uninstrumented again after the test."""
    instrumentor = UpstreamInstrumentor()
    yield instrumentor
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()


def _send_and_read(bootstrap: str, topic: str) -> list[str]:
    produce_sync(producer(bootstrap), topic)
    c = consumer(bootstrap, topic)
    msg = poll_one(c)
    c.close()
    return [k for k, _ in msg.headers() or []]


def _upstream_spans(otel: Otel) -> list[str]:
    return [s.name for s in otel.spans() if s.instrumentation_scope is not None
            and s.instrumentation_scope.name.startswith("opentelemetry.instrumentation.confluent_kafka")]


def test_eventlens_takes_over_from_active_upstream(kafka_bootstrap, topic_name, upstream, cinstrument):
    """Instrumenting eventlens while upstream is active uninstruments upstream: one span, one traceparent."""
    upstream.instrument()
    assert confluent_kafka.Producer.__module__.startswith("opentelemetry")
    otel = cinstrument()
    assert not upstream.is_instrumented_by_opentelemetry
    assert confluent_kafka.Producer is TracedProducer and confluent_kafka.Consumer is TracedConsumer
    assert _send_and_read(kafka_bootstrap, topic_name) == ["traceparent"]
    assert len(otel.spans(f"send {topic_name}")) == 1 and len(otel.spans(f"process {topic_name}")) == 1
    assert _upstream_spans(otel) == []


def test_upstream_after_eventlens_does_not_wrap(kafka_bootstrap, topic_name, upstream, cinstrumented: Otel):
    """Upstream instrumenting after eventlens is a no-op, and its uninstrument leaves eventlens in place."""
    upstream.instrument()
    assert confluent_kafka.Producer is TracedProducer
    assert _send_and_read(kafka_bootstrap, topic_name) == ["traceparent"]
    assert len(cinstrumented.spans(f"send {topic_name}")) == 1
    assert _upstream_spans(cinstrumented) == []
    upstream.uninstrument()
    assert confluent_kafka.Producer is TracedProducer


def test_upstream_works_again_after_eventlens_uninstruments(upstream, cinstrumented: Otel):
    """Once eventlens is gone the upstream instrumentor applies as usual (the guard only defers)."""
    from eventlens.instrumentation import ConfluentKafkaInstrumentor

    ConfluentKafkaInstrumentor().uninstrument()
    assert confluent_kafka.Producer is cimpl.Producer
    upstream.instrument()
    assert confluent_kafka.Producer.__module__.startswith("opentelemetry")
