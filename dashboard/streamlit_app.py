"""The dashboard's entrypoint (`streamlit run`): page setup, the shared sidebar and the page router."""

from __future__ import annotations

import streamlit as st

from eventlens.dashboard import ui

st.set_page_config(page_title="eventlens", page_icon=":material/hub:", layout="wide")

PAGES = [
    st.Page("app_pages/overview.py", title="Overview", icon=":material/dashboard:", url_path="overview",
            default=True),
    st.Page("app_pages/topology.py", title="Topology", icon=":material/account_tree:", url_path="topology"),
    st.Page("app_pages/lineage.py", title="Event lineage", icon=":material/timeline:", url_path="lineage"),
    st.Page("app_pages/lag.py", title="Consumer lag", icon=":material/speed:", url_path="lag"),
    st.Page("app_pages/coupling.py", title="Coupling", icon=":material/grid_on:", url_path="coupling"),
    st.Page("app_pages/schemas.py", title="Schemas", icon=":material/schema:", url_path="schemas"),
    st.Page("app_pages/export.py", title="Export", icon=":material/download:", url_path="export"),
]

page = st.navigation(PAGES)
ui.sidebar()
page.run()
