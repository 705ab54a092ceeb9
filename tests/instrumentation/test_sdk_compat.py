"""The one seam to OpenTelemetry's private internals (`_sdk_compat`): probed once per runtime; with every
private present the fast paths run, and with any one missing every span still flows, through the SDK.

A private is made missing in two ways. Renamed: the name the probe and the accessors look for is changed
(what an SDK release renaming that private does to eventlens, while the SDK itself keeps working) — for
every private in `PRIVATES`. Deleted: `monkeypatch.delattr` on the SDK/API module — for the privates the
SDK itself does not need on the path the test exercises (deleting any other breaks the SDK on its own).
Spans are checked end to end on the real broker: a send span, and a process span parented on it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from eventlens.instrumentation import KafkaInstrumentor, _current, _propagation, _sdk_compat
from eventlens.instrumentation._fastspan import FastSpan
from eventlens.instrumentation._sdk_compat import PRIVATES, Private


class _Exporter(InMemorySpanExporter):  # type: ignore[misc]
    """Takes eventlens' own spans (counted, stored as ReadableSpan) and SDK spans."""

    eventlens_fast_spans = True

    def __init__(self) -> None:
        super().__init__()
        self.fast_spans = 0

    def export(self, spans: Any) -> SpanExportResult:
        self.fast_spans += sum(isinstance(s, FastSpan) for s in spans)
        return super().export([s.to_readable() if isinstance(s, FastSpan) else s for s in spans])


@dataclass
class _Setup:
    exporter: _Exporter
    runtime: Any


def _instrument(processor: str = "simple") -> tuple[_Setup, KafkaInstrumentor, TracerProvider]:
    exporter = _Exporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter) if processor == "simple"
                                else BatchSpanProcessor(exporter, schedule_delay_millis=50))
    instrumentor = KafkaInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    instrumentor.instrument(tracer_provider=provider, metrics=False)
    from eventlens.instrumentation.instrumentor import active_runtime

    return _Setup(exporter, active_runtime()), instrumentor, provider


@pytest.fixture
def instrumented() -> Iterator[Any]:
    """`instrumented(processor)` instruments kafka-python on a provider of its own; undone afterwards."""
    made: list[tuple[KafkaInstrumentor, TracerProvider]] = []

    def _make(processor: str = "simple") -> _Setup:
        setup, instrumentor, provider = _instrument(processor)
        made.append((instrumentor, provider))
        return setup

    yield _make
    for instrumentor, provider in made:
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
        provider.shutdown()
    _sdk_compat.probe()  # leave the module-level fast functions as the installed SDK allows


def _round_trip(bootstrap: str, topic: str) -> None:
    """Send one record (instrumented) and read it back with an instrumented consumer (no group: assign)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    try:
        producer.send(topic, b"value", key=b"k").get(timeout=60)
    finally:
        producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, consumer_timeout_ms=30_000, enable_auto_commit=False)
    try:
        consumer.assign([TopicPartition(topic, 0)])
        consumer.seek_to_beginning()
        for _record in consumer:
            break
    finally:
        consumer.close()  # ends the process span


def _spans_flow(exporter: _Exporter, topic: str) -> tuple[ReadableSpan, ReadableSpan]:
    spans = list(exporter.get_finished_spans())
    (send,) = [s for s in spans if s.name == f"send {topic}"]
    (process,) = [s for s in spans if s.name == f"process {topic}"]
    assert process.parent is not None and process.parent.span_id == send.context.span_id
    assert send.attributes and send.attributes["messaging.destination.name"] == topic
    assert process.attributes and process.attributes["messaging.kafka.offset"] == 0
    return send, process


def _topic() -> str:
    return f"t-sdk-compat-{uuid.uuid4().hex[:10]}"


def test_every_private_is_present_on_the_installed_sdk() -> None:
    """The installed opentelemetry-sdk has every private eventlens reads (else the fast paths are off)."""
    assert _sdk_compat.missing_privates() == []


@pytest.mark.kafka
def test_fast_path_is_used_when_every_private_is_present(instrumented: Any, kafka_bootstrap: str) -> None:
    """With every private present, sends and process spans are eventlens' own spans, parented as usual."""
    setup = instrumented()
    assert setup.runtime.fast is not None and setup.runtime.sink is not None
    topic = _topic()
    _round_trip(kafka_bootstrap, topic)
    _spans_flow(setup.exporter, topic)
    assert setup.exporter.fast_spans == 2


