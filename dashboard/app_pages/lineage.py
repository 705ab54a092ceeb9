"""Event lineage: find an event, see what caused what (DAG), when (timeline), and every span's attributes."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st
from eventlens.dashboard import data, dot, graphs, settings, ui

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


def recent() -> None:
    """No search yet: the newest event flows, each a link to its lineage."""
    events = graphs.recent_events(data.recent_spans(url, settings.tick(ui.now_ns())))
    if not events:
        ui.no_spans_yet()
        return
    st.subheader("Recent events")
    for span in events:
        st.page_link("app_pages/lineage.py", label=ui.escape_md(graphs.event_title(span)),
                     query_params={"trace": span.trace_id}, icon=":material/arrow_forward:")


def render() -> None:
    """The lineage of what the search names."""
    if trace_id:
        spans = data.trace(url, trace_id)
    else:
        spans = data.traces_matching(url, event_id=event_id, key=record_key, topic=topic,
                                     partition=int(partition) if partition is not None else None,
                                     offset=int(offset) if offset is not None else None)
    if not spans:
        ui.empty_state("Nothing stored matches this search.",
                       "Check the id; spans are kept for the collector's retention period.")
        return
    story = graphs.business_story(spans)
    st.subheader("Story")
    st.text(" → ".join(story) if story else "(no event types recorded on these spans)")
    st.subheader("Causal graph")
    st.graphviz_chart(dot.to_dot(graphs.trace_graph(spans)))
    st.subheader("Timeline")
    timeline = pd.DataFrame(graphs.timeline_rows(spans))
    st.altair_chart(alt.Chart(timeline).mark_bar().encode(
        x=alt.X("start_ms:Q", title="ms since first span"), x2="end_ms:Q",
        y=alt.Y("hop:N", sort=None, title=None), color="service:N",
        tooltip=["service", "hop", "start_ms", "end_ms", "error"]), width="stretch")
    st.subheader("Spans")
    st.dataframe(pd.DataFrame(graphs.span_rows(spans)), hide_index=True, key="lineage_spans")
    ordered = sorted(spans, key=lambda s: (s.start_ns, s.span_id))
    chosen = st.selectbox("Inspect a span", range(len(ordered)), index=None, key="lineage_span",
                          format_func=lambda i: graphs.span_choice(ordered[i]), placeholder="Choose a span")
    if chosen is not None:
        st.dataframe(pd.DataFrame(graphs.attribute_rows(ordered[chosen]), columns=["scope", "key", "value"]),
                     hide_index=True, key="lineage_attributes")


if any(v is not None for v in (event_id, trace_id, record_key, topic, partition, offset)):
    ui.live(render)
else:
    ui.live(recent)
