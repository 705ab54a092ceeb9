"""Coexistence with opentelemetry-instrumentation-confluent-kafka 0.66b1: a record is never traced twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import confluent_kafka
import pytest
from confluent_kafka import cimpl
from confluent_support import consumer, poll_one, produce_sync, producer
from instr_support import Otel
from opentelemetry.instrumentation.confluent_kafka import ConfluentKafkaInstrumentor as UpstreamInstrumentor

from eventlens.instrumentation.confluent_kafka import TracedConsumer, TracedProducer

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


SCRIPT = textwrap.dedent("""
    import json, sys, uuid
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    from confluent_kafka import Consumer, Producer
    bootstrap, topic = sys.argv[1], sys.argv[2]
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(topic, b"v")
    assert producer.flush(60) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": uuid.uuid4().hex,
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    msg = None
    while msg is None or msg.error() is not None:
        msg = consumer.poll(1.0)
    consumer.close()
    print(json.dumps({"headers": [k for k, _ in msg.headers()],
                      "spans": sorted(s.name for s in exporter.get_finished_spans())}))
""")


def test_opentelemetry_instrument_loads_both_and_wraps_once(kafka_bootstrap, topic_name, tmp_path: Path):
    """Under `opentelemetry-instrument` (both entry points load) records are traced once, by eventlens,
    even for classes imported by name (the instrumentors run before the program's imports)."""
    script = tmp_path / "app.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none",
           "OTEL_LOGS_EXPORTER": "none"}
    tool = Path(sys.executable).parent / "opentelemetry-instrument"
    out = subprocess.run([str(tool), sys.executable, str(script), kafka_bootstrap, topic_name], env=env,
                         capture_output=True, text=True, timeout=240, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["headers"] == ["traceparent"]
    assert result["spans"] == [f"process {topic_name}", f"send {topic_name}"]
