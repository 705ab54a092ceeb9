"""Rule conditions on hand-built group statuses and topologies: which label sets hold, with which value."""

from __future__ import annotations

from dataclasses import replace

import pytest

from eventlens.collector.alerts.conditions import (
    deprecated_version,
    edge_appeared,
    edge_latency,
    edge_partial,
    edge_vanished,
    error_rate,
    lag_offsets,
    lag_seconds,
    lag_status,
    new_schema_fingerprint,
    rule_deprecations,
    throughput_drop,
)
from eventlens.collector.alerts.rules import parse_rules
from eventlens.collector.model import (
    NS_PER_S,
    Deprecation,
    DeprecationViolation,
    EventTypeSchemas,
    GroupStatus,
    LagStatus,
    LatencySummary,
    PartitionStatus,
    SchemaReport,
    SchemaVersion,
    Topology,
    TopologyEdge,
    TopologyFlow,
)


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


def _flow(producer, topic, consumer, *, p95=None, p99=None, partial=False, messages=10):
    return TopologyFlow(producer, topic, "g" if consumer else None, consumer, messages, 1.0, 0, 0,
                        LatencySummary(messages, None, None, p95, p99), partial)


def _edge(source, target, topic, messages, errors):
    return TopologyEdge(source, target, topic, messages, 1.0, errors, 0)


TOPOLOGY = Topology(0, 1, flows=(
    _flow("orders-api", "orders", "billing", p95=2.0, p99=40.0),
    _flow("orders-api", "orders", "shipping", p95=1.0, p99=5.0),
    _flow(None, "refunds", "billing", p99=100.0, partial=True, messages=3),
    _flow("audit", "audit-log", None, partial=True, messages=7),
), edges=(
    _edge("service:orders-api", "topic:orders", "orders", 100, 10),
    _edge("topic:orders", "group:billing", "orders", 100, 0),
    _edge("group:billing", "service:billing", "orders", 100, 2),
    _edge("group:shipping", "service:shipping", "orders", 50, 0),
))
ORDERS_BILLING = {"producer": "orders-api", "topic": "orders", "consumer": "billing"}
REFUNDS = {"producer": "", "topic": "refunds", "consumer": "billing"}
AUDIT = {"producer": "audit", "topic": "audit-log", "consumer": ""}


@pytest.mark.parametrize(("params", "expected"), [
    ("{above: 30s}", [(ORDERS_BILLING, 40.0), (REFUNDS, 100.0)]),
    ("{above: 30s, producer: 'orders-*'}", [(ORDERS_BILLING, 40.0)]),
    ("{above: 1500ms, quantile: p95}", [(ORDERS_BILLING, 2.0)]),
    ("{above: 30s, consumer: shipping}", []),
], ids=["p99-default", "a-selected-side-excludes-a-missing-one", "p95", "consumer-selector"])
def test_edge_latency_holds_per_flow_above_the_quantile(params, expected):
    got = [(dict(h.labels), h.value) for h in edge_latency(_rule("edge_latency", params), TOPOLOGY)]
    assert got == expected


@pytest.mark.parametrize(("params", "expected"), [
    ("{}", [(REFUNDS, 3.0), (AUDIT, 7.0)]),
    ("{topic: audit-log}", [(AUDIT, 7.0)]),
], ids=["every-one-sided-flow", "topic-selector"])
def test_edge_partial_holds_for_one_sided_flows(params, expected):
    got = [(dict(h.labels), h.value) for h in edge_partial(_rule("edge_partial", params), TOPOLOGY)]
    assert got == expected


@pytest.mark.parametrize(("params", "expected"), [
    ("{above: 0.05}", [({"service": "orders-api", "topic": "orders"}, 0.1)]),
    ("{above: 0.01}", [({"service": "billing", "topic": "orders"}, 0.02),
                       ({"service": "orders-api", "topic": "orders"}, 0.1)]),
    ("{above: 0.01, service: billing}", [({"service": "billing", "topic": "orders"}, 0.02)]),
    ("{above: 0.5}", []),
], ids=["produce-errors", "handle-errors-too", "service-selector", "none-above"])
def test_error_rate_holds_per_service_and_topic(params, expected):
    got = [(dict(h.labels), h.value) for h in error_rate(_rule("error_rate", params), TOPOLOGY)]
    assert got == expected


EARLIER = Topology(0, 1, flows=(
    _flow("orders-api", "orders", "billing", messages=100),
    _flow("orders-api", "orders", "shipping", messages=100),
    _flow("legacy", "orders", "billing", messages=5),
))
CURRENT = Topology(1, 2, flows=(
    _flow("orders-api", "orders", "billing", messages=40),
    _flow("orders-api", "orders", "shipping", messages=90),
    _flow("audit", "audit-log", None, messages=7),
))
SHIPPING_FLOW = {"producer": "orders-api", "topic": "orders", "consumer": "shipping"}
LEGACY = {"producer": "legacy", "topic": "orders", "consumer": "billing"}


