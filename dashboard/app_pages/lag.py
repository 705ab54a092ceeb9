"""Consumer lag: each group's status, lag per partition over time (offsets and seconds), time to drain."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from eventlens.dashboard import data, tables, ui

st.title("Consumer lag")
url = ui.store_url_or_stop()
length = ui.window_picker("lag_window", st.sidebar)


def render() -> None:
    """The groups table and the selected group's partitions and lag history."""
    statuses = data.group_statuses(url)
    if not statuses:
        ui.empty_state("No consumer groups observed yet: start the collector with a lag bootstrap so it polls "
                       "group offsets.", code="eventlens collector --lag-bootstrap 127.0.0.1:9092 --lag-interval 10")
        return
    st.dataframe(pd.DataFrame(tables.group_rows(statuses)), hide_index=True, key="lag_groups")
    names = sorted(g.group for g in statuses)
    chosen = st.selectbox("Consumer group", names, index=None, key="group", bind="query-params",
                          placeholder="Choose a group")
    group = next((g for g in statuses if g.group == chosen), None)
    if group is None:
        st.caption("Choose a group to see its partitions and lag over time.")
        return
    cols = st.columns(4)
    cols[0].metric("Status", group.status.name)
    cols[1].metric("Total lag (offsets)", f"{group.total_lag:,}")
    cols[2].metric("Worst lag", str(tables.Duration(group.max_lag_seconds)))
    cols[3].metric("Time to drain", str(tables.Duration(tables.drain_seconds(group))))
    st.dataframe(pd.DataFrame(tables.partition_rows(group)), hide_index=True, key="lag_partitions")
    history = data.lag_history(url, group.group, length)
    rows = tables.lag_rows(sample for samples in history.values() for sample in samples)
    if not rows:
        st.caption("No lag samples for this group in the window.")
        return
    frame = pd.DataFrame(rows)
    base = alt.Chart(frame).encode(x=alt.X("time:T", title="time"), color=alt.Color("partition:N"))
    st.altair_chart(base.mark_line(point=True).encode(y=alt.Y("lag_offsets:Q", title="lag (offsets)")),
                    width="stretch")
    if frame["lag_seconds"].notna().any():
        st.altair_chart(base.mark_line(point=True).encode(y=alt.Y("lag_seconds:Q", title="lag (seconds)")),
                        width="stretch")


ui.live(render)
