"""Pure builders from the collector's model types to networkx graphs, drawn by `eventlens.dashboard.dot`.

No Streamlit, no store: tested alone. Node `label`s are names from spans (escaped only when drawn).
"""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx

from eventlens.collector.model import Lineage, LineageNodeKind, LineageRelation, Topology


def topics_of(topology: Topology, services: Iterable[str]) -> set[str]:
    """The topics the given services produce to or consume from (per the topology's flows)."""
    wanted = set(services)
    return {f.topic for f in topology.flows if f.producer in wanted or f.consumer in wanted}


def topology_graph(topology: Topology, *, services: Iterable[str] = (), topics: Iterable[str] = (),
                   max_edges: int | None = None) -> nx.DiGraph:
    """The service → topic → group → service graph, keeping only edges on the chosen topics and the topics the
    chosen services touch (everything when both are empty), and of those the `max_edges` busiest.

    Partial nodes and edges are flagged; `graph.graph["hidden_edges"]` counts edges left out by `max_edges`.
    """
    chosen_services, chosen_topics = set(services), set(topics)
    keep: set[str] | None = None
    if chosen_services:
        keep = topics_of(topology, chosen_services)
    if chosen_topics:
        keep = chosen_topics if keep is None else keep & chosen_topics
    edges = [e for e in topology.edges if keep is None or e.topic in keep]
    hidden = 0
    if max_edges is not None and len(edges) > max_edges:
        hidden = len(edges) - max_edges
        edges = sorted(edges, key=lambda e: (-e.messages, e.source, e.target))[:max_edges]
    graph = nx.DiGraph(hidden_edges=hidden)
    nodes = {n.id: n for n in topology.nodes}
    for edge in edges:
        for nid in (edge.source, edge.target):
            node = nodes.get(nid)
            if node is not None and nid not in graph:
                graph.add_node(nid, label=node.name, kind=node.kind.value, partial=node.partial,
                               error=node.errors > 0)
        if edge.source in graph and edge.target in graph:
            graph.add_edge(edge.source, edge.target, label=f"{edge.messages:,} msg · {edge.rate_per_s:.2g}/s",
                           partial=edge.partial, error=edge.errors > 0)
    return graph


def lineage_graph(lineage: Lineage) -> nx.DiGraph:
    """The causal DAG of a lineage: events (sends) and handlings, edges labelled with their relation."""
    graph = nx.DiGraph()
    for node in lineage.nodes:
        if node.kind is LineageNodeKind.EVENT:
            what = node.event_type or node.topic or ""
        else:
            what = node.consumer_group or node.topic or ""
        graph.add_node(node.id, label=tuple(x for x in (node.service, node.kind.value, what) if x),
                       kind=node.kind.value, error=node.error or node.dead_letter)
    for edge in lineage.edges:
        if edge.source in graph and edge.target in graph:
            graph.add_edge(edge.source, edge.target, label=edge.relation.value,
                           partial=edge.relation in (LineageRelation.LINK, LineageRelation.BATCH),
                           error=edge.relation is LineageRelation.DEAD_LETTER)
    return graph
