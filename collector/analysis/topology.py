"""Topology: service → topic → consumer group → service, from edge rollups only (never raw spans).

Pairing of consumers with producers (parent-child and link-based, batches included) happened at ingest; this
module sums the per-minute rollups over a window and flags the partial edges where only one side was seen.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace

from eventlens.collector.analysis.histogram import summarize
from eventlens.collector.edge_acc import EdgeAcc
from eventlens.collector.model import (
    NS_PER_S,
    EdgeRollup,
    NodeKind,
    Topology,
    TopologyEdge,
    TopologyFlow,
    TopologyNode,
)

NO_CONSUMER = "no consumer seen"
NO_PRODUCER = "producer not instrumented"

LagByGroupTopic = Mapping[tuple[str, str], tuple[int | None, float | None]]
"""(group, topic) → (lag in offsets summed over partitions, max lag in seconds)."""
_FlowKey = tuple[str | None, str, str | None, str | None]


def service_id(name: str) -> str:
    """Node id of a service."""
    return f"service:{name}"


def topic_id(name: str) -> str:
    """Node id of a topic."""
    return f"topic:{name}"


def group_id(name: str) -> str:
    """Node id of a consumer group."""
    return f"group:{name}"


class _Builder:
    """Accumulates nodes and edges while rollups are folded in."""

    def __init__(self) -> None:
        self.nodes: dict[str, TopologyNode] = {}
        self.node_acc: dict[str, EdgeAcc] = defaultdict(EdgeAcc)
        self.edges: dict[tuple[str, str], EdgeAcc] = defaultdict(EdgeAcc)
        self.edge_topic: dict[tuple[str, str], str] = {}
        self.edge_reason: dict[tuple[str, str], str] = {}

    def node(self, nid: str, kind: NodeKind, name: str, acc: EdgeAcc | None = None, *,
             errors_only: bool = False) -> None:
        self.nodes.setdefault(nid, TopologyNode(nid, kind, name))
        if acc is not None:
            if not errors_only:
                self.node_acc[nid].count += acc.count
            self.node_acc[nid].errors += acc.errors

    def edge(self, src: str, dst: str, topic: str, acc: EdgeAcc, reason: str = "") -> None:
        e = self.edges[(src, dst)]
        e.merge(acc)
        self.edge_topic[(src, dst)] = topic
        if reason:
            e.partial = True
            self.edge_reason[(src, dst)] = reason


def _split(rollups: Iterable[EdgeRollup]) -> tuple[dict[tuple[str, str], EdgeAcc], dict[_FlowKey, EdgeAcc]]:
    produce: dict[tuple[str, str], EdgeAcc] = defaultdict(EdgeAcc)
    flows: dict[_FlowKey, EdgeAcc] = defaultdict(EdgeAcc)
    for r in rollups:
        if not r.topic:
            continue
        if r.consumer is not None or r.consumer_group is not None:
            flows[(r.producer, r.topic, r.consumer_group, r.consumer)].add_rollup(r)
        elif r.producer is not None:
            produce[(r.producer, r.topic)].add_rollup(r)
    return produce, flows


def _topic_reason(topic: str, produced: set[str], consumed: set[str], unpaired: set[str]) -> str:
    if topic not in consumed:
        return NO_CONSUMER
    if topic not in produced or topic in unpaired:
        return NO_PRODUCER
    return ""


def build_topology(
    rollups: Iterable[EdgeRollup], start_ns: int, end_ns: int, lag: LagByGroupTopic | None = None
) -> Topology:
    """Sum rollups over [start_ns, end_ns) into nodes, edges and flows with rates, latency percentiles and lag."""
    seconds = max(1e-9, (end_ns - start_ns) / NS_PER_S)
    lag = lag or {}
    produce, flows = _split(rollups)
    consumed = {topic for (_, topic, _, _) in flows}
    produced = {topic for (_, topic) in produce} | {t for (p, t, _, _) in flows if p is not None}
    unpaired = {t for (p, t, _, _) in flows if p is None}

    b = _Builder()
    for (sender, topic), acc in produce.items():
        b.edge(service_id(sender), topic_id(topic), topic, acc, "" if topic in consumed else NO_CONSUMER)
        b.node(service_id(sender), NodeKind.SERVICE, sender, acc)
        b.node(topic_id(topic), NodeKind.TOPIC, topic, acc)
    for (producer, topic, group, consumer), acc in flows.items():
        reason = NO_PRODUCER if producer is None else ""
        if producer is not None and (producer, topic) not in produce:
            # produce-side rollup missing (e.g. retention): still draw the producer edge from the pairing.
            b.edge(service_id(producer), topic_id(topic), topic, EdgeAcc())
            b.node(service_id(producer), NodeKind.SERVICE, producer)
        if group is not None:
            b.edge(topic_id(topic), group_id(group), topic, acc, reason)
            b.node(group_id(group), NodeKind.CONSUMER_GROUP, group, acc)
        if consumer is not None:
            src = group_id(group) if group is not None else topic_id(topic)
            b.edge(src, service_id(consumer), topic, acc, reason)
            b.node(service_id(consumer), NodeKind.SERVICE, consumer, acc, errors_only=True)

    for topic in produced | consumed:
        reason = _topic_reason(topic, produced, consumed, unpaired)
        b.nodes[topic_id(topic)] = TopologyNode(topic_id(topic), NodeKind.TOPIC, topic, partial=bool(reason),
                                                partial_reason=reason)
    nodes = tuple(
        replace(n, messages=b.node_acc[n.id].count, errors=b.node_acc[n.id].errors)
        for n in sorted(b.nodes.values(), key=lambda n: n.id)
    )
    edges = []
    for (src, dst), acc in sorted(b.edges.items()):
        topic = b.edge_topic[(src, dst)]
        lag_offsets, lag_seconds = (lag.get((dst.removeprefix("group:"), topic), (None, None))
                                    if src.startswith("topic:") and dst.startswith("group:") else (None, None))
        edges.append(TopologyEdge(
            source=src, target=dst, topic=topic, messages=acc.count, rate_per_s=acc.count / seconds,
            errors=acc.errors, bytes=acc.bytes, latency=summarize(acc.buckets, acc.latency_sum_s),
            lag_offsets=lag_offsets, lag_seconds=lag_seconds, partial=acc.partial,
            partial_reason=b.edge_reason.get((src, dst), NO_PRODUCER if acc.partial else ""),
        ))
    return Topology(start_ns, end_ns, nodes, tuple(edges), _flows(produce, flows, consumed, seconds))


def _flows(produce: dict[tuple[str, str], EdgeAcc], flows: dict[_FlowKey, EdgeAcc], consumed: set[str],
           seconds: float) -> tuple[TopologyFlow, ...]:
    out = [
        TopologyFlow(producer, topic, group, consumer, acc.count, acc.count / seconds, acc.errors, acc.bytes,
                     summarize(acc.buckets, acc.latency_sum_s), partial=producer is None)
        for (producer, topic, group, consumer), acc in flows.items()
    ]
    out.extend(
        TopologyFlow(producer, topic, None, None, acc.count, acc.count / seconds, acc.errors, acc.bytes,
                     partial=True)
        for (producer, topic), acc in produce.items() if topic not in consumed
    )
    out.sort(key=lambda f: (f.topic, f.producer or "", f.consumer_group or "", f.consumer or ""))
    return tuple(out)


def service_edges(topology: Topology) -> dict[tuple[str, str], tuple[int, frozenset[str]]]:
    """Producer service → consumer service: messages and the topics carrying them (complete flows only)."""
    out: dict[tuple[str, str], tuple[int, frozenset[str]]] = {}
    for f in topology.flows:
        if f.producer is None or f.consumer is None:
            continue
        count, topics = out.get((f.producer, f.consumer), (0, frozenset()))
        out[(f.producer, f.consumer)] = (count + f.messages, topics | {f.topic})
    return out
