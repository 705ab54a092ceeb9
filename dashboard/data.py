"""The dashboard's only door to data: one cached store per URL and bounded, cached wrappers over the
collector's query layer. Pages call these; they never open stores or run queries themselves.

Every query result is a collector model type (frozen dataclasses), cached with `st.cache_data` for at most
`CACHE_TTL_S` and at most a few dozen entries per query. Time arguments are rounded to a tick
(`settings.tick`), so sessions refreshing at the same moment share one result instead of each querying.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import streamlit as st
from eventlens.collector.model import (
    CouplingReport,
    GroupStatus,
    LagSample,
    Lineage,
    SchemaReport,
    SpanRecord,
    Topology,
)
from eventlens.collector.storage.api import Store, open_store
from eventlens.dashboard import settings

T = TypeVar("T")

PARTS: dict[str, tuple[str, str]] = {
    "analysis": ("eventlens.collector.analysis.query", "the analysis query layer (topology, lineage, coupling, "
                 "schemas, exports)"),
    "lag": ("eventlens.collector.lag.query", "the consumer-lag query layer"),
}
"""Query modules other parts provide, with what they bring; a page whose part is missing says so."""

_TTL = settings.CACHE_TTL_S


@dataclass(frozen=True, slots=True)
class _Handle:
    store: Store
    lock: threading.Lock


@st.cache_resource(show_spinner=False, max_entries=4)
def _handle(url: str) -> _Handle:
    """One open store per URL for the whole server, shared by every session (never mutated by callers)."""
    return _Handle(open_store(url), threading.Lock())


def _with_store(url: str, fn: Callable[[Store], T]) -> T:
    handle = _handle(url)
    with handle.lock:  # one query at a time per store: backends' connections are not shared across threads
        return fn(handle.store)


def missing_part(part: str) -> str | None:
    """None when the named query layer is installed, else a sentence saying what is missing."""
    module, what = PARTS[part]
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        found = False
    return None if found else f"This view needs {what} (`{module}`), which is not installed in this build."


def _part(part: str) -> Any:
    return importlib.import_module(PARTS[part][0])


# --- basic queries (storage) ----------------------------------------------------------------------------


@st.cache_data(ttl=_TTL, max_entries=16, show_spinner=False)
def services(url: str, tick: int) -> list[str]:
    """Every service name seen (sorted); `tick` only keys the cache."""
    return _with_store(url, lambda s: s.services())


@st.cache_data(ttl=_TTL, max_entries=16, show_spinner=False)
def span_count(url: str, tick: int) -> int:
    """How many spans are stored; `tick` only keys the cache."""
    return _with_store(url, lambda s: s.span_count())


@st.cache_data(ttl=_TTL, max_entries=64, show_spinner=False)
def span(url: str, trace_id: str, span_id: str) -> SpanRecord | None:
    """One span with all its attributes, or None."""
    return _with_store(url, lambda s: s.get_span(trace_id, span_id))


@st.cache_data(ttl=_TTL, max_entries=16, show_spinner=False)
def recent_spans(url: str, tick: int, limit: int = 200) -> list[SpanRecord]:
    """The newest spans (at most `limit`), for "recent events" lists; `tick` only keys the cache."""
    return _with_store(url, lambda s: s.find_spans(limit=limit))


# --- consumer lag -----------------------------------------------------------------------------------------


@st.cache_data(ttl=_TTL, max_entries=16, show_spinner=False)
def group_statuses(url: str, tick: int) -> list[GroupStatus]:
    """Every consumer group's evaluated status as of `tick` (the lag part's rules)."""
    query = _part("lag")
    return cast(list[GroupStatus], _with_store(url, lambda s: query.group_statuses(s, tick)))


@st.cache_data(ttl=_TTL, max_entries=32, show_spinner=False)
def lag_history(url: str, group: str, since_ns: int, until_ns: int) -> dict[tuple[str, int], list[LagSample]]:
    """One group's lag samples in [since_ns, until_ns) per (topic, partition), oldest first."""
    query = _part("lag")
    return cast(dict[tuple[str, int], list[LagSample]],
                _with_store(url, lambda s: query.group_history(s, group, since_ns=since_ns, until_ns=until_ns)))


# --- analyses -----------------------------------------------------------------------------------------------


@st.cache_data(ttl=_TTL, max_entries=16, show_spinner=False)
def topology(url: str, start_ns: int, end_ns: int) -> Topology:
    """The service → topic → group → service graph over [start_ns, end_ns) (from rollups)."""
    query = _part("analysis")
    return cast(Topology, _with_store(url, lambda s: query.topology(s, start_ns, end_ns)))


@st.cache_data(ttl=_TTL, max_entries=32, show_spinner=False)
def lineage(url: str, *, event_id: str | None = None, trace_id: str | None = None, key: str | None = None,
            topic: str | None = None, partition: int | None = None, offset: int | None = None) -> Lineage:
    """The causal DAG of the event(s) a search names (empty when nothing matches)."""
    query = _part("analysis")
    return cast(Lineage, _with_store(url, lambda s: query.lineage(
        s, event_id=event_id, trace_id=trace_id, key=key, topic=topic, partition=partition, offset=offset)))


@st.cache_data(ttl=_TTL, max_entries=16, show_spinner=False)
def coupling(url: str, start_ns: int, end_ns: int) -> CouplingReport:
    """Coupling between services over [start_ns, end_ns): matrix, metrics, blast radius, request/reply pairs."""
    query = _part("analysis")
    return cast(CouplingReport, _with_store(url, lambda s: query.coupling(s, start_ns, end_ns)))


@st.cache_data(ttl=_TTL, max_entries=16, show_spinner=False)
def schemas(url: str, start_ns: int, end_ns: int, deprecations: str | None) -> SchemaReport:
    """Schema versions, drift and deprecation violations over [start_ns, end_ns)."""
    query = _part("analysis")
    deps: str | tuple[()] = deprecations if deprecations else ()
    return cast(SchemaReport, _with_store(url, lambda s: query.schemas(s, start_ns, end_ns, deps)))


def export_formats() -> dict[str, tuple[str, str]]:
    """Export format → (media type, file extension), as the analysis part defines them."""
    return cast(dict[str, tuple[str, str]], _part("analysis").EXPORT_FORMATS)


@st.cache_data(ttl=_TTL, max_entries=16, show_spinner=False)
def export_graph(url: str, fmt: str, start_ns: int, end_ns: int) -> str:
    """The window's topology as text in one export format."""
    query = _part("analysis")
    return cast(str, _with_store(url, lambda s: query.export_graph(s, fmt, start_ns, end_ns)))


def clear_caches() -> None:
    """Drop every cached query result (the "refresh now" button); the open stores stay."""
    for fn in (services, span_count, span, recent_spans, group_statuses,
               lag_history, topology, lineage, coupling, schemas, export_graph):
        fn.clear()
