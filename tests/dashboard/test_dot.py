"""DOT output: every name is escaped so it shows as the same text and cannot change the graph."""

from __future__ import annotations

import networkx as nx
import pydot
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventlens.dashboard import dot

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning")

XSS = "<img src=x onerror=alert(1)>"


def _labels(text: str) -> list[str]:
    graphs = pydot.graph_from_dot_data(text)
    assert graphs is not None and len(graphs) == 1
    return [n.get_label() for n in graphs[0].get_nodes() if n.get_name() not in ("node", "edge")]


def _unescape(label: str) -> str:
    assert label.startswith('"') and label.endswith('"')
    body, out, i = label[1:-1], [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            out.append(body[i + 1])
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


@pytest.mark.parametrize("name", [XSS, 'a"b', "back\\slash", 'x"] ; n9 [label="pwned', "\\N\\G", "<b>bold</b>"])
def test_hostile_names_are_one_node_with_the_name_as_label(name: str) -> None:
    """Quotes, backslashes, HTML and DOT syntax in a name neither add nodes nor change the label's text."""
    graph = nx.DiGraph()
    graph.add_node("a", label=name, kind="service")
    graph.add_node("b", label="orders", kind="topic")
    graph.add_edge("a", "b", label=name)
    labels = _labels(dot.to_dot(graph))
    assert len(labels) == 2
    assert _unescape(labels[0]) == name


@given(st.text(max_size=60))
def test_any_text_round_trips_through_quote(text: str) -> None:
    """Whatever the name, the quoted label parses back to it (control characters become spaces)."""
    expected = "".join(" " if ord(c) < 32 or 127 <= ord(c) < 160 else c for c in text)
    quoted = dot.quote(text)
    assert quoted.startswith('"') and quoted.endswith('"')
    unquoted = _unescape(quoted)
    assert len(unquoted) == len(expected)
    assert all(a in (b, " ") for a, b in zip(unquoted, expected, strict=True))


def test_long_names_are_cut_with_an_ellipsis() -> None:
    """One absurd name cannot blow up the layout."""
    assert _unescape(dot.quote("x" * 500)) == "x" * (dot.MAX_LABEL - 1) + "…"


def test_partial_edges_are_dashed_and_errors_red() -> None:
    """Partial edges (one side uninstrumented) draw dashed; failing nodes and edges draw red."""
    graph = nx.DiGraph()
    graph.add_node("p", label="?", kind="unknown")
    graph.add_node("t", label="orders", kind="topic", error=True)
    graph.add_edge("p", "t", partial=True, error=True)
    text = dot.to_dot(graph)
    assert "n0 -> n1 [style=dashed" in text
    assert 'color="#dc2626"' in text


def test_multiline_labels_join_escaped_lines() -> None:
    """Node labels with several lines keep each line's text."""
    graph = nx.DiGraph()
    graph.add_node("a", label=("billing", 'send "orders"'), kind="handling")
    (label,) = _labels(dot.to_dot(graph))
    assert label == '"billing\\nsend \\"orders\\""'
