"""Lag queries for the dashboard, the CLI, `/api/lag` and `/metrics`: statuses now, and history per partition."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from eventlens.collector.lag.evaluator import (
    DEFAULT_THRESHOLDS,
    Thresholds,
    evaluate_group,
    evaluate_partition,
    sample_lag,
)
from eventlens.collector.model import ConsumerLag, GroupStatus, LagSample, Operation
from eventlens.collector.storage.protocol import LagStore, SpanReader

__all__ = ["consumer_reported_lag", "group_history", "group_status_json", "group_statuses", "partition_history",
           "sample_json"]

PartitionKey = tuple[str, int]


def group_statuses(store: LagStore, now_ns: int, window_ns: int | None = None, *,
                   thresholds: Thresholds = DEFAULT_THRESHOLDS, group: str | None = None) -> list[GroupStatus]:
    """Every group's status at `now_ns` from the samples in the window (default: the thresholds' window).

    Only partitions seen in the group's latest poll are evaluated (a partition whose offsets were deleted
    drops out at once), groups sorted by name.
    """
    window = thresholds.window_ns if window_ns is None else window_ns
    samples = store.lag_samples(group=group, since_ns=now_ns - window, until_ns=now_ns + 1)  # until is exclusive
    by_group: dict[str, list[LagSample]] = defaultdict(list)
    for sample in samples:
        by_group[sample.group].append(sample)
    return [_evaluate(name, rows, now_ns, window, thresholds) for name, rows in sorted(by_group.items())]


def _evaluate(group: str, samples: Sequence[LagSample], now_ns: int, window_ns: int,
              thresholds: Thresholds) -> GroupStatus:
    latest = max(s.observed_at_ns for s in samples)
    by_partition: dict[PartitionKey, list[LagSample]] = defaultdict(list)
    for sample in samples:
        by_partition[(sample.topic, sample.partition)].append(sample)
    current = [rows for rows in by_partition.values() if rows[-1].observed_at_ns == latest]
    th = replace(thresholds, window_ns=window_ns)
    return evaluate_group(group, [evaluate_partition(rows, now_ns=now_ns, thresholds=th) for rows in current])


def group_history(store: LagStore, group: str, *, since_ns: int,
                  until_ns: int | None = None) -> dict[PartitionKey, list[LagSample]]:
    """A group's samples per (topic, partition), oldest first: the lag-over-time chart's series."""
    history: dict[PartitionKey, list[LagSample]] = defaultdict(list)
    for sample in store.lag_samples(group=group, since_ns=since_ns, until_ns=until_ns):
        history[(sample.topic, sample.partition)].append(sample)
    return dict(sorted(history.items()))


def partition_history(store: LagStore, group: str, topic: str, partition: int, *, since_ns: int,
                      until_ns: int | None = None) -> list[LagSample]:
    """One partition's samples for one group, oldest first."""
    return group_history(store, group, since_ns=since_ns, until_ns=until_ns).get((topic, partition), [])


def group_status_json(status: GroupStatus) -> dict[str, Any]:
    """A group status as JSON-ready data (statuses by name), for `/api/lag` and `eventlens lag --json`."""
    return {
        "group": status.group,
        "status": status.status.name,
        "total_lag": status.total_lag,
        "max_lag_seconds": status.max_lag_seconds,
        "complete": status.complete,
        "partitions": [
            {
                "topic": p.topic, "partition": p.partition, "status": p.status.name, "lag": p.lag_offsets,
                "lag_seconds": p.lag_seconds, "lag_seconds_estimated": p.lag_seconds_estimated,
                "time_to_drain_s": p.time_to_drain_s, "complete": p.complete,
            }
            for p in status.partitions
        ],
    }


def sample_json(sample: LagSample) -> dict[str, Any]:
    """One history point as JSON-ready data."""
    return {
        "observed_at_ns": sample.observed_at_ns, "committed_offset": sample.committed_offset,
        "end_offset": sample.end_offset, "lag": sample_lag(sample), "lag_seconds": sample.lag_seconds,
        "lag_seconds_estimated": sample.lag_seconds_estimated,
    }


def consumer_reported_lag(store: SpanReader, now_ns: int, window_ns: int = DEFAULT_THRESHOLDS.window_ns, *,
                          limit: int = 10_000) -> list[ConsumerLag]:
    """Per (group, topic, partition), the lag instrumented consumers reported on their latest `process` span.

    Reads at most the `limit` newest spans of the window, so on a busy system it covers the most recent ones.
    """
    latest: dict[tuple[str, str, int], ConsumerLag] = {}
    for span in store.find_spans(start_ns=now_ns - window_ns, end_ns=now_ns + 1, limit=limit):
        m = span.messaging
        if m.operation is not Operation.PROCESS or m.topic is None or m.partition is None:
            continue
        if m.lag_offsets is None and m.lag_seconds is None:
            continue
        key = (m.consumer_group or "", m.topic, m.partition)
        if key not in latest:  # spans come newest first
            latest[key] = ConsumerLag(key[0], m.topic, m.partition, span.service, m.lag_offsets, m.lag_seconds,
                                      span.start_ns)
    return [latest[key] for key in sorted(latest)]
