"""Event lineage: find an event, see what it caused (DAG), when (timeline), the story, and each span's details."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from eventlens.dashboard import data, dot, graphs, tables, ui

st.title("Event lineage")
url = ui.store_url_or_stop()

row1 = st.columns(3)
event_id = row1[0].text_input("Event id", key="event", bind="query-params").strip() or None
trace_id = row1[1].text_input("Trace id", key="trace", bind="query-params").strip().lower() or None
record_key = row1[2].text_input("Message key", key="lineage_key").strip() or None
row2 = st.columns(3)
topic = row2[0].text_input("Topic", key="lineage_topic").strip() or None
partition = row2[1].number_input("Partition", min_value=0, value=None, step=1, key="lineage_partition")
offset = row2[2].number_input("Offset", min_value=0, value=None, step=1, key="lineage_offset")
by_record = topic is not None and offset is not None


def _show_trace(trace: str) -> None:
    st.session_state["trace"] = trace  # the bound input takes it and puts it in the URL


def recent() -> None:
    """No search yet: the newest event flows, each a button that opens its lineage."""
    if st.session_state.get("trace"):
        st.rerun(scope="app")  # a button below was clicked during a fragment run: show its lineage
    events = tables.recent_events(data.recent_spans(url))
    if not events:
        ui.no_spans_yet()
        return
    st.subheader("Recent events")
    for span in events:
        st.button(ui.escape_md(tables.event_title(span)), key=f"recent_{span.trace_id}", on_click=_show_trace,
                  args=(span.trace_id,), icon=":material/arrow_forward:", type="tertiary")


def render() -> None:
    """The lineage of what the search names."""
    lineage = data.lineage(url, event_id=event_id, trace_id=trace_id, key=record_key,
                           topic=topic if record_key or by_record else None,
                           partition=int(partition) if partition is not None else None,
                           offset=int(offset) if by_record and offset is not None else None)
    if not lineage.nodes:
        ui.empty_state("No event matches this search.", "Check the id; spans are kept for the collector's "
                       "retention period. A topic search needs an offset too.")
        return
    st.subheader("Story")
    st.text(" → ".join(lineage.event_types) or "(no event types recorded)")
    for sentence in lineage.story:
        st.text(sentence)
    if lineage.truncated:
        st.warning("This lineage is large: only part of it is shown.")
    st.subheader("Causal graph")
    st.graphviz_chart(dot.to_dot(graphs.lineage_graph(lineage)), width="stretch")
    st.subheader("Timeline")
    st.altair_chart(alt.Chart(pd.DataFrame(tables.lineage_timeline_rows(lineage))).mark_bar().encode(
        x=alt.X("start_ms:Q", title="ms since the first hop"), x2="end_ms:Q",
        y=alt.Y("hop:N", sort=None, title=None), color=alt.Color("service:N", scale=alt.Scale(scheme="tableau10")),
        tooltip=["service", "hop", "start_ms", "end_ms", "error"]), width="stretch")
    st.subheader("Hops")
    st.caption(tables.lineage_completeness(lineage))
    st.dataframe(pd.DataFrame(tables.lineage_node_rows(lineage)), hide_index=True, key="lineage_nodes")
    nodes = sorted(lineage.nodes, key=lambda n: (n.start_ns, n.id))
    chosen = st.selectbox("Inspect a span", range(len(nodes)), index=None, key="lineage_span",
                          format_func=lambda i: tables.lineage_choice(nodes[i]), placeholder="Choose a hop")
    if chosen is not None and chosen < len(nodes):
        span = data.span(url, nodes[chosen].trace_id, nodes[chosen].span_id)
        if span is not None:
            st.dataframe(pd.DataFrame(tables.attribute_rows(span), columns=["scope", "key", "value"]),
                         hide_index=True, key="lineage_attributes")


if event_id or trace_id or record_key or by_record:
    ui.live(render)
else:
    ui.live(recent)
