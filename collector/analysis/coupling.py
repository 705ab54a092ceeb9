"""Coupling between services through their events: fan-in/out, Ca/Ce/instability, shared topics, event-type
coupling, temporal (request/reply) coupling, cycles, a coupling matrix and the blast radius of an event type.

Pure functions over the topology (itself built from rollups), schema sightings and request/reply spans.
"""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence

import networkx as nx

from eventlens.collector.analysis.lineage import CONVERSATION_ID
from eventlens.collector.analysis.topology import service_edges
from eventlens.collector.model import (
    NS_PER_S,
    BlastRadius,
    CouplingReport,
    EventTypeCoupling,
    Operation,
    Role,
    SchemaSighting,
    ServiceCoupling,
    SharedTopic,
    SpanKind,
    SpanRecord,
    TemporalCoupling,
    Topology,
)
from eventlens.instrumentation.attributes import CORRELATION_ID, REPLY_TO

DEFAULT_REPLY_WINDOW_S = 30.0
MAX_CYCLES = 100
MAX_CYCLE_LENGTH = 8


def service_graph(topology: Topology) -> nx.DiGraph:
    """Producer service → consumer service, edges weighted by messages and labelled with their topics."""
    graph = nx.DiGraph()
    for f in topology.flows:
        for name in (f.producer, f.consumer):
            if name is not None:
                graph.add_node(name)
    for (src, dst), (messages, topics) in service_edges(topology).items():
        graph.add_edge(src, dst, messages=messages, topics=tuple(sorted(topics)))
    return graph


def _topic_sides(topology: Topology) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    producers: dict[str, set[str]] = defaultdict(set)
    consumers: dict[str, set[str]] = defaultdict(set)
    for f in topology.flows:
        if f.producer is not None:
            producers[f.topic].add(f.producer)
        if f.consumer is not None:
            consumers[f.topic].add(f.consumer)
    for e in topology.edges:
        if e.source.startswith("service:") and e.target.startswith("topic:"):
            producers[e.topic].add(e.source.removeprefix("service:"))
    return producers, consumers


def service_metrics(topology: Topology) -> tuple[ServiceCoupling, ...]:
    """Per service: topics consumed (fan-in) and produced (fan-out), Ca, Ce and instability Ce/(Ca+Ce)."""
    producers, consumers = _topic_sides(topology)
    services = set(itertools.chain.from_iterable(producers.values())) | set(
        itertools.chain.from_iterable(consumers.values()))
    produced: dict[str, set[str]] = defaultdict(set)
    consumed: dict[str, set[str]] = defaultdict(set)
    for topic, names in producers.items():
        for name in names:
            produced[name].add(topic)
    for topic, names in consumers.items():
        for name in names:
            consumed[name].add(topic)
    dependents: dict[str, set[str]] = defaultdict(set)  # who consumes my events
    dependencies: dict[str, set[str]] = defaultdict(set)  # whose events I consume
    for (src, dst) in service_edges(topology):
        if src != dst:
            dependents[src].add(dst)
            dependencies[dst].add(src)
    out = []
    for name in sorted(services):
        ca, ce = len(dependents[name]), len(dependencies[name])
        out.append(ServiceCoupling(
            service=name, fan_in=len(consumed[name]), fan_out=len(produced[name]), afferent=ca, efferent=ce,
            instability=ce / (ca + ce) if ca + ce else None,
            topics_produced=tuple(sorted(produced[name])), topics_consumed=tuple(sorted(consumed[name])),
        ))
    return tuple(out)


def shared_topics(topology: Topology) -> tuple[SharedTopic, ...]:
    """Topics with more than one producing or more than one consuming service."""
    producers, consumers = _topic_sides(topology)
    return tuple(
        SharedTopic(topic, tuple(sorted(producers.get(topic, ()))), tuple(sorted(consumers.get(topic, ()))))
        for topic in sorted(set(producers) | set(consumers))
        if len(producers.get(topic, ())) > 1 or len(consumers.get(topic, ())) > 1
    )


def event_type_coupling(sightings: Iterable[SchemaSighting], topology: Topology) -> tuple[EventTypeCoupling, ...]:
    """Per event type its producers and the consumers depending on it: consumer sightings of the type, plus the
    consumers of every topic it was produced to (a consumer that does not report event types still reads it)."""
    producers: dict[str, set[str]] = defaultdict(set)
    consumers: dict[str, set[str]] = defaultdict(set)
    topics: dict[str, set[str]] = defaultdict(set)
    for s in sightings:
        if not s.event_type:
            continue
        (producers if s.role is Role.PRODUCER else consumers)[s.event_type].add(s.service)
        if s.topic:
            topics[s.event_type].add(s.topic)
    _, topic_consumers = _topic_sides(topology)
    for event_type, names in topics.items():
        for topic in names:
            consumers[event_type] |= topic_consumers.get(topic, set())
    return tuple(
        EventTypeCoupling(et, tuple(sorted(producers[et])), tuple(sorted(consumers[et])), tuple(sorted(topics[et])))
        for et in sorted(set(producers) | set(consumers))
    )


