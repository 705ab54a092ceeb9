"""Locally aggregated histograms export exactly what the SDK's own per-measurement `record()` would."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View

from eventlens.instrumentation._histograms import LocalHistograms
from eventlens.instrumentation._metrics import DURATION_BUCKETS

VALUES = [0.001, 0.004, 0.005, 0.0051, 0.02, 0.3, 0.3, 1.0, 9.9, 42.0, 0.0]
ATTRS: dict[str, Any] = {"messaging.system": "kafka", "messaging.destination.name": "orders"}
OTHER: dict[str, Any] = {"messaging.system": "kafka", "messaging.destination.name": "payments"}


def _points(reader: InMemoryMetricReader) -> dict[str, tuple[Any, ...]]:
    data = reader.get_metrics_data()
    found = {}
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for p in metric.data.data_points:
                    found[p.attributes["messaging.destination.name"]] = (
                        p.count, round(p.sum, 9), tuple(p.bucket_counts), tuple(p.explicit_bounds), p.min, p.max)
    return found


def _pair(views: tuple[View, ...] = ()) -> tuple[Any, Any, InMemoryMetricReader, InMemoryMetricReader]:
    readers = InMemoryMetricReader(), InMemoryMetricReader()
    meters = [MeterProvider(metric_readers=[r], views=list(views)).get_meter("t") for r in readers]
    hists = [m.create_histogram("d", unit="s", explicit_bucket_boundaries_advisory=DURATION_BUCKETS) for m in meters]
    return hists[0], hists[1], readers[0], readers[1]


def test_local_histogram_points_equal_sdk_record_points():
    """Counts, sum, buckets, min and max match recording every value through the SDK, over two collections."""
    sdk, ours, sdk_reader, our_reader = _pair()
    local = LocalHistograms(ours, DURATION_BUCKETS)
    for batch in (VALUES, [*VALUES[::-1], 0.75]):
        for v in batch:
            sdk.record(v, ATTRS)
            local.record(v, ATTRS)
            sdk.record(v / 2, OTHER)
            local.record(v / 2, OTHER)
        local.flush()
        assert _points(our_reader) == _points(sdk_reader)


def test_unflushed_measurements_are_not_lost_before_the_next_flush():
    """Measurements after a flush are kept and show up at the next one."""
    sdk, ours, sdk_reader, our_reader = _pair()
    local = LocalHistograms(ours, DURATION_BUCKETS)
    for v in VALUES:
        local.record(v, ATTRS)
        sdk.record(v, ATTRS)
    local.flush()
    local.flush()
    assert _points(our_reader) == _points(sdk_reader)


def test_a_view_changing_the_buckets_falls_back_to_per_measurement_records():
    """When a view gives other buckets, every measurement still goes through the SDK (exact, view applied)."""
    view = View(instrument_name="d", aggregation=ExplicitBucketHistogramAggregation((0.01, 1.0)))
    sdk, ours, sdk_reader, our_reader = _pair((view,))
    local = LocalHistograms(ours, DURATION_BUCKETS)
    for v in VALUES:
        local.record(v, ATTRS)
        sdk.record(v, ATTRS)
    local.flush()
    assert _points(our_reader) == _points(sdk_reader)
    assert _points(our_reader)["orders"][3] == (0.01, 1.0)


def test_negative_and_non_finite_values_are_dropped_like_the_sdk():
    """Negative, NaN and infinite durations are ignored, as the SDK ignores them."""
    sdk, ours, sdk_reader, our_reader = _pair()
    local = LocalHistograms(ours, DURATION_BUCKETS)
    for v in (0.2, -1.0, float("nan"), float("inf"), 0.3):
        local.record(v, ATTRS)
        sdk.record(v, ATTRS)
    local.flush()
    assert _points(our_reader) == _points(sdk_reader)


def test_only_the_first_measurement_of_an_attribute_set_goes_through_sdk_record():
    """With the SDK's default aggregation, later measurements are merged at flush, not recorded one by one."""
    _sdk, ours, _sdk_reader, our_reader = _pair()
    calls = []
    real_record = ours.record
    ours.record = lambda value, attrs=None, context=None: (calls.append(value), real_record(value, attrs, context))
    local = LocalHistograms(ours, DURATION_BUCKETS)
    for v in VALUES:
        local.record(v, ATTRS)
    local.flush()
    assert calls == [VALUES[0]]
    assert _points(our_reader)["orders"][0] == len(VALUES)
