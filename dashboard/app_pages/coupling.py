"""Coupling: who depends on whom through events, how strongly, and how far a change to an event type reaches."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from eventlens.dashboard import data, tables, ui

st.title("Coupling")
url = ui.store_url_or_stop()
length = ui.window_picker("coupling_window", st.sidebar)
MAX_LABELLED_SERVICES = 15


def render() -> None:
    """Matrix heatmap, metrics, blast radius, request/reply pairs and cycles."""
    report = data.coupling(url, length)
    if not report.services:
        ui.empty_state("No services exchanged events in this window.",
                       "Widen the time window; coupling needs at least one producer and one consumer.")
        return
    st.subheader("Messages between services")
    matrix = pd.DataFrame(tables.coupling_matrix_rows(report))
    if not matrix.empty:
        base = alt.Chart(matrix).encode(x=alt.X("consumer:N", title="consumer"),
                                        y=alt.Y("producer:N", title="producer"))
        heat = base.mark_rect().encode(color=alt.Color("messages:Q", scale=alt.Scale(scheme="blues")),
                                       tooltip=["producer", "consumer", "messages"])
        labelled = len(report.matrix_services) <= MAX_LABELLED_SERVICES  # numbers in cells only while legible
        chart = heat + base.mark_text(baseline="middle").encode(text="messages:Q") if labelled else heat
        st.altair_chart(chart, width="stretch")
    st.subheader("Metrics")
    st.dataframe(pd.DataFrame(tables.coupling_metric_rows(report)), hide_index=True, key="coupling_metrics")
    st.caption("Afferent: services consuming what it produces. Efferent: services whose events it consumes. "
               "Instability = efferent / (afferent + efferent).")
    st.subheader("Blast radius")
    types = sorted(b.event_type for b in report.blast_radius)
    chosen = st.selectbox("Event type", types, index=None, key="event_type", placeholder="Choose an event type")
    if chosen is not None:
        st.dataframe(pd.DataFrame(tables.blast_radius_rows(report, chosen), columns=["service", "reach"]),
                     hide_index=True, key="coupling_blast")
    if report.temporal:
        st.subheader("Request/reply (temporal coupling)")
        st.dataframe(pd.DataFrame(tables.temporal_rows(report)), hide_index=True, key="coupling_temporal")
    if report.cycles:
        st.subheader("Cycles")
        for cycle in report.cycles:
            st.text(" → ".join((*cycle, cycle[0])))


ui.live(render)
