"""Coexistence with opentelemetry-instrumentation-aiokafka: aiokafka is never wrapped twice, in either order."""

# ruff: noqa: F811  (the aiokafka fixtures are imported from aiokafka_support, then requested by name)
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import aiokafka
import pytest
from aiokafka_support import aio_instrument, aio_instrumented, consume_each, produce, run  # noqa: F401
from instr_support import Otel
from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor as UpstreamInstrumentor

from eventlens.instrumentation import _coexist
from eventlens.instrumentation.aiokafka import UPSTREAM_WRAPPED

pytestmark = pytest.mark.kafka
UPSTREAM_MODULE = "opentelemetry.instrumentation.aiokafka"


def _round_trip(bootstrap: str, topic: str) -> list[tuple[str, bytes | None]]:
    async def main() -> list[Any]:
        await produce(bootstrap, topic, [b"v"])

        async def keep(_r: Any) -> None:
            return None

        return await consume_each(bootstrap, topic, 1, keep)

    (record,) = run(main())
    return list(record.headers)


def _upstream_names(otel: Otel) -> list[str]:
    return [s.name for s in otel.spans() if s.name.endswith((" send", " receive"))]


@pytest.fixture
def upstream(otel: Otel):
    """The upstream instrumentor, uninstrumented again after the test."""
    instrumentor = UpstreamInstrumentor()
    yield instrumentor
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()


def test_eventlens_takes_over_from_active_upstream(kafka_bootstrap, make_topic, upstream, aio_instrument):
    """Instrumenting eventlens while upstream is active uninstruments it: one span, one traceparent."""
    upstream.instrument()
    assert _coexist.wrapped_by_upstream(aiokafka.AIOKafkaProducer.__dict__["send"], UPSTREAM_MODULE)
    otel = aio_instrument()
    assert not upstream.is_instrumented_by_opentelemetry
    for cls, method in UPSTREAM_WRAPPED:
        assert not _coexist.wrapped_by_upstream(getattr(aiokafka, cls).__dict__[method], UPSTREAM_MODULE)
    topic = make_topic(1)
    headers = _round_trip(kafka_bootstrap, topic)
    assert [k for k, _ in headers] == ["traceparent"]
    assert len(otel.spans(f"send {topic}")) == 1
    assert _upstream_names(otel) == []


def test_upstream_after_eventlens_does_not_wrap(kafka_bootstrap, make_topic, upstream, aio_instrumented: Otel):
    """Upstream instrumenting after eventlens is a no-op: still one span and one traceparent per record."""
    upstream.instrument()
    for cls, method in UPSTREAM_WRAPPED:
        assert not _coexist.wrapped_by_upstream(getattr(aiokafka, cls).__dict__[method], UPSTREAM_MODULE)
    topic = make_topic(1)
    headers = _round_trip(kafka_bootstrap, topic)
    assert [k for k, _ in headers] == ["traceparent"]
    assert len(aio_instrumented.spans(f"send {topic}")) == 1
    assert len(aio_instrumented.spans(f"process {topic}")) == 1
    assert _upstream_names(aio_instrumented) == []


def test_upstream_uninstrument_leaves_eventlens_in_place(kafka_bootstrap, make_topic, upstream,
                                                         aio_instrumented: Otel):
    """A skipped upstream's `uninstrument()` does not remove eventlens' wrappers."""
    upstream.instrument()
    upstream.uninstrument()
    assert hasattr(aiokafka.AIOKafkaProducer.send, "__wrapped__")
    topic = make_topic(1)
    _round_trip(kafka_bootstrap, topic)
    assert len(aio_instrumented.spans(f"send {topic}")) == 1


def test_upstream_works_alone_when_eventlens_is_off(kafka_bootstrap, make_topic, upstream, otel: Otel):
    """With eventlens not instrumented, the upstream aiokafka instrumentor still instruments normally."""
    otel.exporter.clear()
    upstream.instrument(tracer_provider=otel.provider)
    topic = make_topic(1)
    headers = _round_trip(kafka_bootstrap, topic)
    assert [k for k, _ in headers] == ["traceparent"]
    assert f"{topic} send" in _upstream_names(otel)


SCRIPT = textwrap.dedent("""
    import asyncio, json, sys
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    async def main(bootstrap, topic):
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        await producer.send_and_wait(topic, b"v")
        await producer.stop()
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
        await consumer.start()
        record = await consumer.getone()
        await consumer.stop()
        return record

    record = asyncio.run(main(sys.argv[1], sys.argv[2]))
    print(json.dumps({"headers": [k for k, _ in record.headers],
                      "spans": sorted(s.name for s in exporter.get_finished_spans())}))
""")


def test_opentelemetry_instrument_loads_both_and_wraps_once(kafka_bootstrap, make_topic, tmp_path: Path):
    """Under `opentelemetry-instrument` (both aiokafka entry points load) records are traced once, by eventlens."""
    topic = make_topic(1)
    script = tmp_path / "app.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none",
           "OTEL_LOGS_EXPORTER": "none"}
    tool = Path(sys.executable).parent / "opentelemetry-instrument"
    out = subprocess.run([str(tool), sys.executable, str(script), kafka_bootstrap, topic], env=env,
                         capture_output=True, text=True, timeout=240, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["headers"] == ["traceparent"]
    assert result["spans"] == [f"process {topic}", f"send {topic}"]