def blast_radius(event_type: EventTypeCoupling, graph: nx.DiGraph) -> BlastRadius:
    """Direct consumers of an event type and every service downstream of them in the service graph."""
    direct = set(event_type.consumers)
    reached: set[str] = set()
    for name in direct:
        if name in graph:
            reached |= nx.descendants(graph, name)
    return BlastRadius(event_type.event_type, event_type.producers, tuple(sorted(direct)),
                       tuple(sorted(reached - direct)))


def find_cycles(graph: nx.DiGraph, max_cycles: int = MAX_CYCLES,
                max_length: int = MAX_CYCLE_LENGTH) -> tuple[tuple[str, ...], ...]:
    """Simple cycles of the service graph (self-loops included), each rotated to start at its smallest name;
    at most `max_cycles` of at most `max_length` services."""
    found = []
    for cycle in itertools.islice(nx.simple_cycles(graph, length_bound=max_length), max_cycles):
        i = cycle.index(min(cycle))
        found.append(tuple(cycle[i:] + cycle[:i]))
    return tuple(sorted(found, key=lambda c: (len(c), c)))


def coupling_matrix(graph: nx.DiGraph) -> tuple[tuple[str, ...], tuple[tuple[int, ...], ...]]:
    """Services (sorted) and messages from row service to column service."""
    names = tuple(sorted(graph.nodes))
    index = {n: i for i, n in enumerate(names)}
    rows = [[0] * len(names) for _ in names]
    for src, dst, data in graph.edges(data=True):
        rows[index[src]][index[dst]] += int(data.get("messages", 0))
    return names, tuple(tuple(r) for r in rows)


def _str_attr(span: SpanRecord, key: str) -> str | None:
    value = span.attributes.get(key)
    return str(value) if value not in (None, "") else None


def _is_send(span: SpanRecord) -> bool:
    return span.messaging.operation in (Operation.SEND, Operation.CREATE) or (
        span.messaging.operation is None and span.kind is SpanKind.PRODUCER)


def _is_consume(span: SpanRecord) -> bool:
    return span.messaging.operation in (Operation.PROCESS, Operation.RECEIVE) or (
        span.messaging.operation is None and span.kind is SpanKind.CONSUMER)


def temporal_coupling(spans: Iterable[SpanRecord],
                      window_s: float = DEFAULT_REPLY_WINDOW_S) -> tuple[TemporalCoupling, ...]:
    """Request/reply pairs by correlation id: a request sent with `reply-to` and a reply sent by another service
    with the same correlation id. Round trip = the requester's consumption of the reply (else the reply's send)
    − the request's send; pairs back within `window_s` make the async link act like a synchronous call."""
    requests: dict[str, SpanRecord] = {}
    replies: dict[str, list[SpanRecord]] = defaultdict(list)
    consumed: dict[str, list[SpanRecord]] = defaultdict(list)
    for span in spans:
        cid = _str_attr(span, CORRELATION_ID) or _str_attr(span, CONVERSATION_ID)
        if cid is None:
            continue
        if _is_send(span):
            if _str_attr(span, REPLY_TO) is not None:
                requests.setdefault(cid, span)
            else:
                replies[cid].append(span)
        elif _is_consume(span):
            consumed[cid].append(span)
    trips: dict[tuple[str, str, str, str | None], list[float]] = defaultdict(list)
    for cid, request in requests.items():
        reply = next((r for r in sorted(replies.get(cid, ()), key=lambda s: s.start_ns)
                      if r.service != request.service), None)
        if reply is None:
            continue
        reply_topic = reply.messaging.topic or _str_attr(request, REPLY_TO)
        back = [c for c in consumed.get(cid, ()) if c.service == request.service
                and (reply_topic is None or c.messaging.topic in (None, reply_topic))]
        end_ns = min((c.start_ns for c in back), default=reply.start_ns)
        key = (request.service, reply.service, request.messaging.topic or "", reply_topic)
        trips[key].append(max(0, end_ns - request.start_ns) / NS_PER_S)
    return tuple(
        TemporalCoupling(requester=k[0], replier=k[1], request_topic=k[2], reply_topic=k[3], pairs=len(v),
                         within_window=sum(1 for t in v if t <= window_s),
                         median_round_trip_s=statistics.median(v), max_round_trip_s=max(v))
        for k, v in sorted(trips.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2], kv[0][3] or ""))
    )


def build_coupling(topology: Topology, sightings: Sequence[SchemaSighting] = (),
                   spans: Iterable[SpanRecord] = (), *, reply_window_s: float = DEFAULT_REPLY_WINDOW_S,
                   max_cycles: int = MAX_CYCLES, max_cycle_length: int = MAX_CYCLE_LENGTH) -> CouplingReport:
    """Every coupling figure over the topology's window; `spans` only feed temporal coupling."""
    graph = service_graph(topology)
    et = event_type_coupling(sightings, topology)
    names, matrix = coupling_matrix(graph)
    return CouplingReport(
        start_ns=topology.start_ns, end_ns=topology.end_ns,
        services=service_metrics(topology), shared_topics=shared_topics(topology), event_types=et,
        temporal=temporal_coupling(spans, reply_window_s),
        cycles=find_cycles(graph, max_cycles, max_cycle_length),
        matrix_services=names, matrix=matrix,
        blast_radius=tuple(blast_radius(e, graph) for e in et),
    )
