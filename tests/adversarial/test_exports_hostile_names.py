"""Exports of a topology whose names come from hostile or careless senders: every format still parses back,
CSV cells cannot start a spreadsheet formula, and characters XML 1.0 forbids never reach GraphML or GEXF."""

from __future__ import annotations

import csv
import io
import json

import networkx as nx
import pydot
import pytest

from eventlens.collector.analysis.exports import (
    CSV_COLUMNS,
    lineage_to_dot,
    lineage_to_mermaid,
    to_csv,
    to_dot,
    to_gexf,
    to_graphml,
    to_json,
    to_mermaid,
)
from eventlens.collector.model import (
    Lineage,
    LineageEdge,
    LineageNode,
    LineageNodeKind,
    LineageRelation,
    NodeKind,
    Topology,
    TopologyEdge,
    TopologyNode,
)

CONTROL = "svc\x00nul\x01soh\x08bs\x0bvt\x0cff\x1besc\x7fdel\ud800lone"
"""A service name holding NUL, C0 controls XML 1.0 forbids, DEL and a lone surrogate (from a JSON `\\ud800`)."""
CONTROL_TWIN = "svc\x02nul\x01soh\x08bs\x0bvt\x0cff\x1besc\x7fdel\ud800lone"
"""Differs from CONTROL only in one forbidden character: the two must stay two nodes."""
FORMULAS = ("=HYPERLINK(\"http://evil\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\tpad", "\rcr")
"""Topic names a spreadsheet would run as formulas (OWASP CSV injection)."""


def _topology(*service_names: str, topics: tuple[str, ...] = ("orders",)) -> Topology:
    """Each service produces to each topic; one node per name, one edge per (service, topic)."""
    nodes = [TopologyNode(f"service:{s}", NodeKind.SERVICE, s, messages=1) for s in service_names]
    nodes += [TopologyNode(f"topic:{t}", NodeKind.TOPIC, t, messages=1, partial=True,
                           partial_reason=f"no consumer of {t}") for t in topics]
    edges = [TopologyEdge(f"service:{s}", f"topic:{t}", t, messages=1, rate_per_s=0.5, errors=0, bytes=10)
             for s in service_names for t in topics]
    return Topology(0, 60_000_000_000, tuple(nodes), tuple(edges))


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("topic", FORMULAS)
def test_csv_cell_that_would_start_a_formula_gets_a_leading_quote(topic: str) -> None:
    """A topic cell starting with =, +, -, @, tab or CR is written with a leading `'`, the rest kept."""
    rows = _csv_rows(to_csv(_topology("orders", topics=(topic,))))
    assert rows[0]["topic"] == "'" + topic
    assert rows[0]["target"] == "topic:" + topic


@pytest.mark.parametrize("service", ["=1+1", "@me", "-x", "+y"])
def test_csv_source_cell_of_a_formula_like_service_is_neutralised(service: str) -> None:
    """The source column is neutralised too: any text cell, not only the topic."""
    topo = Topology(0, 1, (TopologyNode(service, NodeKind.SERVICE, service),
                           TopologyNode("topic:t", NodeKind.TOPIC, "t")),
                    (TopologyEdge(service, "topic:t", "t", 1, 1.0, 0, 1),))
    (row,) = _csv_rows(to_csv(topo))
    assert row["source"] == "'" + service


def test_csv_numbers_are_left_as_numbers() -> None:
    """Numeric cells are ours, never text from a sender: a negative lag stays `-3`, not `'-3`."""
    topo = Topology(0, 1, (TopologyNode("service:a", NodeKind.SERVICE, "a"),
                           TopologyNode("topic:t", NodeKind.TOPIC, "t")),
                    (TopologyEdge("service:a", "topic:t", "t", 1, 1.0, 0, 1, lag_offsets=-3),))
    (row,) = _csv_rows(to_csv(topo))
    assert row["lag_offsets"] == "-3"


def test_csv_with_control_characters_reads_back_with_one_row_per_edge() -> None:
    """NUL, CR and friends in a name do not split or break rows: the csv module reads the same rows back."""
    topo = _topology(CONTROL, "plain\r\nname", topics=("a", "b"))
    rows = _csv_rows(to_csv(topo))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == len(topo.edges)
    to_csv(topo).encode("utf-8")  # no lone surrogate left to fail the file write


