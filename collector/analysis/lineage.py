"""Lineage of one event: the causal DAG of produced events and their handlings across services and traces.

Nodes are events (send spans) and handlings (consumer process spans). Edges follow every relation the spans
carry, in both directions: a handling parented on or linked to a send (batch fan-in when it links several),
a send made while handling (found by walking up the send's parents to the nearest handling), outbox relays,
retries, dead-letter sends and replies (by correlation id). The pure `build_lineage` works on a span set;
`query.lineage` gathers that set from a store.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import replace

import networkx as nx

from eventlens.collector.consumed import consumes_nothing, creation_links, message_count
from eventlens.collector.model import (
    AttrValue,
    Lineage,
    LineageEdge,
    LineageNode,
    LineageNodeKind,
    LineageRelation,
    Operation,
    SpanKind,
    SpanRecord,
)
from eventlens.instrumentation.attributes import CORRELATION_ID, DEAD_LETTER, OUTBOX, REPLY_TO, RETRY_ATTEMPT

DEFAULT_MAX_NODES = 500
CONVERSATION_ID = "messaging.message.conversation_id"
"""Semantic-convention key instrumentations use for the correlation id (read when eventlens' own is absent)."""
SpanKey = tuple[str, str]

_CONSUME_RELATIONS = (LineageRelation.PARENT, LineageRelation.LINK, LineageRelation.BATCH)
_STRENGTH = {r: i for i, r in enumerate((
    LineageRelation.PARENT, LineageRelation.DEAD_LETTER, LineageRelation.RETRY, LineageRelation.OUTBOX,
    LineageRelation.REPLY, LineageRelation.PRODUCED, LineageRelation.LINK, LineageRelation.BATCH))}
"""When two relations join the same nodes, the lower rank is kept (a parent beats a link to the same span)."""


def is_event(span: SpanRecord) -> bool:
    """A send (or create) span: one produced message."""
    op = span.messaging.operation
    return op in (Operation.SEND, Operation.CREATE) or (op is None and span.kind is SpanKind.PRODUCER)


def is_handling(span: SpanRecord) -> bool:
    """A consumer-side span handling received messages (process, or receive when no process span exists); not
    a CONSUMER span without any messaging attribute or link (upstream confluent-kafka's empty `recv`)."""
    op = span.messaging.operation
    return op in (Operation.PROCESS, Operation.RECEIVE) or (
        op is None and span.kind is SpanKind.CONSUMER and not consumes_nothing(span))


def node_id(span: SpanRecord) -> str:
    """`event:<trace>:<span>` or `handling:<trace>:<span>`."""
    kind = "event" if is_event(span) else "handling"
    return f"{kind}:{span.trace_id}:{span.span_id}"


def _truthy(value: AttrValue | None) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _opt_str(value: AttrValue | None) -> str | None:
    return None if value is None or value == "" or isinstance(value, tuple) else str(value)


def _opt_int(value: AttrValue | None) -> int | None:
    if isinstance(value, bool) or value is None or isinstance(value, tuple):
        return None
    try:
        return int(value)
    except ValueError:
        return None


def to_node(span: SpanRecord, seed: bool = False) -> LineageNode:
    """The lineage node of a send or handling span."""
    m, a = span.messaging, span.attributes
    return LineageNode(
        id=node_id(span), kind=LineageNodeKind.EVENT if is_event(span) else LineageNodeKind.HANDLING,
        trace_id=span.trace_id, span_id=span.span_id, service=span.service, start_ns=span.start_ns,
        duration_ns=span.duration_ns, topic=m.topic, partition=m.partition, offset=m.offset, key=m.key,
        event_id=m.event_id, event_type=m.event_type, consumer_group=m.consumer_group, error=span.is_error,
        outbox=_truthy(a.get(OUTBOX)), retry_attempt=_opt_int(a.get(RETRY_ATTEMPT)),
        dead_letter=_truthy(a.get(DEAD_LETTER)), correlation_id=_opt_str(a.get(CORRELATION_ID, a.get(CONVERSATION_ID))),
        reply_to=_opt_str(a.get(REPLY_TO)), seed=seed, language=span.language,
    )


def _produced_relation(send: LineageNode, inputs: Iterable[LineageNode]) -> LineageRelation:
    if send.dead_letter:
        return LineageRelation.DEAD_LETTER
    if send.retry_attempt is not None:
        return LineageRelation.RETRY
    if send.outbox:
        return LineageRelation.OUTBOX
    if send.correlation_id and send.reply_to is None and any(
            i.reply_to and i.correlation_id == send.correlation_id for i in inputs):
        return LineageRelation.REPLY
    return LineageRelation.PRODUCED


class _Graph:
    """The causal multigraph under construction (edge key = relation, so each relation is kept once)."""

    def __init__(self, spans: Iterable[SpanRecord]) -> None:
        self.by_key: dict[SpanKey, SpanRecord] = {(s.trace_id, s.span_id): s for s in spans}
        self.graph = nx.MultiDiGraph()
        self.nodes: dict[SpanKey, LineageNode] = {}
        for key, span in self.by_key.items():
            if is_event(span) or is_handling(span):
                self.nodes[key] = to_node(span)
                self.graph.add_node(self.nodes[key].id, data=self.nodes[key])

    def add(self, src: LineageNode, dst: LineageNode, relation: LineageRelation) -> None:
        """One edge per pair of nodes: a relation found twice (e.g. parent and link) keeps the strongest."""
        if src.id == dst.id:
            return
        existing = self.graph.get_edge_data(src.id, dst.id) or {}
        if any(_STRENGTH[LineageRelation(k)] <= _STRENGTH[relation] for k in existing):
            return
        for key in list(existing):
            self.graph.remove_edge(src.id, dst.id, key=key)
        queue_ns = dst.start_ns - src.start_ns if relation in _CONSUME_RELATIONS else None
        self.graph.add_edge(src.id, dst.id, key=relation.value, data=LineageEdge(src.id, dst.id, relation, queue_ns))

    def linked(self, span: SpanRecord) -> list[LineageNode]:
        keys = ((link.trace_id, link.span_id) for link in span.links)
        return [self.nodes[k] for k in keys if k in self.nodes]

    def consume_edges(self, handling: LineageNode) -> None:
        """event → handling: the process span's parent send, and the sends it links to (several = a batch).

        Its input count is the rollups' (`consumed.message_count`): its parent send and creation links, links
        to spans not loaded included (the loader skips a leaf's siblings), or `messaging.batch.message_count`
        when larger. A CloudEvents origin link is an edge (LINK) but not an input.
        """
        span = self.by_key[(handling.trace_id, handling.span_id)]
        parent = self.nodes.get((span.trace_id, span.parent_span_id or ""))
        if parent is not None and parent.kind is LineageNodeKind.EVENT:
            self.add(parent, handling, LineageRelation.PARENT)
        inputs = {n.id: n for n in self.linked(span) if n.kind is LineageNodeKind.EVENT}
        creation = creation_links(span)
        keys = {k for k in creation if k not in self.nodes or self.nodes[k].kind is LineageNodeKind.EVENT}
        if parent is not None and parent.kind is LineageNodeKind.EVENT:
            inputs.pop(parent.id, None)
            keys.add((parent.trace_id, parent.span_id))
        receive = self.is_receive(handling)
        count = message_count(span, len(keys))
        self.graph.nodes[handling.id]["inputs"] = count
        # A poll (receive) span's records were fetched together, not combined: each is its own LINK.
        batch = count > 1 and not receive
        batch_ids = {f"event:{t}:{s}" for t, s in creation}
        for event in inputs.values():
            joined = batch and event.id in batch_ids
            self.add(event, handling, LineageRelation.BATCH if joined else LineageRelation.LINK)

    def is_receive(self, node: LineageNode) -> bool:
        """A poll/receive span (fetches records; handles none of them in particular)."""
        return self.by_key[(node.trace_id, node.span_id)].messaging.operation is Operation.RECEIVE

    def nearest_messaging_ancestor(self, span: SpanRecord) -> LineageNode | None:
        seen: set[SpanKey] = set()
        cursor = span
        while cursor.parent_span_id and (cursor.trace_id, cursor.parent_span_id) not in seen:
            pkey = (cursor.trace_id, cursor.parent_span_id)
            seen.add(pkey)
            if pkey in self.nodes:
                return self.nodes[pkey]
            parent = self.by_key.get(pkey)
            if parent is None:
                return None
            cursor = parent
        return None

    def produce_edges(self, event: LineageNode) -> None:
        """handling → event (or event → event): the nearest messaging ancestor of a send, and its links."""
        span = self.by_key[(event.trace_id, event.span_id)]
        ancestor = self.nearest_messaging_ancestor(span)
        causes = ([ancestor] if ancestor is not None else []) + self.linked(span)
        for cause in causes:
            inputs = [self.graph.nodes[p]["data"] for p in self.graph.predecessors(cause.id)] + [cause]
            self.add(cause, event, _produced_relation(event, inputs))

    def reply_edges(self) -> None:
        """request → reply by correlation id when no span path joins them (broken or separate traces)."""
        requests = {n.correlation_id: n for n in self.nodes.values()
                    if n.kind is LineageNodeKind.EVENT and n.reply_to and n.correlation_id}
        for node in self.nodes.values():
            request = requests.get(node.correlation_id or "")
            if (node.kind is LineageNodeKind.EVENT and request is not None and node.reply_to is None
                    and node.service != request.service and not nx.has_path(self.graph, request.id, node.id)):
                self.add(request, node, LineageRelation.REPLY)


def causal_graph(spans: Iterable[SpanRecord]) -> nx.MultiDiGraph:
    """Every event and handling node of a span set, with every causal edge between them (unbounded)."""
    g = _Graph(spans)
    for node in g.nodes.values():
        if node.kind is LineageNodeKind.HANDLING:
            g.consume_edges(node)
    for node in g.nodes.values():
        if node.kind is LineageNodeKind.EVENT:
            g.produce_edges(node)
    g.reply_edges()
    _enrich_events(g.graph)
    receives = {n.id for n in g.nodes.values() if g.is_receive(n)}
    _drop_shadowed_receives(g.graph, receives)
    for nid in g.graph:
        g.graph.nodes[nid]["receive"] = nid in receives
        g.graph.nodes[nid].setdefault("inputs", g.graph.in_degree(nid))
    return g.graph


_RESENDS = (LineageRelation.RETRY.value, LineageRelation.DEAD_LETTER.value)


def _enrich_events(graph: nx.MultiDiGraph) -> None:
    """A send span may lack the event's type and id (e.g. CloudEvents headers set by the application and read
    only on the consuming side): take them from a consumer's process span of that same message; a retry or
    dead-letter send, which re-sends the message being handled, takes the handled message's type."""
    for nid, node in list(graph.nodes(data="data")):
        if node.kind is not LineageNodeKind.EVENT or (node.event_type and node.event_id):
            continue
        handlers = [graph.nodes[v]["data"] for _, v, k in graph.out_edges(nid, keys=True)
                    if k in (LineageRelation.PARENT.value, LineageRelation.LINK.value)]
        handled = [graph.nodes[u]["data"] for u, _, k in graph.in_edges(nid, keys=True) if k in _RESENDS]
        event_type = node.event_type or next((h.event_type for h in handlers + handled if h.event_type), None)
        event_id = node.event_id or next((h.event_id for h in handlers if h.event_id), None)
        if (event_type, event_id) != (node.event_type, node.event_id):
            graph.nodes[nid]["data"] = replace(node, event_type=event_type, event_id=event_id)


def _drop_shadowed_receives(graph: nx.MultiDiGraph, receives: set[str]) -> None:
    """A poll/receive span adds nothing when, for every event it received, a process span of the same service
    handled that event too: drop it (unless something was sent under it)."""
    for rid in receives:
        if rid not in graph or graph.out_degree(rid) > 0:
            continue
        service = graph.nodes[rid]["data"].service
        events = list(graph.predecessors(rid))
        if events and all(
                any(h != rid and h not in receives and graph.nodes[h]["data"].service == service
                    for h in graph.successors(e))
                for e in events):
            graph.remove_node(rid)


def _neighbours(graph: nx.MultiDiGraph, nid: str, seed: bool) -> list[str]:
    """Where the walk goes from a node: everything it caused, and what caused it, except that a handling which
    produced nothing (a leaf, e.g. a poll span fetching a batch) does not lead from one of its inputs to the
    others: records merely fetched or handled together are not each other's lineage. A handling that produced
    something is a join (fan-in), and all its inputs are walked; so are a seed's."""
    successors = list(graph.successors(nid))
    node: LineageNode = graph.nodes[nid]["data"]
    if node.kind is LineageNodeKind.HANDLING and not successors and not seed:
        return successors
    return successors + list(graph.predecessors(nid))


def _order(graph: nx.MultiDiGraph) -> list[str]:
    try:
        return list(nx.lexicographical_topological_sort(graph, key=lambda n: (graph.nodes[n]["data"].start_ns, n)))
    except nx.NetworkXUnfeasible:  # a cycle in bad data: fall back to time order
        return sorted(graph.nodes, key=lambda n: (graph.nodes[n]["data"].start_ns, n))


def _ms(ns: int | None) -> str:
    if ns is None:
        return "?"
    ms = ns / 1e6
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"


def _event_phrase(node: LineageNode, relation: LineageRelation | None, trigger: LineageNode | None) -> str:
    what = node.event_type or "a message"
    where = node.topic or "?"
    if relation is LineageRelation.DEAD_LETTER:
        text = f"{node.service} dead-lettered {what} to {where}"
    elif relation is LineageRelation.RETRY or (relation is None and node.retry_attempt is not None):
        text = f"{node.service} retried {what} (attempt {node.retry_attempt}) on {where}"
    elif relation is LineageRelation.OUTBOX or (relation is None and node.outbox):
        text = f"{node.service} relayed {what} through its outbox to {where}"
    elif relation is LineageRelation.REPLY:
        text = f"{node.service} replied with {what} on {where}"
    else:
        text = f"{node.service} sent {what} to {where}"
    if trigger is not None and trigger.kind is LineageNodeKind.HANDLING and relation is not LineageRelation.REPLY:
        text += " while handling it" if relation is LineageRelation.PRODUCED else ""
    if node.error:
        text += " (the send failed)"
    return text


def _story(graph: nx.MultiDiGraph, order: list[str]) -> tuple[str, ...]:
    sentences = []
    for nid in order:
        node: LineageNode = graph.nodes[nid]["data"]
        if node.kind is not LineageNodeKind.EVENT:
            continue
        incoming = [(graph.nodes[u]["data"], k) for u, _, k in graph.in_edges(nid, keys=True)]
        relation = LineageRelation(incoming[0][1]) if incoming else None
        parts = [_event_phrase(node, relation, incoming[0][0] if incoming else None)]
        for _, target, data in graph.out_edges(nid, data="data"):
            handler: LineageNode = graph.nodes[target]["data"]
            if handler.kind is not LineageNodeKind.HANDLING:
                continue
            inputs = graph.nodes[target]["inputs"]
            if graph.nodes[target]["receive"]:
                phrase = f"{handler.service} received it after {_ms(data.queue_ns)}"
                phrase += f" in a poll of {inputs} records" if inputs > 1 else ""
            else:
                phrase = f"{handler.service} consumed it after {_ms(data.queue_ns)}"
                phrase += f" in a batch of {inputs}" if data.relation is LineageRelation.BATCH else ""
            phrase += f" (handled in {_ms(handler.duration_ns)}"
            phrase += ", failed)" if handler.error else ")"
            parts.append(phrase)
        sentences.append("; ".join(parts) + ".")
    return tuple(sentences)


def build_lineage(spans: Iterable[SpanRecord], seeds: Iterable[SpanKey],
                  max_nodes: int = DEFAULT_MAX_NODES) -> Lineage:
    """The causal DAG reachable (both directions) from the seed spans, at most `max_nodes` nodes, nearest
    first; with the event types in causal order and a plain-text story."""
    full = causal_graph(spans)
    seed_ids = []
    for trace_id, span_id in seeds:
        for kind in ("event", "handling"):
            nid = f"{kind}:{trace_id}:{span_id}"
            if nid in full and nid not in seed_ids:
                seed_ids.append(nid)
    keep: list[str] = []
    kept: set[str] = set()
    seed_set = set(seed_ids)
    todo = deque(seed_ids)
    truncated = False
    while todo:
        nid = todo.popleft()
        if nid in kept:
            continue
        if len(keep) >= max_nodes:
            truncated = True
            break
        keep.append(nid)
        kept.add(nid)
        todo.extend(n for n in _neighbours(full, nid, nid in seed_set) if n not in kept)
    graph = full.subgraph(keep).copy()
    order = _order(graph)
    nodes = []
    for nid in order:
        data: LineageNode = graph.nodes[nid]["data"]
        if nid in seed_set:
            data = to_seed(data)
            graph.nodes[nid]["data"] = data
        nodes.append(data)
    position = {nid: i for i, nid in enumerate(order)}
    edges = sorted((d for _, _, d in graph.edges(data="data")),
                   key=lambda e: (position[e.source], position[e.target], e.relation))
    event_types: list[str] = []
    for n in nodes:
        if n.kind is LineageNodeKind.EVENT and n.event_type and n.event_type not in event_types:
            event_types.append(n.event_type)
    traces = sorted({n.trace_id for n in nodes})
    return Lineage(tuple(nodes), tuple(edges), tuple(event_types), _story(graph, order), tuple(traces), truncated)


def to_seed(node: LineageNode) -> LineageNode:
    """The same node marked as matching the lookup."""
    return replace(node, seed=True)
