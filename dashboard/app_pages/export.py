"""Export: the topology of a time window as a file, in every format the analysis part writes."""

from __future__ import annotations

import functools

import streamlit as st

from eventlens.dashboard import data, ui

st.title("Export")
url = ui.store_url_or_stop()
st.caption("The service → topic → service graph of the chosen window, for other tools: graph editors "
           "(GraphML, GEXF), Graphviz, Mermaid, spreadsheets (CSV), JSON, and an AsyncAPI document.")
length = ui.window_picker("export_window")
win = ui.window(length)
formats = data.export_formats()
cols = st.columns(4)
for i, (fmt, (mime, extension)) in enumerate(formats.items()):
    cols[i % 4].download_button(
        f"Download {fmt}", data=functools.partial(data.export_graph, url, fmt, win.start_ns, win.end_ns),
        file_name=f"eventlens-topology.{extension}", mime=mime, key=f"export_{fmt}", icon=":material/download:",
        on_click="ignore")
preview = st.selectbox("Preview", list(formats), index=None, key="export_preview", placeholder="Choose a format")
if preview is not None:
    st.code(data.export_graph(url, preview, win.start_ns, win.end_ns), language=None)
