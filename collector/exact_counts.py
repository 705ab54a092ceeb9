"""Exact per-edge message counts from the instrumentation's OTLP metrics, kept in the collector's memory.

`messaging.client.sent.messages` (per service and topic) and `messaging.client.consumed.messages` (per
service, topic and group) arrive at `/v1/metrics` as cumulative (or delta) sums; each stream's points are
kept (the last 24 h) so the increase over a window can be read back. Not stored: a collector restart
starts over, and several collectors each see only the metrics sent to them.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality
from opentelemetry.semconv._incubating.attributes import messaging_attributes as ma
from opentelemetry.semconv._incubating.metrics import messaging_metrics as mm

from eventlens.collector.analysis.sampling import EdgeSide
from eventlens.collector.otlp import attributes, resource_service

_SIDES = {mm.MESSAGING_CLIENT_SENT_MESSAGES: "send", mm.MESSAGING_CLIENT_CONSUMED_MESSAGES: "consume"}
KEEP_NS = 24 * 3600 * 1_000_000_000
Stream = tuple[str, str, str, str | None, int]
"""An edge side plus the stream's start time."""


class ExactCounts:
    """Cumulative sent/consumed counters per edge side, with their history (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._points: dict[Stream, tuple[list[int], list[float]]] = {}

    def add_request(self, request: ExportMetricsServiceRequest) -> None:
        """Take the messaging counters of one metrics export request."""
        for rm in request.resource_metrics:
            service = resource_service(attributes(rm.resource.attributes))
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    side = _SIDES.get(metric.name)
                    if side is None or metric.WhichOneof("data") != "sum":
                        continue
                    delta = metric.sum.aggregation_temporality == AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
                    for dp in metric.sum.data_points:
                        attrs = attributes(dp.attributes)
                        topic = attrs.get(ma.MESSAGING_DESTINATION_NAME)
                        group = attrs.get(ma.MESSAGING_CONSUMER_GROUP_NAME)
                        if not isinstance(topic, str):
                            continue
                        value = float(dp.as_int if dp.WhichOneof("value") == "as_int" else dp.as_double)
                        stream = (side, service, topic, group if isinstance(group, str) else None,
                                  0 if delta else dp.start_time_unix_nano)
                        self._add(stream, dp.time_unix_nano, value, delta)

    def _add(self, stream: Stream, time_ns: int, value: float, delta: bool) -> None:
        with self._lock:
            times, values = self._points.setdefault(stream, ([], []))
            if delta:
                value += values[-1] if values else 0.0
            i = bisect.bisect_right(times, time_ns)
            times.insert(i, time_ns)
            values.insert(i, value)
            cut = bisect.bisect_left(times, time_ns - KEEP_NS)
            if cut:
                del times[:cut], values[:cut]

    def totals(self, start_ns: int, end_ns: int) -> dict[EdgeSide, int]:
        """Messages per edge side counted between `start_ns` and `end_ns` (the counters' increase)."""
        out: dict[EdgeSide, int] = {}
        with self._lock:
            items: Iterable[tuple[Stream, tuple[list[int], list[float]]]] = list(self._points.items())
            for stream, (times, values) in items:
                last = bisect.bisect_right(times, end_ns) - 1
                if last < 0:
                    continue
                before = bisect.bisect_left(times, start_ns) - 1
                base = values[before] if before >= 0 else 0.0
                if before < 0 and stream[4] and stream[4] < start_ns:
                    base = values[0]  # a cumulative stream that began before the window: count from its first point
                increase = values[last] - base
                if increase > 0:
                    key: EdgeSide = (stream[0], stream[1], stream[2], stream[3])
                    out[key] = out.get(key, 0) + round(increase)
        return out
