"""Rule conditions on hand-built consumer-group statuses: which label sets hold, with which value."""

from __future__ import annotations

from dataclasses import replace

import pytest

from eventlens.collector.alerts.conditions import lag_offsets, lag_seconds, lag_status
from eventlens.collector.alerts.rules import parse_rules
from eventlens.collector.model import GroupStatus, LagStatus, PartitionStatus


def _rule(kind: str, params: str):
    return parse_rules(f"rules: [{{name: r, kind: {kind}, params: {params}}}]").rules[0]


def _part(topic: str, partition: int, status: LagStatus = LagStatus.OK, lag: int = 0,
          seconds: float | None = None) -> PartitionStatus:
    return PartitionStatus("g", topic, partition, status, lag, seconds, False, None, 1.0)


def _group(name: str, *parts: PartitionStatus) -> GroupStatus:
    named = tuple(replace(p, group=name) for p in parts)
    return GroupStatus(name, min(max((p.status for p in named), default=LagStatus.NOTFOUND), LagStatus.ERR),
                       named, sum(p.lag_offsets for p in named), None, 1.0)


BILLING = _group("billing", _part("orders", 0, seconds=400.0, lag=10), _part("orders", 1, seconds=30.0, lag=5),
                 _part("refunds", 0, seconds=10.0, lag=500))
SHIPPING = _group("shipping", _part("orders", 0, status=LagStatus.STALL, seconds=900.0, lag=3))


@pytest.mark.parametrize(("params", "expected"), [
    ("{above: 5m}", [({"group": "billing", "topic": "orders"}, 400.0),
                     ({"group": "shipping", "topic": "orders"}, 900.0)]),
    ("{above: 10m}", [({"group": "shipping", "topic": "orders"}, 900.0)]),
    ("{above: 5m, group: 'bill*'}", [({"group": "billing", "topic": "orders"}, 400.0)]),
    ("{above: 1s, topic: refunds}", [({"group": "billing", "topic": "refunds"}, 10.0)]),
    ("{above: 1h}", []),
], ids=["worst-partition-per-topic", "threshold-excludes", "group-glob", "topic-selector", "none-above"])
def test_lag_seconds_holds_per_group_and_topic_with_the_worst_partition(params, expected):
    got = [(dict(h.labels), h.value) for h in lag_seconds(_rule("lag_seconds", params), [BILLING, SHIPPING])]
    assert got == expected


def test_lag_seconds_ignores_partitions_without_a_seconds_figure():
    """No seconds figure is missing data, not a hold."""
    group = _group("g", _part("t", 0, lag=10_000, seconds=None))
    assert lag_seconds(_rule("lag_seconds", "{above: 1s}"), [group]) == []


@pytest.mark.parametrize(("params", "expected"), [
    ("{above: 100}", [({"group": "billing", "topic": "refunds"}, 500.0)]),
    ("{above: 14}", [({"group": "billing", "topic": "orders"}, 15.0),
                     ({"group": "billing", "topic": "refunds"}, 500.0)]),
    ("{above: 15}", [({"group": "billing", "topic": "refunds"}, 500.0)]),
], ids=["one-topic", "summed-over-partitions", "strictly-above"])
def test_lag_offsets_sums_a_topics_partitions(params, expected):
    got = [(dict(h.labels), h.value) for h in lag_offsets(_rule("lag_offsets", params), [BILLING])]
    assert got == expected


@pytest.mark.parametrize(("params", "expected"), [
    ("{statuses: [STOP, STALL]}", [({"group": "shipping"}, float(LagStatus.STALL))]),
    ("{statuses: [STALL], group: 'bill*'}", []),
    ("{statuses: [ERR]}", []),
], ids=["partition-stall-not-capped", "group-selector", "no-match"])
def test_lag_status_matches_partition_statuses(params, expected):
    got = [(dict(h.labels), h.value) for h in lag_status(_rule("lag_status", params), [BILLING, SHIPPING])]
    assert got == expected


def test_lag_status_defaults_to_every_unhealthy_status():
    """Left out, `statuses` is WARN, ERR, STOP, STALL: a healthy group does not hold."""
    got = lag_status(_rule("lag_status", "{}"), [BILLING, SHIPPING])
    assert [dict(h.labels) for h in got] == [{"group": "shipping"}]
