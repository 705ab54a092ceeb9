"""Overview: what is in the store, how busy it is, what is unhealthy."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from eventlens.collector.model import NS_PER_MINUTE
from eventlens.dashboard import data, tables, ui

st.title("eventlens")
st.caption("Your Kafka events: who produced them, who consumed them, what they caused, and who is behind.")
url = ui.store_url_or_stop()
TRAFFIC_WINDOW = 15 * NS_PER_MINUTE
DRIFT_WINDOW = 24 * 60 * NS_PER_MINUTE


def render() -> None:
    """Headline figures, refreshed live."""
    spans = data.span_count(url)
    if spans == 0:
        ui.no_spans_yet()
        return
    service_names = data.services(url)
    traffic = tables.traffic(data.topology(url, TRAFFIC_WINDOW))
    top = st.columns(3)
    top[0].metric("Spans stored", f"{spans:,}")
    top[1].metric("Services", len(service_names))
    top[2].metric("Topics (15 min)", traffic.topics)
    mid = st.columns(3)
    mid[0].metric("Produced (15 min)", f"{traffic.messages:,}")
    mid[1].metric("Throughput", f"{traffic.produced_per_s:.2f} msg/s")
    mid[2].metric("Error rate", "—" if traffic.error_rate is None else f"{traffic.error_rate:.2%}")
    worst = tables.worst_group(data.group_statuses(url))
    st.metric("Worst consumer group", worst.status.name if worst else "none observed")
    if worst is not None:
        st.text(f"{worst.group}: {worst.total_lag:,} offsets behind, {tables.Duration(worst.max_lag_seconds)}")
    drifts = tables.drift_rows(data.schemas(url, DRIFT_WINDOW, None))
    st.subheader("Recent schema drift (24 h)")
    if drifts:
        st.dataframe(pd.DataFrame(drifts[:5]), hide_index=True, key="overview_drift")
    else:
        st.caption("No producer changed an event schema in the last 24 hours.")
    st.subheader("Services")
    st.dataframe(pd.DataFrame({"service": service_names}), hide_index=True, key="overview_services")


ui.live(render)
