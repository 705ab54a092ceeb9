"""What the instrumentation tests share besides fixtures: the session's OpenTelemetry handles and Kafka helpers.

Test modules import these from here (never from `conftest`, a name every test folder has).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

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
