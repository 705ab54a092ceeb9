"""Starlette routes of the analysis API: /api/topology, /api/lineage, /api/coupling, /api/schemas,
/api/export/{fmt}. The collector's API mounts `routes`; handlers read in a worker thread.

The store comes from `request.app.state.store` when the host app sets it, else one store opened from
`EVENTLENS_STORE` (default `sqlite:///.eventlens/eventlens.db`) and kept for the process.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from eventlens.collector import params
from eventlens.collector.analysis import query
from eventlens.collector.analysis.lineage import DEFAULT_MAX_NODES
from eventlens.collector.jsonable import to_jsonable
from eventlens.collector.model import NS_PER_S
from eventlens.collector.redact import public_error
from eventlens.collector.storage.api import Store, StoreError, open_store

DEFAULT_STORE = "sqlite:///.eventlens/eventlens.db"
MAX_LINEAGE_NODES = 5000
"""`/api/lineage?max_nodes=` is clamped to 1..this (default 500): one answer's size stays bounded."""
log = logging.getLogger(__name__)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_WINDOW_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_lock = threading.Lock()
_fallback: dict[str, Store] = {}


class BadQuery(ValueError):
    """A query parameter is invalid: answered with 400."""


def _store(request: Request) -> Store:
    store = getattr(request.app.state, "store", None)
    if store is not None:
        return store  # type: ignore[no-any-return]
    url = os.environ.get("EVENTLENS_STORE") or DEFAULT_STORE
    with _lock:
        if url not in _fallback:
            _fallback[url] = open_store(url)
        return _fallback[url]


def _int(request: Request, name: str) -> int | None:
    try:
        return params.int64(name, request.query_params.get(name))
    except params.BadParam as exc:
        raise BadQuery(str(exc)) from exc


def window(request: Request, now_ns: int | None = None) -> tuple[int, int]:
    """`start_ns`/`end_ns` (ns since epoch) if given, else `window` (15m, 2h, …; default 15m) back from now."""
    end = _int(request, "end_ns") or (now_ns if now_ns is not None else time.time_ns())
    start = _int(request, "start_ns")
    if start is None:
        text = request.query_params.get("window") or "15m"
        match = _WINDOW_RE.match(text)
        if not match or float(match.group(1)) <= 0:
            raise BadQuery(f"window={text[:40]!r} is not like 30s, 15m, 2h, 7d")
        length_s = float(match.group(1)) * _UNITS[match.group(2) or "s"]
        if not length_s <= params.MAX_SECONDS:  # also inf and nan
            raise BadQuery(f"window={text[:40]!r} is longer than {params.MAX_SECONDS} s")
        try:
            start = params.window_start(end, int(length_s * NS_PER_S))
        except params.BadParam as exc:
            raise BadQuery(str(exc)) from exc
    if start >= end:
        raise BadQuery("start_ns must be before end_ns")
    return start, end


def _handler(compute: Callable[[Request, Store], Response]) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        try:
            store = _store(request)
            return await run_in_threadpool(compute, request, store)
        except StoreError as exc:
            error_id, message = public_error(log, f"GET {request.url.path}", exc)
            return JSONResponse({"error": message, "error_id": error_id}, 503)
        except (BadQuery, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, 400)

    endpoint.__doc__ = compute.__doc__
    return endpoint


def _topology(request: Request, store: Store) -> Response:
    """The service → topic → group → service graph of a window, with per-edge traffic and latency."""
    return JSONResponse(to_jsonable(query.topology(store, *window(request))))


def _lineage(request: Request, store: Store) -> Response:
    """The causal DAG of one event: by event_id, trace_id, key, or topic+partition+offset."""
    q = request.query_params
    result = query.lineage(store, event_id=q.get("event_id") or None, trace_id=q.get("trace_id") or None,
                           key=q.get("key") or None, topic=q.get("topic") or None,
                           partition=_int(request, "partition"), offset=_int(request, "offset"),
                           max_nodes=params.clamp(_int(request, "max_nodes"), DEFAULT_MAX_NODES, MAX_LINEAGE_NODES))
    if not result.nodes:
        return JSONResponse({"error": "no matching event"}, 404)
    return JSONResponse(to_jsonable(result))


def _coupling(request: Request, store: Store) -> Response:
    """Coupling figures over a window."""
    return JSONResponse(to_jsonable(query.coupling(store, *window(request))))


def _schemas(request: Request, store: Store) -> Response:
    """Schema versions, drift and deprecations (file named by EVENTLENS_DEPRECATIONS) over a window."""
    deprecations = os.environ.get("EVENTLENS_DEPRECATIONS")
    return JSONResponse(to_jsonable(query.schemas(store, *window(request), deprecations or ())))


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
    return JSONResponse(to_jsonable(query.sampling_check(store, start, end, totals)))


routes = [
    Route("/api/topology", _handler(_topology), methods=["GET"]),
    Route("/api/sampling", _handler(_sampling), methods=["GET"]),
    Route("/api/lineage", _handler(_lineage), methods=["GET"]),
    Route("/api/coupling", _handler(_coupling), methods=["GET"]),
    Route("/api/schemas", _handler(_schemas), methods=["GET"]),
    Route("/api/export/{fmt}", _handler(_export), methods=["GET"]),
]
"""The analysis API routes, mounted by the collector's HTTP API."""
