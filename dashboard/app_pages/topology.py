"""Topology: who produces to which topic and who consumes it, with traffic, latency and lag per edge."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from eventlens.collector.model import NodeKind
from eventlens.dashboard import data, dot, graphs, tables, ui

st.title("Topology")
url = ui.store_url_or_stop()
length = ui.window_picker("topology_window", st.sidebar)
MAX_DRAWN_EDGES = 120


def render() -> None:
    """Filters, the graph, the edge table and the selected edge's figures."""
    topo = data.topology(url, length)
    if not topo.edges:
        ui.empty_state("No traffic in this window: no instrumented service produced or consumed a message.",
                       "Widen the time window, or instrument a service and send a message.", ui.INSTRUMENT_HINT)
        return
    names = {kind: sorted(n.name for n in topo.nodes if n.kind is kind) for kind in NodeKind}
    left, right = st.columns(2)
    service = left.selectbox("Service", names[NodeKind.SERVICE], index=None, key="service", bind="query-params",
                             placeholder="All services")
    topic = right.selectbox("Topic", names[NodeKind.TOPIC], index=None, key="topic", bind="query-params",
                            placeholder="All topics")
    services, topics = [service] if service else [], [topic] if topic else []
    graph = graphs.topology_graph(topo, services=services, topics=topics, max_edges=MAX_DRAWN_EDGES)
    st.graphviz_chart(dot.to_dot(graph, highlight=f"service:{service}" if service else None), width="stretch")
    st.caption("Dashed: partial (one side not instrumented, or no consumer seen). Red: errors.")
    if graph.graph["hidden_edges"]:
        st.caption(f"The {MAX_DRAWN_EDGES} busiest edges are drawn ({graph.graph['hidden_edges']:,} more are in "
                   "the table): choose a service or a topic to see all of theirs.")
    rows = tables.topology_edge_rows(topo, keep=graphs.topology_graph(topo, services=services, topics=topics).edges)
    st.subheader("Edges")
    event = st.dataframe(pd.DataFrame(rows), hide_index=True, on_select="rerun", selection_mode="single-row",
                         key="topology_edges")
    selected = event.selection.rows if event is not None else []
    if not selected or selected[0] >= len(rows):
        st.caption("Select an edge in the table to see its figures.")
        return
    row = rows[selected[0]]
    st.text(f"{row['from']} → {row['to']} (topic {row['topic']})")
    cols = st.columns(5)
    cols[0].metric("Messages", f"{row['messages']:,}")
    cols[1].metric("Per second", str(row["per_s"]))
    cols[2].metric("Errors", str(row["errors"]))
    cols[3].metric("Latency p95", str(row["p95"]))
    cols[4].metric("Lag", str(row["lag"]))
    if row["partial"]:
        st.text(f"Partial edge: {row['partial']}")


ui.live(render)