@pytest.mark.parametrize(("params", "expected"), [
    ("{below_fraction: 0.5}", [(LEGACY, 0.0), (ORDERS_BILLING, 0.4)]),
    ("{below_fraction: 0.95}", [(LEGACY, 0.0), (ORDERS_BILLING, 0.4), (SHIPPING_FLOW, 0.9)]),
    ("{below_fraction: 0.5, producer: orders-api}", [(ORDERS_BILLING, 0.4)]),
    ("{below_fraction: 0.1, consumer: shipping}", []),
], ids=["dropped-and-silent", "fraction-threshold", "producer-selector", "none-below"])
def test_throughput_drop_compares_each_flow_with_the_earlier_window(params, expected):
    got = [(dict(h.labels), h.value) for h in throughput_drop(_rule("throughput_drop", params), CURRENT, EARLIER)]
    assert got == expected


def test_a_flow_new_since_the_earlier_window_is_no_throughput_drop():
    """Nothing to compare with: the audit flow did not exist before."""
    got = throughput_drop(_rule("throughput_drop", "{below_fraction: 0.99}"), CURRENT, EARLIER)
    assert AUDIT not in [dict(h.labels) for h in got]


def test_edge_vanished_holds_for_flows_silent_now_that_carried_messages_before():
    got = [(dict(h.labels), h.value) for h in edge_vanished(_rule("edge_vanished", "{}"), CURRENT, EARLIER)]
    assert got == [(LEGACY, 5.0)]


def test_edge_appeared_holds_for_flows_carrying_messages_now_that_carried_none_before():
    got = [(dict(h.labels), h.value) for h in edge_appeared(_rule("edge_appeared", "{}"), CURRENT, EARLIER)]
    assert got == [(AUDIT, 7.0)]


HOUR = 3600 * NS_PER_S
NOW = 10 * HOUR


def _version(fingerprint, first_seen_ns, producers=("orders-api",), count=4):
    return SchemaVersion("OrderPlaced", fingerprint, "v", first_seen_ns, NOW, producers, (), count, 0)


REPORT = SchemaReport(0, NOW, event_types=(
    EventTypeSchemas("OrderPlaced", (_version("aaa", 1 * HOUR), _version("bbb", NOW - 10 * 60 * NS_PER_S),
                                     _version("ccc", NOW - 5 * 60 * NS_PER_S, producers=()))),
    EventTypeSchemas("Brand.New", (SchemaVersion("Brand.New", "zzz", "v1", NOW - 60 * NS_PER_S, NOW,
                                                 ("svc",), (), 1, 0),)),
))


@pytest.mark.parametrize(("params", "expected"), [
    ("{}", [({"event_type": "OrderPlaced", "fingerprint": "bbb"}, 4.0)]),
    ("{event_type: 'Brand.*'}", []),
], ids=["recent-produced-version-after-an-older-one", "a-new-event-types-first-schema-is-not-a-change"])
def test_new_schema_fingerprint_holds_for_a_recently_first_produced_version(params, expected):
    got = [(dict(h.labels), h.value) for h in new_schema_fingerprint(_rule("new_schema_fingerprint", params),
                                                                      REPORT, NOW)]
    assert got == expected


def test_a_version_first_seen_over_an_hour_ago_is_no_longer_new():
    got = new_schema_fingerprint(_rule("new_schema_fingerprint", "{}"), REPORT, NOW + 2 * HOUR)
    assert got == []


def test_a_deprecated_version_rule_declares_its_deprecation_per_selected_event_type_after_its_day():
    """`after: 2026-12-31`: in use from 2027-01-01T00:00Z on is a violation."""
    rule = _rule("deprecated_version", "{event_type: 'Order*', version: v1, after: '2026-12-31'}")
    deps = rule_deprecations(rule, REPORT)
    assert deps == [Deprecation("OrderPlaced", "v1", 1_798_761_600 * NS_PER_S)]


def test_a_deprecated_version_rule_without_version_and_date_declares_nothing():
    """Left to the deprecations file, which the collector does not read yet."""
    assert rule_deprecations(_rule("deprecated_version", "{}"), REPORT) == []


VIOLATIONS = SchemaReport(0, NOW, violations=(
    DeprecationViolation(Deprecation("OrderPlaced", "v1", 0), "aaa", ("orders-api",), (), 5 * NS_PER_S),
    DeprecationViolation(Deprecation("Refund", "v1", 0), "rrr", (), ("billing",), 7 * NS_PER_S),
))


@pytest.mark.parametrize(("params", "expected"), [
    ("{}", [({"event_type": "OrderPlaced", "fingerprint": "aaa"}, 5.0),
            ({"event_type": "Refund", "fingerprint": "rrr"}, 7.0)]),
    ("{usage: produced}", [({"event_type": "OrderPlaced", "fingerprint": "aaa"}, 5.0)]),
    ("{usage: consumed}", [({"event_type": "Refund", "fingerprint": "rrr"}, 7.0)]),
    ("{event_type: Refund, usage: produced}", []),
], ids=["any-usage", "produced", "consumed", "selector-and-usage"])
def test_deprecated_version_holds_per_violation_used_as_the_rule_says(params, expected):
    got = [(dict(h.labels), h.value) for h in deprecated_version(_rule("deprecated_version", params), VIOLATIONS)]
    assert got == expected
