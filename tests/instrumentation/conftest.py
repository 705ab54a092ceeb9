"""Fixtures for the instrumentation tests: one SDK tracer/meter provider for the session, in-memory export.

OpenTelemetry lets the global TracerProvider be set once per process, so the session installs one with an
in-memory exporter and each test clears it; `instrumented` instruments kafka-python for one test.

Every test that instruments runs twice: with sampled spans recorded through the SDK (`sdk`) and with
eventlens' own spans (`fast`: the exporter accepts them, encodes each batch with eventlens' OTLP encoder
and stores them as the SDK's `ReadableSpan`), so both paths meet the same specification.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from eventlens.instrumentation import KafkaInstrumentor

CONSUMER_TIMEOUT_MS = 60_000


class PathExporter(InMemorySpanExporter):  # type: ignore[misc]
    """In-memory exporter that, when `eventlens_fast_spans` is on, takes eventlens' own spans too.

    Those are first encoded by eventlens' OTLP encoder (so every recorded span is proven encodable), then
    stored as the SDK's `ReadableSpan` for the assertions.
    """

    eventlens_fast_spans = False

    def export(self, spans: Any) -> SpanExportResult:
        from eventlens.instrumentation._fastspan import FastSpan
        from eventlens.instrumentation._otlp_encode import encode_spans

        if any(isinstance(s, FastSpan) for s in spans):
            assert self.eventlens_fast_spans, "an eventlens span reached an exporter that does not take them"
            encode_spans(spans)
            spans = [s.to_readable() if isinstance(s, FastSpan) else s for s in spans]
        return super().export(spans)


@dataclass
class Otel:
    """The session's providers and in-memory exporter/reader."""

    provider: TracerProvider
    exporter: PathExporter
    meter_provider: MeterProvider
    reader: InMemoryMetricReader

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        """Finished spans, optionally only those called `name`."""
        spans = list(self.exporter.get_finished_spans())
        return [s for s in spans if name is None or s.name == name]

    def wait_spans(self, name: str, count: int, timeout: float = 60.0) -> list[ReadableSpan]:
        """Wait until at least `count` finished spans called `name` exist (acks arrive asynchronously)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.spans(name)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"only {len(self.spans(name))} of {count} spans {name!r}: "
                             f"{[s.name for s in self.spans()]}")


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



class _NullableHeader(tuple):  # type: ignore[type-arg]
    """A header item kafka-python's send() validation accepts even with a null value.

    `send()` checks `isinstance(item[1], bytes)`, while the record builder unpacks the tuple and writes a
    null value (length -1) for None, which is what other clients put on the wire. Only the size that
    kafka-python computes for the send's future trips over None: `_null_sized_as_zero` covers that.
    """

    def __getitem__(self, index: Any) -> Any:
        value = tuple.__getitem__(self, index)
        return b"" if index == 1 and value is None else value


@contextlib.contextmanager
def _null_sized_as_zero() -> Iterator[None]:
    """While active, kafka-python's producer batch counts a null header value as 0 bytes (test shim)."""
    import builtins

    from kafka.producer import producer_batch

    producer_batch.len = lambda obj: 0 if obj is None else builtins.len(obj)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        del producer_batch.len  # type: ignore[attr-defined]


def wire_headers(headers: list[tuple[str, bytes | None]]) -> list[tuple[str, bytes | None]]:
    """The header list with null values wrapped so kafka-python puts them on the wire as null."""
    return [_NullableHeader(h) if h[1] is None else h for h in headers]


def raw_send(bootstrap: str, topic: str, records: list[tuple[bytes | None, list[tuple[str, bytes | None]]]],
             key: bytes | None = b"k") -> None:
    """Put records with these exact values and header lists on `topic`, bypassing instrumentation."""
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    try:
        with suppress_instrumentation():
            for value, headers in records:
                with _null_sized_as_zero():
                    producer.send(topic, value, key=key, headers=wire_headers(headers)).get(timeout=60)
    finally:
        producer.close()


def new_consumer(bootstrap: str, *topics: str, group: str | None = None, **config: Any) -> KafkaConsumer:
    """A consumer reading from the beginning, with a generous timeout for a loaded machine."""
    config.setdefault("consumer_timeout_ms", CONSUMER_TIMEOUT_MS)
    return KafkaConsumer(*topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                         group_id=group or f"g-{uuid.uuid4().hex[:8]}", **config)


def consume_each(bootstrap: str, topic: str, n: int, handle: Callable[[Any], None], **config: Any) -> list[Any]:
    """Iterate a new consumer over `n` records of `topic`, calling `handle(record)` inside the loop body."""
    consumer = new_consumer(bootstrap, topic, **config)
    seen: list[Any] = []
    try:
        for record in consumer:
            handle(record)
            seen.append(record)
            if len(seen) >= n:
                break
    finally:
        consumer.close()
    assert len(seen) == n, f"consumed {len(seen)} of {n}"
    return seen


def poll_all(consumer: KafkaConsumer, n: int, timeout: float = 60.0) -> list[dict[Any, list[Any]]]:
    """Poll until `n` records arrived (or fail at the deadline); returns the non-empty batches."""
    batches: list[dict[Any, list[Any]]] = []
    got = 0
    deadline = time.monotonic() + timeout
    while got < n:
        assert time.monotonic() < deadline, f"polled {got} of {n} records"
        batch = consumer.poll(timeout_ms=500)
        if batch:
            batches.append(batch)
            got += sum(len(v) for v in batch.values())
    return batches
