"""Pure graph builders: topology and lineage results to networkx graphs."""

from __future__ import annotations

from eventlens.collector.model import (
    Lineage,
    LineageEdge,
    LineageNode,
    LineageNodeKind,
    LineageRelation,
    NodeKind,
    Topology,
    TopologyEdge,
    TopologyFlow,
    TopologyNode,
)
from eventlens.dashboard import graphs


def _topology() -> Topology:
    """orders → [orders] → billing-g → billing → [payments] (no consumer); [legacy] from an unknown producer."""
    nodes = (
        TopologyNode("service:orders", NodeKind.SERVICE, "orders", 10),
        TopologyNode("topic:orders", NodeKind.TOPIC, "orders", 10),
        TopologyNode("group:billing-g", NodeKind.CONSUMER_GROUP, "billing-g", 10),
        TopologyNode("service:billing", NodeKind.SERVICE, "billing", 10, errors=1),
        TopologyNode("topic:payments", NodeKind.TOPIC, "payments", 4, partial=True, partial_reason="no consumer seen"),
        TopologyNode("topic:legacy", NodeKind.TOPIC, "legacy", 2, partial=True),
        TopologyNode("service:archiver", NodeKind.SERVICE, "archiver", 2),
    )
    edges = (
        TopologyEdge("service:orders", "topic:orders", "orders", 10, 1.0, 0, 100),
        TopologyEdge("topic:orders", "group:billing-g", "orders", 10, 1.0, 0, 100),
        TopologyEdge("group:billing-g", "service:billing", "orders", 10, 1.0, 1, 100),
        TopologyEdge("service:billing", "topic:payments", "payments", 4, 0.4, 0, 40, partial=True),
        TopologyEdge("topic:legacy", "service:archiver", "legacy", 2, 0.2, 0, 20, partial=True),
    )
    flows = (
        TopologyFlow("orders", "orders", "billing-g", "billing", 10, 1.0, 1, 100),
        TopologyFlow("billing", "payments", None, None, 4, 0.4, 0, 40, partial=True),
        TopologyFlow(None, "legacy", None, "archiver", 2, 0.2, 0, 20, partial=True),
    )
    return Topology(0, 60, nodes, edges, flows)


def test_topology_graph_holds_every_edge_without_filters() -> None:
    """No filter: every node and edge of the topology, with names as labels."""
    graph = graphs.topology_graph(_topology())
    assert graph.number_of_edges() == 5
    assert graph.nodes["group:billing-g"]["label"] == "billing-g"
    assert graph.nodes["group:billing-g"]["kind"] == "consumer_group"


def test_topology_graph_flags_partial_edges_and_failing_nodes() -> None:
    """Partial edges and topics are flagged (drawn dashed); a node with errors is flagged red."""
    graph = graphs.topology_graph(_topology())
    assert graph.edges["topic:legacy", "service:archiver"]["partial"] is True
    assert graph.edges["service:orders", "topic:orders"]["partial"] is False
    assert graph.nodes["topic:payments"]["partial"] is True
    assert graph.nodes["service:billing"]["error"] is True


def test_topology_graph_for_a_service_keeps_the_topics_it_touches() -> None:
    """Filtering on billing keeps orders (consumed) and payments (produced), not legacy."""
    graph = graphs.topology_graph(_topology(), services=["billing"])
    assert "topic:legacy" not in graph
    assert "topic:orders" in graph and "topic:payments" in graph


def test_topology_graph_for_a_topic_and_service_keeps_their_intersection() -> None:
    """Both filters: only the chosen topic, and only if the service touches it."""
    graph = graphs.topology_graph(_topology(), services=["billing"], topics=["payments"])
    assert set(graph.edges) == {("service:billing", "topic:payments")}
    assert graphs.topology_graph(_topology(), services=["orders"], topics=["legacy"]).number_of_edges() == 0


def test_topology_graph_for_an_unknown_service_is_empty() -> None:
    """A service that touches no topic in the window shows nothing rather than everything."""
    assert graphs.topology_graph(_topology(), services=["nobody"]).number_of_nodes() == 0


def _node(nid: str, kind: LineageNodeKind, service: str, start: int, **kw: object) -> LineageNode:
    return LineageNode(id=nid, kind=kind, trace_id="t", span_id=nid, service=service, start_ns=start,
                       duration_ns=1000, **kw)  # type: ignore[arg-type]


def test_lineage_graph_labels_nodes_and_marks_links_and_dead_letters() -> None:
    """Events show their type, handlings their group; links draw dashed, dead-letter sends red."""
    lineage = Lineage(
        nodes=(_node("e1", LineageNodeKind.EVENT, "orders", 0, event_type="OrderPlaced", topic="orders"),
               _node("h1", LineageNodeKind.HANDLING, "billing", 5, consumer_group="billing-g"),
               _node("e2", LineageNodeKind.EVENT, "billing", 7, topic="orders.dlq", dead_letter=True)),
        edges=(LineageEdge("e1", "h1", LineageRelation.LINK, 5),
               LineageEdge("h1", "e2", LineageRelation.DEAD_LETTER)))
    graph = graphs.lineage_graph(lineage)
    assert graph.nodes["e1"]["label"] == ("orders", "event", "OrderPlaced")
    assert graph.nodes["h1"]["label"] == ("billing", "handling", "billing-g")
    assert graph.edges["e1", "h1"]["partial"] is True
    assert graph.edges["h1", "e2"]["error"] is True and graph.nodes["e2"]["error"] is True


def test_topology_graph_draws_only_the_busiest_edges_when_capped() -> None:
    """With `max_edges`, the busiest edges stay and the graph says how many were left out."""
    graph = graphs.topology_graph(_topology(), max_edges=3)
    assert graph.number_of_edges() == 3
    assert graph.graph["hidden_edges"] == 2
    assert ("topic:legacy", "service:archiver") not in graph.edges
