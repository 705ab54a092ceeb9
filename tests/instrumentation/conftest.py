"""Fixtures for the instrumentation tests: one SDK tracer/meter provider for the session, in-memory export.

OpenTelemetry lets the global TracerProvider be set once per process, so the session installs one with an
in-memory exporter and each test clears it; `instrumented` instruments kafka-python for one test.

Every test that instruments runs twice: with sampled spans recorded through the SDK (`sdk`) and with
eventlens' own spans (`fast`: the exporter accepts them, encodes each batch with eventlens' OTLP encoder
and stores them as the SDK's `ReadableSpan`), so both paths meet the same specification.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from instr_support import Otel, PathExporter
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from eventlens.instrumentation import KafkaInstrumentor


@pytest.fixture(scope="session")
def otel() -> Otel:
    """The session-wide SDK providers (the tracer provider is also the global one)."""
    exporter = PathExporter()
    provider = TracerProvider(span_limits=SpanLimits(max_links=1024))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    return Otel(provider, exporter, meter_provider, reader)


@pytest.fixture(params=["sdk", "fast"])
def span_path(request: pytest.FixtureRequest, otel: Otel) -> Iterator[str]:
    """Which way sampled spans are recorded in this test: through the SDK or as eventlens' own spans."""
    otel.exporter.eventlens_fast_spans = request.param == "fast"
    yield request.param
    otel.exporter.eventlens_fast_spans = False


@pytest.fixture
def instrument(otel: Otel, span_path: str) -> Iterator[Callable[..., Otel]]:
    """`instrument(**options)` instruments kafka-python for this test with the session providers."""
    instrumentor = KafkaInstrumentor()

    def _instrument(**options: Any) -> Otel:
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
        otel.exporter.clear()
        instrumentor.instrument(tracer_provider=otel.provider, meter_provider=otel.meter_provider, **options)
        from eventlens.instrumentation.instrumentor import active_runtime

        runtime = active_runtime()
        assert runtime is not None and (runtime.sink is not None) == (span_path == "fast")
        return otel

    yield _instrument
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    otel.exporter.clear()


@pytest.fixture
def instrumented(instrument: Callable[..., Otel]) -> Otel:
    """kafka-python instrumented with default options for this test."""
    return instrument()


@pytest.fixture
def cinstrument(otel: Otel, span_path: str) -> Iterator[Callable[..., Otel]]:
    """`cinstrument(**options)` instruments confluent-kafka for this test with the session providers."""
    from eventlens.instrumentation import ConfluentKafkaInstrumentor
    from eventlens.instrumentation._confluent import active_runtime

    instrumentor = ConfluentKafkaInstrumentor()

    def _instrument(**options: Any) -> Otel:
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
        otel.exporter.clear()
        instrumentor.instrument(tracer_provider=otel.provider, meter_provider=otel.meter_provider, **options)
        runtime = active_runtime()
        assert runtime is not None and (runtime.sink is not None) == (span_path == "fast")
        return otel

    yield _instrument
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    otel.exporter.clear()


@pytest.fixture
def cinstrumented(cinstrument: Callable[..., Otel]) -> Otel:
    """confluent-kafka instrumented with default options for this test."""
    return cinstrument()
