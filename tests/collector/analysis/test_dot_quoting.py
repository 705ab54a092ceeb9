"""One DOT quoting: the topology and lineage exports and the dashboard's drawings quote a hostile name the same
way, with `analysis.dot`, and the result parses back as one label showing the name."""

from __future__ import annotations

import pydot
import pytest

from eventlens.collector.analysis import dot as collector_dot
from eventlens.collector.analysis.dot import MAX_LABEL, quote, quote_id
from eventlens.collector.analysis.exports import lineage_to_dot, to_dot
from eventlens.collector.model import (
    Lineage,
    LineageNode,
    LineageNodeKind,
    NodeKind,
    Topology,
    TopologyEdge,
    TopologyNode,
)
from eventlens.dashboard import dot as dashboard_dot
from eventlens.dashboard import graphs

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning")

HOSTILE = {
    "double quote": 'we"ird',
    "backslash": "back\\slash",
    "graphviz escapes": "\\N\\G\\l\\n",
    "breaks out of the label": 'x"] ; n9 [label="pwned',
    "newline": "line\nbreak",
    "carriage return": "cr\r\nlf",
    "angle brackets": "<b>bold</b>",
    "html": "<img src=x onerror=alert(1)>",
    "html-like label": "<<table><tr><td>x</td></tr></table>>",
    "bidi override": "abc\u202edcba",
    "nul and lone surrogate": "nul\x00\ud800",
    "very long": "x" * 500,
}


def _topology(name: str) -> Topology:
    nodes = (TopologyNode(f"service:{name}", NodeKind.SERVICE, name, messages=1),
             TopologyNode("topic:orders", NodeKind.TOPIC, "orders", messages=1))
    edges = (TopologyEdge(f"service:{name}", "topic:orders", "orders", messages=1, rate_per_s=0.1, errors=0,
                          bytes=1),)
    return Topology(0, 60_000_000_000, nodes, edges)


def _labels(text: str) -> list[str]:
    (graph,) = pydot.graph_from_dot_data(text)
    return [n.get_label() for n in graph.get_nodes() if n.get_name() not in ("node", "edge", "graph")]


def test_the_dashboard_draws_with_the_collector_rule() -> None:
    """The dashboard's `dot.quote` is the collector's: one function, not a copy."""
    assert dashboard_dot.quote is collector_dot.quote
    assert dashboard_dot.MAX_LABEL == MAX_LABEL


@pytest.mark.parametrize("name", HOSTILE.values(), ids=HOSTILE.keys())
def test_export_and_dashboard_label_a_hostile_name_the_same(name: str) -> None:
    """The topology export and the dashboard's topology drawing both label the node with `quote(name)`."""
    topo = _topology(name)
    exported = _labels(to_dot(topo))
    drawn = _labels(dashboard_dot.to_dot(graphs.topology_graph(topo)))
    assert quote(name) in exported
    assert quote(name) in drawn
    assert sorted(exported) == sorted(drawn)


@pytest.mark.parametrize("name", HOSTILE.values(), ids=HOSTILE.keys())
def test_lineage_export_labels_with_the_same_rule(name: str) -> None:
    """The lineage export quotes its labels with the same rule (here a handling's service name)."""
    node = LineageNode(id=f"handling:{name}", kind=LineageNodeKind.HANDLING, service=name, trace_id="t",
                       span_id="s", start_ns=0, duration_ns=2_000_000)
    labels = _labels(lineage_to_dot(Lineage(nodes=(node,), edges=())))
    assert labels == [quote(f"{name} handles (2.0 ms)")]


@pytest.mark.parametrize("name", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_quoted_name_is_one_line_without_controls(name: str) -> None:
    """No quoted name holds a line break, a control, a format character or a lone surrogate."""
    for quoted in (quote(name), quote_id(name)):
        assert "\n" not in quoted and "\r" not in quoted and "\x00" not in quoted
        assert "\u202e" not in quoted and "\ud800" not in quoted
        quoted.encode("utf-8")


def test_long_labels_are_cut_with_an_ellipsis_and_ids_never() -> None:
    """A label is cut to MAX_LABEL characters; an id keeps its full length (two long ids stay two nodes)."""
    assert quote("x" * 500) == '"' + "x" * (MAX_LABEL - 1) + '…"'
    assert quote_id("x" * 500) == '"' + "x" * 500 + '"'


def test_ids_differing_only_in_a_control_character_stay_distinct() -> None:
    """quote_id writes category-C characters as visible escapes, so such ids do not collide."""
    assert quote_id("a\x00b") == '"a\\\\x00b"'
    assert quote_id("a\x00b") != quote_id("a\x02b")
    assert quote_id("a\u202eb") == '"a\\\\u202eb"'
