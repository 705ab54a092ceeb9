"""Coexistence with opentelemetry-instrumentation-kafka-python 0.66b1: kafka-python is never wrapped twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import kafka
import pytest
from instr_support import Otel, consume_each
from kafka import KafkaProducer
from opentelemetry.instrumentation.kafka import KafkaInstrumentor as UpstreamInstrumentor

from eventlens.instrumentation import KafkaInstrumentor, _coexist

pytestmark = pytest.mark.kafka


def _send_one(bootstrap: str, topic: str) -> list[tuple[str, bytes | None]]:
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    producer.send(topic, b"v").get(timeout=60)
    producer.close()
    (record,) = consume_each(bootstrap, topic, 1, lambda _r: None)
    return record.headers


@pytest.fixture
def upstream(otel: Otel):
    """The upstream instrumentor, uninstrumented again after the test."""
    instrumentor = UpstreamInstrumentor()
    yield instrumentor
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()


def test_eventlens_takes_over_from_active_upstream(kafka_bootstrap, topic_name, upstream, instrument):
    """Instrumenting eventlens while upstream is active uninstruments upstream: one span, one traceparent."""
    upstream.instrument()
    otel = instrument()
    assert not upstream.is_instrumented_by_opentelemetry
    assert not _coexist.wrapped_by_upstream(kafka.KafkaProducer.__dict__["send"])
    headers = _send_one(kafka_bootstrap, topic_name)
    assert [k for k, _ in headers] == ["traceparent"]
    names = {s.name for s in otel.spans()}
    assert f"send {topic_name}" in names
    assert f"{topic_name} send" not in names and f"{topic_name} receive" not in names


def test_upstream_after_eventlens_does_not_wrap(kafka_bootstrap, topic_name, upstream, instrumented: Otel):
    """Upstream instrumenting after eventlens is a no-op: still one span and one traceparent per record."""
    upstream.instrument()
    assert not _coexist.wrapped_by_upstream(kafka.KafkaProducer.__dict__["send"])
    assert not _coexist.wrapped_by_upstream(kafka.KafkaConsumer.__dict__["__next__"])
    headers = _send_one(kafka_bootstrap, topic_name)
    assert [k for k, _ in headers] == ["traceparent"]
    assert len(instrumented.spans(f"send {topic_name}")) == 1
    assert not [s for s in instrumented.spans() if s.name.endswith((" send", " receive"))]


def test_upstream_uninstrument_leaves_eventlens_in_place(kafka_bootstrap, topic_name, upstream,
                                                         instrumented: Otel):
    """A skipped upstream's `uninstrument()` does not remove eventlens' wrappers."""
    upstream.instrument()
    upstream.uninstrument()
    assert hasattr(kafka.KafkaProducer.send, "__wrapped__")
    _send_one(kafka_bootstrap, topic_name)
    assert len(instrumented.spans(f"send {topic_name}")) == 1


def test_upstream_works_alone_when_eventlens_is_off(kafka_bootstrap, topic_name, upstream, otel: Otel):
    """With eventlens not instrumented, the upstream instrumentor still instruments normally."""
    assert not KafkaInstrumentor().is_instrumented_by_opentelemetry
    otel.exporter.clear()
    upstream.instrument(tracer_provider=otel.provider)
    assert _coexist.wrapped_by_upstream(kafka.KafkaProducer.__dict__["send"])
    _send_one(kafka_bootstrap, topic_name)
    assert otel.spans(f"{topic_name} send")


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
    from kafka import KafkaConsumer, KafkaProducer
    bootstrap, topic = sys.argv[1], sys.argv[2]
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    producer.send(topic, b"v").get(timeout=60)
    producer.close()
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             group_id=uuid.uuid4().hex, consumer_timeout_ms=60000)
    record = next(consumer)
    consumer.close()
    print(json.dumps({"headers": [k for k, _ in record.headers],
                      "spans": sorted(s.name for s in exporter.get_finished_spans())}))
""")


def test_opentelemetry_instrument_loads_both_and_wraps_once(kafka_bootstrap, topic_name, tmp_path: Path):
    """Under `opentelemetry-instrument` (both entry points load) records are traced once, by eventlens."""
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
