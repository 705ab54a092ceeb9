"""Adjusted counts: stored spans' sampling thresholds, counts estimated from 1%-sampled spans, and the check
against the exact messaging counters the collector received."""

from __future__ import annotations

import random
import time

import pytest
from analysis_builders import T0, process, send
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource

from eventlens.collector.adjusted import SAMPLING_THRESHOLD, span_adjusted_count
from eventlens.collector.analysis.query import sampling_check
from eventlens.collector.analysis.sampling import check, estimate
from eventlens.collector.exact_counts import ExactCounts
from eventlens.collector.otlp import flatten
from eventlens.collector.storage.protocol import open_store
from eventlens.instrumentation._metrics import MessagingMetrics
from eventlens.instrumentation.sampling import ConsistentProbabilitySampler


def _decoded(trace_state: str):
    span = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="send orders", kind=Span.SPAN_KIND_PRODUCER,
                trace_state=trace_state, start_time_unix_nano=1, end_time_unix_nano=2)
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])])
    return flatten(request).spans[0]


def test_the_threshold_in_a_spans_trace_state_becomes_an_attribute():
    """`ot=th:fd70a` in the trace state is stored as `eventlens.sampling.threshold` (adjusted count ≈ 100)."""
    span = _decoded("vendor=x,ot=rv:00000000000001;th:fd70a")
    assert span.attributes[SAMPLING_THRESHOLD] == "fd70a"
    assert span_adjusted_count(span) == pytest.approx(99.9977, rel=1e-5)


@pytest.mark.parametrize("trace_state", ["", "vendor=x", "ot=rv:00000000000001", "ot=th:zz"])
def test_no_valid_threshold_no_attribute(trace_state):
    """Without a valid `th` the span has no threshold: its adjusted count is unknown (None)."""
    span = _decoded(trace_state)
    assert SAMPLING_THRESHOLD not in span.attributes
    assert span_adjusted_count(span) is None


def test_unsampled_spans_count_once_and_are_reported():
    """A span without a threshold counts as one message and is counted among `without_threshold`."""
    [e] = estimate([send("shop", "orders"), send("shop", "orders", attrs={SAMPLING_THRESHOLD: "8"})])
    assert (e.spans, e.estimated, e.without_threshold) == (2, 3.0, 1)


def _sampled_sends(n: int, rate: float, seed: int) -> list:
    """The `send` spans a 1-in-(1/rate) consistent sampler keeps out of `n` messages, as the collector stores them."""
    sampler = ConsistentProbabilitySampler(rate)
    rng = random.Random(seed)
    kept = []
    for i in range(n):
        result = sampler.should_sample(None, rng.getrandbits(128), "send orders")
        if result.decision.is_sampled():
            th = result.trace_state.get("ot").removeprefix("th:")
            kept.append(send("shop", "orders", at_ms=i * 0.01, attrs={SAMPLING_THRESHOLD: th}))
    return kept


def _exact(n: int) -> ExactCounts:
    """What the collector holds after the instrumentation's counters for `n` sends reached /v1/metrics."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], resource=Resource({"service.name": "shop"}))
    metrics = MessagingMetrics(provider)
    for _ in range(n):
        metrics.record_send("orders", 0.001)
    exact = ExactCounts()
    exact.add_request(encode_metrics(reader.get_metrics_data()))
    return exact


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_one_percent_adjusted_counts_are_within_the_statistical_error_of_the_exact_counts(seed):
    """From 1%-sampled spans, the estimate of 60 000 sends is within 3 σ (σ = √(n(1−p)/p) ≈ 2 437) of the exact
    counter, and the reported error is that σ."""
    n, rate = 60_000, 0.01
    kept = _sampled_sends(n, rate, seed)
    exact = _exact(n).totals(0, time.time_ns() + 10**9)
    assert exact == {("send", "shop", "orders", None): n}
    [row] = check(estimate(kept), exact)
    sigma = (n * (1 - rate) / rate) ** 0.5
    assert abs(row.estimated - n) <= 3 * sigma
    assert row.stderr == pytest.approx(sigma, rel=0.25)
    assert row.within_error is True
    assert row.ratio == pytest.approx(row.estimated / n)


def test_a_wrong_threshold_shows_up_in_the_ratio():
    """Spans claiming 1% while everything was kept: the estimate is ≈ 100× the exact count, outside the error."""
    spans = [send("shop", "orders", attrs={SAMPLING_THRESHOLD: "fd70a"}) for _ in range(500)]
    [row] = check(estimate(spans), {("send", "shop", "orders", None): 500})
    assert row.ratio == pytest.approx(99.9977, rel=1e-4)
    assert row.within_error is False


def test_edges_known_only_to_the_exact_counters_are_listed():
    """A consumed edge with no stored span appears with estimate 0 (its spans were all dropped or missing)."""
    rows = check([], {("consume", "billing", "orders", "billing"): 7})
    assert [(r.side, r.estimated, r.exact, r.ratio) for r in rows] == [("consume", 0.0, 7, 0.0)]


def test_process_spans_count_per_consumer_group(tmp_path):
    """Through a real store: process spans estimate the consumed side per (service, topic, group)."""
    placed = send("shop", "orders", attrs={SAMPLING_THRESHOLD: "c"})
    handled = process("billing", placed, group="billing", attrs={SAMPLING_THRESHOLD: "c"})
    store = open_store(f"sqlite:///{tmp_path / 'e.db'}")
    try:
        store.write_spans([placed, handled])
        rows = sampling_check(store, T0 - 10**9, T0 + 10**9, {("consume", "billing", "orders", "billing"): 4})
    finally:
        store.close()
    by_side = {r.side: r for r in rows}
    assert by_side["consume"].estimated == 4.0 and by_side["consume"].ratio == 1.0
    assert by_side["send"].estimated == 4.0 and by_side["send"].exact is None


def test_exact_counts_take_the_increase_over_the_window():
    """Cumulative points before and inside the window: only the increase inside it counts."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.metrics.v1.metrics_pb2 import (
        AggregationTemporality,
        Metric,
        NumberDataPoint,
        ResourceMetrics,
        ScopeMetrics,
        Sum,
    )
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource as PbResource

    def point(t: int, v: int) -> NumberDataPoint:
        return NumberDataPoint(start_time_unix_nano=1, time_unix_nano=t, as_int=v, attributes=[
            KeyValue(key="messaging.destination.name", value=AnyValue(string_value="orders"))])

    metric = Metric(name="messaging.client.sent.messages", sum=Sum(
        aggregation_temporality=AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE, is_monotonic=True,
        data_points=[point(100, 10), point(200, 25), point(300, 40)]))
    resource = PbResource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="shop"))])
    exact = ExactCounts()
    exact.add_request(ExportMetricsServiceRequest(resource_metrics=[
        ResourceMetrics(resource=resource, scope_metrics=[ScopeMetrics(metrics=[metric])])]))
    assert exact.totals(150, 350) == {("send", "shop", "orders", None): 30}
    assert exact.totals(0, 350) == {("send", "shop", "orders", None): 40}
