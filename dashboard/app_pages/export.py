"""Export (needs the analysis query layer)."""

from __future__ import annotations

import streamlit as st
from eventlens.dashboard import ui

st.title("Export")
url = ui.store_url_or_stop()
ui.part_missing_or_stop("analysis")
