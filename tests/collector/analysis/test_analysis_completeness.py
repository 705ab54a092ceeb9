"""Lineage completeness: each hop's spans are present, missing because of sampling, or missing because a
service is not instrumented — the pure rules, and through the query layer over a real SQLite store."""

from __future__ import annotations

from analysis_builders import T0, process, send

from eventlens.collector.adjusted import SAMPLING_THRESHOLD
from eventlens.collector.analysis import query
from eventlens.collector.analysis.completeness import lineage_hops
from eventlens.collector.model import (
    HopStatus,
    LagSample,
    Lineage,
    LineageEdge,
    LineageNode,
    LineageNodeKind,
    LineageRelation,
)
from eventlens.collector.storage.protocol import open_store
from eventlens.dashboard import tables

EVENT = LineageNode("e", LineageNodeKind.EVENT, "t1", "s1", "shop", T0, 1, topic="orders")
HANDLING = LineageNode("h", LineageNodeKind.HANDLING, "t1", "s2", "billing", T0 + 5, 1, topic="orders",
                       consumer_group="billing")
LINEAGE = Lineage(nodes=(EVENT, HANDLING), edges=(LineageEdge("e", "h", LineageRelation.PARENT),))


def _hops(**facts):
    defaults = {"missing_inputs": {}, "contextless": set(), "sampled_events": set(), "producer_topics": {"orders"},
                "span_groups": {"orders": {"billing"}}, "broker_groups": {}}
    return lineage_hops(LINEAGE, **(defaults | facts))


def test_every_node_is_a_present_hop_and_a_handled_group_is_not_missing():
    """Nodes are PRESENT hops; the group that handled the event is not reported missing."""
    assert [(h.node, h.status) for h in _hops()] == [("e", HopStatus.PRESENT), ("h", HopStatus.PRESENT)]


def test_a_missing_input_on_a_topic_with_instrumented_producers_was_sampled_out():
    """An input of a handling absent from the store, on a topic whose producers are instrumented: sampled out."""
    hops = _hops(missing_inputs={"h": [("t9", "s9")]})
    assert [(h.node, h.span_id, h.status) for h in hops[2:]] == [("h", "s9", HopStatus.SAMPLED_OUT)]


def test_a_missing_input_on_a_topic_without_instrumented_producers_is_not_instrumented():
    """No instrumented producer of the topic in the store: the input's service is not instrumented."""
    hops = _hops(missing_inputs={"h": [("t9", "s9")]}, producer_topics=set())
    assert [h.status for h in hops[2:]] == [HopStatus.NOT_INSTRUMENTED]


def test_a_record_without_trace_context_means_an_uninstrumented_producer():
    """A handling whose record carried no context at all: its producer is not instrumented."""
    assert [h.status for h in _hops(contextless={"h"})[2:]] == [HopStatus.NOT_INSTRUMENTED]


def test_a_group_known_only_from_the_broker_is_not_instrumented():
    """A consumer group reading the topic (lag samples) that never emitted spans: not instrumented."""
    hops = _hops(broker_groups={"orders": {"audit", "billing"}})
    assert [(h.consumer_group, h.status) for h in hops[2:]] == [("audit", HopStatus.NOT_INSTRUMENTED)]


def test_an_instrumented_group_missing_from_a_sampled_event_was_sampled_out():
    """A group with spans that did not handle an event kept at a probability < 1: sampled out; else unknown."""
    groups = {"orders": {"billing", "shipping"}}
    sampled = _hops(span_groups=groups, sampled_events={"e"})
    unsampled = _hops(span_groups=groups)
    assert [(h.consumer_group, h.status) for h in sampled[2:]] == [("shipping", HopStatus.SAMPLED_OUT)]
    assert [(h.consumer_group, h.status) for h in unsampled[2:]] == [("shipping", HopStatus.UNKNOWN)]


def test_query_lineage_reports_each_hops_completeness(tmp_path):
    """Through the store: the handling's dropped batch input is sampled out, a group that handled other
    events is sampled out for this 1%-kept event, and a group only the broker knows is not instrumented."""
    placed = send("shop", "orders", at_ms=0, attrs={SAMPLING_THRESHOLD: "fd70a"}, event_id="evt-1")
    dropped = send("shop", "orders", at_ms=1)  # never stored: dropped by the producer's sampler
    handled = process("billing", placed, group="billing", at_ms=5, linked=(dropped,))
    other = send("shop", "orders", at_ms=2)
    shipped = process("shipping", other, group="shipping", at_ms=6)
    store = open_store(f"sqlite:///{tmp_path / 'e.db'}")
    try:
        store.write_spans([placed, handled, other, shipped])
        store.write_lag_samples([LagSample("audit", "orders", 0, 1, 3, T0)])
        lineage = query.lineage(store, event_id="evt-1")
    finally:
        store.close()
    missing = {(h.span_id or h.consumer_group, h.status) for h in lineage.hops if h.status is not HopStatus.PRESENT}
    assert missing == {(dropped.span_id, HopStatus.SAMPLED_OUT), ("shipping", HopStatus.SAMPLED_OUT),
                       ("audit", HopStatus.NOT_INSTRUMENTED)}
    assert sum(h.status is HopStatus.PRESENT for h in lineage.hops) == len(lineage.nodes) == 2
    rows = tables.lineage_node_rows(lineage)
    assert [r["spans"] for r in rows].count("present") == 2 and len(rows) == 5
    assert tables.lineage_completeness(lineage).startswith("2 hops present; 3 missing")