def test_graphml_with_control_characters_parses_back_with_every_node() -> None:
    """GraphML of names with characters XML 1.0 forbids parses with networkx, two names still two nodes."""
    topo = _topology(CONTROL, CONTROL_TWIN, "ok")
    graph = nx.parse_graphml(to_graphml(topo).encode("utf-8"))
    assert graph.number_of_nodes() == len(topo.nodes)
    assert graph.number_of_edges() == len(topo.edges)


def test_gexf_with_control_characters_parses_back_with_every_node() -> None:
    """GEXF of the same names reads back with networkx, node and edge counts unchanged."""
    topo = _topology(CONTROL, CONTROL_TWIN, "ok")
    graph = nx.read_gexf(io.BytesIO(to_gexf(topo).encode("utf-8")))
    assert graph.number_of_nodes() == len(topo.nodes)
    assert graph.number_of_edges() == len(topo.edges)


def test_graphml_keeps_the_printable_part_of_a_name() -> None:
    """Only the forbidden characters are replaced: the rest of the name is still readable."""
    graph = nx.parse_graphml(to_graphml(_topology(CONTROL)).encode("utf-8"))
    names = {data["name"] for _, data in graph.nodes(data=True)}
    (name,) = [n for n in names if n.startswith("svc")]
    assert all(part in name for part in ("nul", "soh", "esc", "lone"))


def test_dot_with_control_characters_parses_with_pydot() -> None:
    """DOT of names with NUL, CR, controls and a lone surrogate parses with pydot, a node per name."""
    topo = _topology(CONTROL, CONTROL_TWIN, 'q"uote\\', "line\r\nbreak")
    text = to_dot(topo)
    text.encode("utf-8")
    assert "\x00" not in text and "\r" not in text
    (graph,) = pydot.graph_from_dot_data(text)
    names = {n.get_name() for n in graph.get_nodes()} - {"node", "edge", "graph"}
    assert len(names) == len(topo.nodes)
    assert len(graph.get_edges()) == len(topo.edges)


def test_mermaid_with_control_characters_has_one_line_per_node_and_edge() -> None:
    """No name can add or split a Mermaid line; the output encodes as UTF-8."""
    topo = _topology(CONTROL, "line\r\nbreak\u2028sep")
    text = to_mermaid(topo)
    text.encode("utf-8")
    assert len(text.splitlines()) == 1 + len(topo.nodes) + len(topo.edges)


def test_json_with_control_characters_reads_back_as_strict_json() -> None:
    """JSON node-link data of hostile names is ASCII, strict JSON, and rebuilds every node."""
    topo = _topology(CONTROL, CONTROL_TWIN)
    text = to_json(topo)
    assert text.isascii()
    graph = nx.node_link_graph(json.loads(text, strict=True), edges="edges")
    assert graph.number_of_nodes() == len(topo.nodes)


def _hostile_lineage() -> Lineage:
    event = LineageNode(id="e\x00\ud800", kind=LineageNodeKind.EVENT, service="svc\x01\r\n", trace_id="t",
                        span_id="s", start_ns=0, duration_ns=1, topic="top\x0bic", event_type="=cmd")
    handling = LineageNode(id="h\x00", kind=LineageNodeKind.HANDLING, service="b\x1b", trace_id="t", span_id="u",
                           start_ns=1, duration_ns=1)
    return Lineage(nodes=(event, handling),
                   edges=(LineageEdge(event.id, handling.id, LineageRelation.PARENT, queue_ns=1),))


def test_lineage_dot_with_control_characters_parses_with_pydot() -> None:
    """A lineage whose ids and names hold controls draws as DOT that pydot parses, one edge."""
    text = lineage_to_dot(_hostile_lineage())
    text.encode("utf-8")
    (graph,) = pydot.graph_from_dot_data(text)
    assert len(graph.get_edges()) == 1


def test_lineage_mermaid_with_control_characters_keeps_its_lines() -> None:
    """A lineage in Mermaid keeps one line per node and edge and encodes as UTF-8."""
    text = lineage_to_mermaid(_hostile_lineage())
    text.encode("utf-8")
    assert len(text.splitlines()) == 1 + 2 + 1