@pytest.mark.kafka
def test_fast_path_with_a_batch_processor_reaches_its_queue(instrumented: Any, kafka_bootstrap: str) -> None:
    """With a BatchSpanProcessor the seam finds its exporter and queue: own spans go through the queue."""
    setup = instrumented("batch")
    assert setup.runtime.sink is not None
    topic = _topic()
    _round_trip(kafka_bootstrap, topic)
    setup.runtime.tracer.span_processor.force_flush()
    _spans_flow(setup.exporter, topic)
    assert setup.exporter.fast_spans == 2


@pytest.mark.kafka
def test_the_probe_runs_once_per_runtime_not_per_span(instrumented: Any, kafka_bootstrap: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Instrumenting probes the internals once; sending and consuming records probes nothing more."""
    calls: list[Any] = []
    probe_once = _sdk_compat.missing_privates
    monkeypatch.setattr(_sdk_compat, "missing_privates", lambda tracer=None: calls.append(tracer) or probe_once(tracer))
    setup = instrumented()
    assert len(calls) == 1
    topic = _topic()
    for _ in range(3):
        _round_trip(kafka_bootstrap, topic)
    assert len(calls) == 1
    assert setup.exporter.fast_spans == 3 + 3


@pytest.fixture
def renamed(request: pytest.FixtureRequest) -> Iterator[Private]:
    """The private named by the test's parameter, renamed away for the test (restored afterwards)."""
    private: Private = request.param
    original = private.name
    object.__setattr__(private, "name", original + "_renamed_by_a_future_sdk")
    try:
        yield private
    finally:
        object.__setattr__(private, "name", original)


@pytest.mark.kafka
@pytest.mark.parametrize("renamed", PRIVATES, ids=[p.label() for p in PRIVATES], indirect=True)
def test_a_renamed_private_sends_every_span_through_the_sdk(renamed: Private, instrumented: Any,
                                                           kafka_bootstrap: str,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    """With one private missing the runtime takes the SDK path for good, says so once, and spans still flow."""
    caplog.set_level(logging.WARNING, logger="eventlens.instrumentation")
    _sdk_compat._warned.clear()
    setup = instrumented("batch")
    assert setup.runtime.fast is None and setup.runtime.sink is None
    warnings = [r.getMessage() for r in caplog.records if "internals not found" in r.getMessage()]
    assert len(warnings) == 1 and renamed.label() in warnings[0]
    topic = _topic()
    _round_trip(kafka_bootstrap, topic)
    setup.runtime.tracer.span_processor.force_flush()
    _spans_flow(setup.exporter, topic)
    assert setup.exporter.fast_spans == 0


DELETABLE = [
    ("opentelemetry.context", "_SUPPRESS_INSTRUMENTATION_KEY"),
]
"""Privates the SDK/API do not use after import, so deleting them leaves the SDK path working end to end."""


@pytest.mark.kafka
@pytest.mark.parametrize(("module", "name"), DELETABLE)
def test_a_deleted_private_sends_every_span_through_the_sdk(module: str, name: str, instrumented: Any,
                                                           kafka_bootstrap: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Deleting a private from its SDK/API module turns the fast paths off; spans still flow, parented."""
    import importlib

    monkeypatch.delattr(importlib.import_module(module), name)
    setup = instrumented()
    assert setup.runtime.fast is None and setup.runtime.sink is None
    topic = _topic()
    _round_trip(kafka_bootstrap, topic)
    _spans_flow(setup.exporter, topic)
    assert setup.exporter.fast_spans == 0


def test_a_deleted_link_check_is_found_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """`_is_valid_link` deleted from the SDK module is reported by the probe (the SDK needs it for links)."""
    import opentelemetry.sdk.trace as sdk_trace

    monkeypatch.delattr(sdk_trace, "_is_valid_link")
    assert _sdk_compat.missing_privates() == ["opentelemetry.sdk.trace._is_valid_link"]


def test_a_failed_probe_switches_the_context_reads_to_the_public_api(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a failed probe `_current` and `_propagation` use the public API; a good probe restores them."""
    from opentelemetry import baggage, context

    monkeypatch.delattr(context, "_SUPPRESS_INSTRUMENTATION_KEY")
    assert _sdk_compat.probe() is False
    assert _sdk_compat.context_keys() is None and _propagation._TRACEPARENT_RE is None
    ctx = baggage.set_baggage("k", "v")
    assert _current.has_baggage(ctx) and _current.span_context(_current.span_in(ctx)) is not None
    monkeypatch.undo()
    assert _sdk_compat.probe() is True
    assert _sdk_compat.context_keys() is not None and _propagation._TRACEPARENT_RE is not None
    assert _current.has_baggage(ctx)


def test_the_probe_warns_once_for_the_same_missing_set(monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """Building runtimes again with the same private missing logs one warning, not one per build."""
    from opentelemetry import context

    caplog.set_level(logging.WARNING, logger="eventlens.instrumentation")
    _sdk_compat._warned.clear()
    monkeypatch.delattr(context, "_SUPPRESS_INSTRUMENTATION_KEY")
    for _ in range(3):
        _sdk_compat.probe()
    assert sum("internals not found" in r.getMessage() for r in caplog.records) == 1
    monkeypatch.undo()
    _sdk_compat.probe()


# --- the metrics privates (the histogram merge of `_histograms.py`) -------------------------------------------

def test_every_metrics_private_is_present_on_the_installed_sdk() -> None:
    """The installed opentelemetry-sdk has every metrics private the histogram merge reads."""
    assert _sdk_compat.missing_metric_privates() == []


def _recorded(reader: Any) -> tuple[dict[Any, int], int, float]:
    """(sent counts by error type, send-duration count, send-duration sum) as the reader exports them."""
    data = reader.get_metrics_data()
    points = [(metric.name, p) for rm in data.resource_metrics for sm in rm.scope_metrics for metric in sm.metrics
              for p in metric.data.data_points]
    sent = {p.attributes.get("error.type"): p.value for name, p in points if name == "messaging.client.sent.messages"}
    durations = [p for name, p in points if name == "messaging.client.operation.duration"]
    return sent, sum(p.count for p in durations), round(sum(p.sum for p in durations), 9)


def _send_metrics(reader: Any) -> Any:
    from opentelemetry.sdk.metrics import MeterProvider

    from eventlens.instrumentation._metrics import MessagingMetrics

    metrics = MessagingMetrics(MeterProvider(metric_readers=[reader]))
    for i in range(5):
        metrics.record_send("orders", 0.01 * (i + 1))
        metrics.record_send("orders", 0.5, "KafkaTimeoutError")
    return metrics


def test_with_every_metrics_private_the_histograms_merge_and_stay_exact() -> None:
    """With the privates present the histograms merge locally, and export every measurement."""
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    metrics = _send_metrics(reader)
    assert metrics._operation.merge is True
    assert _recorded(reader) == ({None: 5, "KafkaTimeoutError": 5}, 10, 2.65)


@pytest.mark.parametrize("renamed", _sdk_compat.METRIC_PRIVATES,
                         ids=[p.label() for p in _sdk_compat.METRIC_PRIVATES], indirect=True)
def test_a_renamed_metrics_private_records_every_measurement_through_the_sdk(
        renamed: Private, caplog: pytest.LogCaptureFixture) -> None:
    """With one metrics private missing the histograms use the SDK's `record()` for good, say so once, and
    every count and duration is still exported exactly."""
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    caplog.set_level(logging.WARNING, logger="eventlens.instrumentation")
    _sdk_compat._warned.clear()
    reader = InMemoryMetricReader()
    metrics = _send_metrics(reader)
    assert metrics._operation.merge is False and metrics._process.merge is False
    warnings = [r.getMessage() for r in caplog.records if "metrics internals not found" in r.getMessage()]
    assert len(warnings) == 1 and renamed.label() in warnings[0]
    assert _recorded(reader) == ({None: 5, "KafkaTimeoutError": 5}, 10, 2.65)
