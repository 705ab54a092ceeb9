"""Starlette routes of the analysis API: /api/topology, /api/lineage, /api/coupling, /api/schemas, /api/sampling,
/api/export/{fmt}. The collector's API mounts `routes`; handlers read in a worker thread.

The store comes from `request.app.state.store` when the host app sets it, else one store opened from
`EVENTLENS_STORE` (default `collector.defaults.DEFAULT_STORE_URL`) and kept for the process.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from eventlens.collector import params
from eventlens.collector.analysis import query
from eventlens.collector.analysis.lineage import DEFAULT_MAX_NODES
from eventlens.collector.defaults import store_url
from eventlens.collector.http_front import (
    BadQuery,
    Handler,
    endpoint,
    error,
    int_param,
    json_ok,
    text_param,
    time_range,
)
from eventlens.collector.storage.protocol import Store, open_store

MAX_LINEAGE_NODES = 5000
"""`/api/lineage?max_nodes=` is clamped to 1..this (default 500): one answer's size stays bounded."""
log = logging.getLogger(__name__)
_lock = threading.Lock()
_fallback: dict[str, Store] = {}


def _store(request: Request) -> Store:
    store = getattr(request.app.state, "store", None)
    if store is not None:
        return store  # type: ignore[no-any-return]
    url = store_url()
    with _lock:
        if url not in _fallback:
            _fallback[url] = open_store(url)
        return _fallback[url]


def window(request: Request, now_ns: int | None = None) -> tuple[int, int]:
    """The query's time range (`from`/`to`, `start_ns`/`end_ns`, or `window` back from now; default 15m)."""
    found = time_range(request, time.time_ns() if now_ns is None else now_ns)
    return found.start_ns, found.end_ns


def _handler(compute: Callable[[Request, Store], Response]) -> Handler:
    """`compute` run in a worker thread over the store; the query layer's ValueErrors (bad criteria) are 400s."""
    def run(request: Request) -> Response:
        try:
            return compute(request, _store(request))
        except ValueError as exc:
            if isinstance(exc, BadQuery):
                raise
            raise BadQuery(str(exc)) from exc

    async def answer(request: Request) -> Response:
        return await run_in_threadpool(run, request)

    answer.__doc__ = compute.__doc__
    return endpoint(answer)


def _topology(request: Request, store: Store) -> Response:
    """The service → topic → group → service graph of a window, with per-edge traffic and latency."""
    return json_ok(query.topology(store, *window(request)))


def _lineage(request: Request, store: Store) -> Response:
    """The causal DAG of one event: by event_id, trace_id, key, or topic+partition+offset."""
    result = query.lineage(store, event_id=text_param(request, "event_id"), trace_id=text_param(request, "trace_id"),
                           key=text_param(request, "key"), topic=text_param(request, "topic"),
                           partition=int_param(request, "partition"), offset=int_param(request, "offset"),
                           max_nodes=params.clamp(int_param(request, "max_nodes"), DEFAULT_MAX_NODES,
                                                  MAX_LINEAGE_NODES))
    if not result.nodes:
        return error(404, "no matching event")
    return json_ok(result)


def _coupling(request: Request, store: Store) -> Response:
    """Coupling figures over a window."""
    return json_ok(query.coupling(store, *window(request)))


def _schemas(request: Request, store: Store) -> Response:
    """Schema versions, drift and deprecations (file named by EVENTLENS_DEPRECATIONS) over a window."""
    deprecations = os.environ.get("EVENTLENS_DEPRECATIONS")
    return json_ok(query.schemas(store, *window(request), deprecations or ()))


def _export(request: Request, store: Store) -> Response:
    """The window's graph in one export format, with its media type."""
    fmt = str(request.path_params["fmt"])
    if fmt not in query.EXPORT_FORMATS:
        raise BadQuery(f"unknown format {fmt!r}; one of {', '.join(query.EXPORT_FORMATS)}")
    media_type, extension = query.EXPORT_FORMATS[fmt]
    text = query.export_graph(store, fmt, *window(request))
    return PlainTextResponse(text, media_type=media_type, headers={
        "Content-Disposition": f'inline; filename="eventlens.{extension}"'})


def _sampling(request: Request, store: Store) -> Response:
    """Per edge side: messages estimated from sampled spans (adjusted counts) against the exact counters the
    collector received over the window, with their ratio."""
    start, end = window(request)
    exact = getattr(request.app.state, "exact_counts", None)
    totals = exact.totals(start, end) if exact is not None else {}
    return json_ok(query.sampling_check(store, start, end, totals))


routes = [
    Route("/api/topology", _handler(_topology), methods=["GET"]),
    Route("/api/sampling", _handler(_sampling), methods=["GET"]),
    Route("/api/lineage", _handler(_lineage), methods=["GET"]),
    Route("/api/coupling", _handler(_coupling), methods=["GET"]),
    Route("/api/schemas", _handler(_schemas), methods=["GET"]),
    Route("/api/export/{fmt}", _handler(_export), methods=["GET"]),
]
"""The analysis API routes, mounted by the collector's HTTP API."""
