"""Overview: what is in the store, how busy it is, what is unhealthy."""

from __future__ import annotations

import streamlit as st
from eventlens.dashboard import data, graphs, settings, ui

st.title("eventlens")
st.caption("Your Kafka events: who produced them, who consumed them, what they caused, and who is behind.")
url = ui.store_url_or_stop()


def render() -> None:
    """Headline figures, refreshed live."""
    tick = settings.tick(ui.now_ns())
    spans = data.span_count(url, tick)
    if spans == 0:
        ui.no_spans_yet()
        return
    service_names = data.services(url, tick)
    cols = st.columns(3)
    cols[0].metric("Spans stored", f"{spans:,}")
    cols[1].metric("Services", len(service_names))
    if data.missing_part("lag") is None:
        worst = graphs.worst_group(data.group_statuses(url, tick))
        cols[2].metric("Worst consumer group", worst.status.name if worst else "none observed")
        if worst is not None:
            st.caption("Worst group (see Consumer lag):")
            st.text(f"{worst.group}: {worst.total_lag:,} offsets behind, {graphs.Duration(worst.max_lag_seconds)}")
    st.subheader("Services")
    st.dataframe({"service": service_names}, hide_index=True, key="overview_services")


ui.live(render)
