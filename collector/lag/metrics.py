"""Prometheus metrics for consumer lag, read from the store on each scrape.

Names follow Kafka Lag Exporter (`kafka_consumergroup_group_*`), so its Grafana boards adapt with little
change; eventlens' own additions (Burrow-style status as a number) are prefixed `eventlens_`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import CollectorRegistry

from eventlens.collector.lag.evaluator import DEFAULT_THRESHOLDS, Thresholds
from eventlens.collector.lag.query import group_statuses
from eventlens.collector.model import GroupStatus
from eventlens.collector.storage.protocol import LagStore

PARTITION_LABELS = ("group", "topic", "partition")
GROUP_LABELS = ("group",)
STATUS_HELP = "Burrow-style status as a number: 0 NOTFOUND, 1 OK, 2 WARN, 3 ERR, 4 STOP, 5 STALL, 6 REWIND"


class LagCollector:
    """A prometheus_client collector: evaluates every group's lag at scrape time from the store."""

    def __init__(self, store: LagStore, now_fn: Callable[[], int],
                 thresholds: Thresholds = DEFAULT_THRESHOLDS) -> None:
        self.store = store
        self.now_fn = now_fn
        self.thresholds = thresholds

    def describe(self) -> Iterable[Metric]:
        """No description up front: registering must not query the store."""
        return []

    def collect(self) -> Iterator[Metric]:
        """The lag gauges for the latest state of every group."""
        statuses = group_statuses(self.store, self.now_fn(), thresholds=self.thresholds)
        yield from lag_metrics(statuses)


def lag_metrics(statuses: Iterable[GroupStatus]) -> list[GaugeMetricFamily]:
    """Gauge families for a list of group statuses (pure: also used to render `/metrics` in tests)."""
    lag = GaugeMetricFamily("kafka_consumergroup_group_lag", "Group offset lag of a partition",
                            labels=PARTITION_LABELS)
    lag_s = GaugeMetricFamily("kafka_consumergroup_group_lag_seconds",
                              "Group time lag of a partition: age of the first unconsumed record",
                              labels=PARTITION_LABELS)
    estimated = GaugeMetricFamily("eventlens_consumergroup_group_lag_seconds_estimated",
                                  "1 when the partition's lag in seconds was interpolated, 0 when read exactly",
                                  labels=PARTITION_LABELS)
    part_status = GaugeMetricFamily("eventlens_consumergroup_partition_status", STATUS_HELP,
                                    labels=PARTITION_LABELS)
    max_lag = GaugeMetricFamily("kafka_consumergroup_group_max_lag", "Max group offset lag", labels=GROUP_LABELS)
    max_lag_s = GaugeMetricFamily("kafka_consumergroup_group_max_lag_seconds", "Max group time lag",
                                  labels=GROUP_LABELS)
    sum_lag = GaugeMetricFamily("kafka_consumergroup_group_sum_lag", "Sum of group offset lag",
                                labels=GROUP_LABELS)
    status = GaugeMetricFamily("eventlens_consumergroup_status", STATUS_HELP, labels=GROUP_LABELS)
    complete = GaugeMetricFamily("eventlens_consumergroup_window_complete",
                                 "Fraction of the evaluation window covered by samples", labels=GROUP_LABELS)
    for group in statuses:
        for p in group.partitions:
            labels = [group.group, p.topic, str(p.partition)]
            lag.add_metric(labels, p.lag_offsets)
            part_status.add_metric(labels, int(p.status))
            if p.lag_seconds is not None:
                lag_s.add_metric(labels, p.lag_seconds)
                estimated.add_metric(labels, 1.0 if p.lag_seconds_estimated else 0.0)
        max_lag.add_metric([group.group], max((p.lag_offsets for p in group.partitions), default=0))
        if group.max_lag_seconds is not None:
            max_lag_s.add_metric([group.group], group.max_lag_seconds)
        sum_lag.add_metric([group.group], group.total_lag)
        status.add_metric([group.group], int(group.status))
        complete.add_metric([group.group], group.complete)
    return [lag, lag_s, estimated, part_status, max_lag, max_lag_s, sum_lag, status, complete]


def register_lag_metrics(registry: CollectorRegistry, store: LagStore, now_fn: Callable[[], int],
                         thresholds: Thresholds = DEFAULT_THRESHOLDS) -> LagCollector:
    """Register the lag gauges on `registry` (read on scrape); returns the collector so it can be unregistered."""
    collector = LagCollector(store, now_fn, thresholds)
    registry.register(collector)
    return collector
