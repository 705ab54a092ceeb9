"""Schemas: event types, their versions, who produces and consumes each, drift and deprecations."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from eventlens.dashboard import data, settings, tables, ui

st.title("Schemas")
url = ui.store_url_or_stop()
length = ui.window_picker("schemas_window", st.sidebar)


def render() -> None:
    """Versions per event type, drift, deprecation violations."""
    deprecations = settings.deprecations_path()
    report = data.schemas(url, length, deprecations)
    if not report.event_types:
        ui.empty_state("No event schemas seen in this window.",
                       "Schemas are fingerprinted from JSON payloads or schema-registry ids of instrumented "
                       "messages; event types come from CloudEvents or an `event_type_getter`.")
        return
    cols = st.columns(3)
    cols[0].metric("Event types", len(report.event_types))
    cols[1].metric("Drifts", len(report.drifts))
    cols[2].metric("Deprecated still in use", len(report.violations))
    st.subheader("Versions")
    st.dataframe(pd.DataFrame(tables.schema_rows(report)), hide_index=True, key="schemas_versions")
    st.subheader("Drift")
    if report.drifts:
        st.dataframe(pd.DataFrame(tables.drift_rows(report)), hide_index=True, key="schemas_drift")
    else:
        st.caption("No producer changed the schema of an event type in this window.")
    st.subheader("Deprecations")
    if deprecations is None:
        st.caption(f"Set {settings.DEPRECATIONS_ENV} (or `eventlens dashboard --deprecations FILE`) to check "
                   "deprecated versions.")
    elif report.violations:
        st.dataframe(pd.DataFrame(tables.violation_rows(report)), hide_index=True, key="schemas_violations")
    else:
        st.caption("No deprecated version was used after its date.")


ui.live(render)
