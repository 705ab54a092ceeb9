"""Graphviz DOT text from a networkx graph, with every name quoted by the collector's one DOT rule (pure).

Names come from spans and are untrusted. Node ids in the output are synthetic (`n0`, `n1`, …); names only ever
appear inside label strings quoted by `eventlens.collector.analysis.dot.quote` (see there for what that rules
out). Graphviz then writes labels into the SVG as escaped text.
"""

from __future__ import annotations

from collections.abc import Mapping

import networkx as nx

from eventlens.collector.analysis.dot import MAX_LABEL, quote

__all__ = ["MAX_LABEL", "multiline", "quote", "to_dot"]

_NODE_STYLE: Mapping[str, str] = {
    "service": 'shape=box, style="rounded,filled", fillcolor="#dbeafe"',
    "topic": 'shape=cds, style=filled, fillcolor="#fef3c7"',
    "consumer_group": 'shape=ellipse, style=filled, fillcolor="#dcfce7"',
    "event": 'shape=note, style=filled, fillcolor="#fef3c7"',
    "handling": 'shape=box, style="rounded,filled", fillcolor="#dbeafe"',
    "unknown": 'shape=box, style="dashed,rounded"',
}


def multiline(*lines: str) -> str:
    """Several lines as one DOT label (each line escaped, joined with graphviz's centred line break)."""
    return '"' + "\\n".join(quote(line)[1:-1] for line in lines if line) + '"'


def to_dot(graph: nx.DiGraph, *, rankdir: str = "LR", highlight: str | None = None) -> str:
    """DOT for a graph whose nodes carry `label` (str or tuple of lines) and `kind`, and edges `label`,
    `partial` (dashed), `error` (red); `highlight` names a node drawn with a thick border."""
    ids = {node: f"n{i}" for i, node in enumerate(graph.nodes)}
    out = [
        "digraph eventlens {",
        f"  rankdir={'TB' if rankdir == 'TB' else 'LR'};",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9, color="#64748b"];',
    ]
    for node, attrs in graph.nodes(data=True):
        label = attrs.get("label", str(node))
        text = multiline(*label) if isinstance(label, tuple) else quote(str(label))
        style = _NODE_STYLE.get(str(attrs.get("kind", "")), "shape=box")
        if attrs.get("partial"):
            style = style.replace('style="rounded,filled"', 'style="rounded,filled,dashed"').replace(
                "style=filled", 'style="filled,dashed"')
        extra = ", penwidth=3" if highlight is not None and node == highlight else ""
        extra += ', color="#dc2626"' if attrs.get("error") else ""
        out.append(f"  {ids[node]} [label={text}, {style}{extra}];")
    for source, target, attrs in graph.edges(data=True):
        parts = []
        if attrs.get("label"):
            parts.append(f"label={quote(str(attrs['label']))}")
        if attrs.get("partial"):
            parts.append("style=dashed")
        if attrs.get("error"):
            parts.append('color="#dc2626"')
        suffix = f" [{', '.join(parts)}]" if parts else ""
        out.append(f"  {ids[source]} -> {ids[target]}{suffix};")
    out.append("}")
    return "\n".join(out)
