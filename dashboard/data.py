"""The dashboard's only door to data: one cached store per URL and bounded, cached wrappers over the
collector's query layer. Pages call these; they never open stores or run queries themselves.

Every result is a collector model type (frozen dataclasses) cached with `st.cache_data`, bounded in entries
and age. Two kinds of query:

- *live* views of "the last N minutes" (topology, coupling, schemas, lag, counts) are keyed by the window's
  length, not its end, and refresh in the background: a live refresh returns the last result at once and
  recomputes it off the page's thread, so a refresh never waits for a query. Shown data is then at most
  one refresh interval plus one query old; a result older than `LIVE_TTL_S` × `BACKGROUND_REFRESH_MULTIPLIER`
  (settings) is recomputed in the foreground.
- *lookups* (a lineage, a span, an export) are keyed by their arguments and live `CACHE_TTL_S`.

Queries run on a small fixed pool of threads per store. Streamlit runs each script run on a new thread and
the stores keep one connection per thread, so running queries on the callers' threads would open a new
database connection per rerun.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import streamlit as st

from eventlens.collector.analysis import query as analysis
from eventlens.collector.lag import query as lag
from eventlens.collector.model import (
    CouplingReport,
    GroupStatus,
    LagSample,
    Lineage,
    SchemaReport,
    SpanRecord,
    Topology,
)
from eventlens.collector.storage.protocol import Store, open_store
from eventlens.dashboard import settings

T = TypeVar("T")

QUERY_THREADS = 2
"""Threads (hence database connections) per store that run the dashboard's queries."""

_TTL = settings.CACHE_TTL_S
_LIVE = settings.LIVE_TTL_S


@dataclass(frozen=True, slots=True)
class _Handle:
    store: Store
    worker: ThreadPoolExecutor


@st.cache_resource(show_spinner=False, max_entries=4)
def _handle(url: str) -> _Handle:
    """One open store per URL for the whole server, shared by every session (never mutated by callers)."""
    worker = ThreadPoolExecutor(max_workers=QUERY_THREADS, thread_name_prefix="eventlens-dashboard-query")
    return _Handle(worker.submit(open_store, url).result(), worker)


def _with_store(url: str, fn: Callable[[Store], T]) -> T:
    handle = _handle(url)
    return handle.worker.submit(fn, handle.store).result()


def _now_window(length_ns: int) -> settings.Window:
    return settings.window(time.time_ns(), length_ns)


# --- live views -------------------------------------------------------------------------------------------


@st.cache_data(ttl=_LIVE, max_entries=16, show_spinner=False, refresh_mode="background")
def span_count(url: str) -> int:
    """How many spans are stored."""
    return _with_store(url, lambda s: s.span_count())


@st.cache_data(ttl=_LIVE, max_entries=16, show_spinner=False, refresh_mode="background")
def services(url: str) -> list[str]:
    """Every service name seen (sorted)."""
    return _with_store(url, lambda s: s.services())


@st.cache_data(ttl=_LIVE, max_entries=16, show_spinner=False, refresh_mode="background")
def recent_spans(url: str, limit: int = 200) -> list[SpanRecord]:
    """The newest spans (at most `limit`), for the recent-events list."""
    return _with_store(url, lambda s: s.find_spans(limit=limit))


@st.cache_data(ttl=_LIVE, max_entries=16, show_spinner=False, refresh_mode="background")
def group_statuses(url: str) -> list[GroupStatus]:
    """Every consumer group's evaluated status now (the lag part's rules)."""
    return _with_store(url, lambda s: lag.group_statuses(s, time.time_ns()))


@st.cache_data(ttl=_LIVE, max_entries=32, show_spinner=False, refresh_mode="background")
def lag_history(url: str, group: str, length_ns: int) -> dict[tuple[str, int], list[LagSample]]:
    """One group's lag samples over the last `length_ns` per (topic, partition), oldest first."""
    win = _now_window(length_ns)
    return _with_store(url, lambda s: lag.group_history(s, group, since_ns=win.start_ns, until_ns=win.end_ns))


@st.cache_data(ttl=_LIVE, max_entries=16, show_spinner=False, refresh_mode="background")
def topology(url: str, length_ns: int) -> Topology:
    """The service → topic → group → service graph over the last `length_ns` (from rollups)."""
    win = _now_window(length_ns)
    return _with_store(url, lambda s: analysis.topology(s, win.start_ns, win.end_ns))


@st.cache_data(ttl=_LIVE, max_entries=16, show_spinner=False, refresh_mode="background")
def coupling(url: str, length_ns: int) -> CouplingReport:
    """Coupling between services over the last `length_ns`: matrix, metrics, blast radius, request/reply."""
    win = _now_window(length_ns)
    return _with_store(url, lambda s: analysis.coupling(s, win.start_ns, win.end_ns))


@st.cache_data(ttl=_LIVE, max_entries=16, show_spinner=False, refresh_mode="background")
def schemas(url: str, length_ns: int, deprecations: str | None) -> SchemaReport:
    """Schema versions, drift and deprecation violations over the last `length_ns`."""
    win = _now_window(length_ns)
    deps: str | tuple[()] = deprecations if deprecations else ()
    return _with_store(url, lambda s: analysis.schemas(s, win.start_ns, win.end_ns, deps))


# --- lookups ----------------------------------------------------------------------------------------------


@st.cache_data(ttl=_TTL, max_entries=64, show_spinner=False)
def span(url: str, trace_id: str, span_id: str) -> SpanRecord | None:
    """One span with all its attributes, or None."""
    return _with_store(url, lambda s: s.get_span(trace_id, span_id))


@st.cache_data(ttl=_TTL, max_entries=32, show_spinner=False)
def lineage(url: str, *, event_id: str | None = None, trace_id: str | None = None, key: str | None = None,
            topic: str | None = None, partition: int | None = None, offset: int | None = None) -> Lineage:
    """The causal DAG of the event(s) a search names (empty when nothing matches)."""
    return _with_store(url, lambda s: analysis.lineage(
        s, event_id=event_id, trace_id=trace_id, key=key, topic=topic, partition=partition, offset=offset))


def export_formats() -> dict[str, tuple[str, str]]:
    """Export format → (media type, file extension), as the analysis part defines them."""
    return dict(analysis.EXPORT_FORMATS)


@st.cache_data(ttl=_TTL, max_entries=16, show_spinner=False)
def export_graph(url: str, fmt: str, start_ns: int, end_ns: int) -> str:
    """The topology of [start_ns, end_ns) as text in one export format."""
    return _with_store(url, lambda s: analysis.export_graph(s, fmt, start_ns, end_ns))


def clear_caches() -> None:
    """Drop every cached query result (the "Refresh now" button); the open stores stay."""
    for fn in (span_count, services, recent_spans, group_statuses, lag_history, topology, coupling, schemas,
               span, lineage, export_graph):
        fn.clear()
