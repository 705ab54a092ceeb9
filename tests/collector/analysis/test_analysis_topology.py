"""Topology from edge rollups: nodes, edges, rates, latency percentiles, partial edges and lag."""

from __future__ import annotations

import pytest
from analysis_builders import NS_PER_MINUTE, T0, buckets, consumed, produced

from eventlens.collector.analysis.histogram import quantile
from eventlens.collector.analysis.topology import NO_CONSUMER, NO_PRODUCER, build_topology
from eventlens.collector.model import NodeKind

WINDOW = (T0, T0 + 10 * NS_PER_MINUTE)


def _edge(topology, source, target):
    return next(e for e in topology.edges if e.source == source and e.target == target)


def _node(topology, node_id):
    return next(n for n in topology.nodes if n.id == node_id)


def test_service_topic_group_service_chain_with_ids():
    """A paired flow becomes service → topic → group → service with the documented node ids and kinds."""
    topo = build_topology([produced("orders", "orders.placed", 60),
                           consumed("orders", "orders.placed", "billing", "billing", 60)], *WINDOW)
    assert {(n.id, n.kind) for n in topo.nodes} == {
        ("service:orders", NodeKind.SERVICE), ("topic:orders.placed", NodeKind.TOPIC),
        ("group:billing", NodeKind.CONSUMER_GROUP), ("service:billing", NodeKind.SERVICE)}
    assert {(e.source, e.target) for e in topo.edges} == {
        ("service:orders", "topic:orders.placed"), ("topic:orders.placed", "group:billing"),
        ("group:billing", "service:billing")}
    assert not any(e.partial for e in topo.edges)


def test_messages_rate_errors_and_bytes_sum_over_minutes():
    """Per-minute rollups are summed; the rate is messages over the window's seconds."""
    topo = build_topology([produced("orders", "t", 300, minute=0, errors=2), produced("orders", "t", 300, minute=1),
                           consumed("orders", "t", "g", "c", 600, errors=5)], *WINDOW)
    send_edge = _edge(topo, "service:orders", "topic:t")
    assert (send_edge.messages, send_edge.errors, send_edge.bytes) == (600, 2, 60_000)
    assert send_edge.rate_per_s == pytest.approx(600 / 600)
    assert _edge(topo, "topic:t", "group:g").errors == 5


def test_latency_percentiles_come_from_merged_histograms():
    """p50 falls in the bucket holding most latencies, p99 in the slow tail's bucket."""
    rollups = [consumed("p", "t", "g", "c", 98, latency_s=0.02), consumed("p", "t", "g", "c", 2, minute=1,
                                                                         latency_s=4.0)]
    latency = _edge(build_topology(rollups, *WINDOW), "topic:t", "group:g").latency
    assert latency.count == 100
    assert 0.01 < latency.p50_s <= 0.025
    assert 2.5 < latency.p99_s <= 5.0
    assert latency.mean_s == pytest.approx((98 * 0.02 + 2 * 4.0) / 100)


def test_quantile_interpolates_inside_a_bucket_and_caps_overflow():
    """Linear interpolation within the bucket; overflow reports the highest finite bound."""
    assert quantile(buckets(0.004, 0.004), 0.5) == pytest.approx(0.0025)
    assert quantile(buckets(5000.0), 0.99) == 900.0
    assert quantile(buckets(), 0.5) is None


def test_topic_produced_without_consumer_is_partial():
    """A topic with sends but no consumer seen flags its node, edge and flow as partial."""
    topo = build_topology([produced("orders", "audit", 10)], *WINDOW)
    assert _node(topo, "topic:audit").partial_reason == NO_CONSUMER
    assert _edge(topo, "service:orders", "topic:audit").partial
    assert [f.consumer for f in topo.flows if f.partial] == [None]


def test_consumption_from_uninstrumented_producer_is_partial():
    """Consume-side rollups with no producer flag the consuming edges and the topic as partial."""
    topo = build_topology([consumed(None, "legacy", "g", "billing", 10)], *WINDOW)
    assert _node(topo, "topic:legacy").partial_reason == NO_PRODUCER
    assert _edge(topo, "topic:legacy", "group:g").partial_reason == NO_PRODUCER
    assert _edge(topo, "group:g", "service:billing").partial
    assert topo.flows[0].producer is None and topo.flows[0].partial


def test_consumer_without_group_links_topic_to_service():
    """An assign()-mode consumer (no group) is drawn topic → service."""
    topo = build_topology([produced("p", "t", 1), consumed("p", "t", None, "reader", 1)], *WINDOW)
    assert _edge(topo, "topic:t", "service:reader").messages == 1
    assert not any(n.kind is NodeKind.CONSUMER_GROUP for n in topo.nodes)


def test_group_with_two_consumer_services_fans_out():
    """One group edge sums both consumer services; each gets its own group → service edge."""
    topo = build_topology([consumed("p", "t", "g", "a", 3), consumed("p", "t", "g", "b", 4)], *WINDOW)
    assert _edge(topo, "topic:t", "group:g").messages == 7
    assert _edge(topo, "group:g", "service:a").messages == 3
    assert _edge(topo, "group:g", "service:b").messages == 4


def test_lag_is_attached_to_the_topic_group_edge():
    """Lag given per (group, topic) lands on the topic → group edge only."""
    topo = build_topology([consumed("p", "t", "g", "c", 1)], *WINDOW, lag={("g", "t"): (42, 3.5)})
    edge = _edge(topo, "topic:t", "group:g")
    assert (edge.lag_offsets, edge.lag_seconds) == (42, 3.5)
    assert _edge(topo, "group:g", "service:c").lag_offsets is None


def test_empty_rollups_give_an_empty_topology():
    """No traffic, no nodes — not an error."""
    topo = build_topology([], *WINDOW)
    assert (topo.nodes, topo.edges, topo.flows) == ((), (), ())


def test_malformed_histogram_rows_are_folded_not_fatal():
    """A rollup with a too-long histogram or negative counts is summed safely (extra buckets into overflow)."""
    from dataclasses import replace

    good = consumed("p", "t", "g", "c", 1, latency_s=0.02)
    long_row = replace(good, latency_buckets=(*good.latency_buckets, 3, 4))
    negative = replace(good, latency_buckets=(-5, *good.latency_buckets[1:]))
    latency = _edge(build_topology([good, long_row, negative], *WINDOW), "topic:t", "group:g").latency
    assert latency.count == 3 + 7
    assert latency.p99_s == 900.0
