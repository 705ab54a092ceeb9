"""`/api/lag` for the collector's HTTP server (starlette): group statuses now, and a group's history.

`routes` reads the store from `request.app.state.store` (what the collector's app sets); `lag_routes(store)`
binds a store explicitly. Store reads run in the thread pool, off the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from eventlens.collector import timerange
from eventlens.collector.lag.query import group_history, group_status_json, group_statuses, sample_json
from eventlens.collector.params import BadQuery
from eventlens.collector.storage.api import LagStore

StoreFn = Callable[[Request], LagStore]
DEFAULT_WINDOW = "600s"
"""`/api/lag?window=`: the evaluation window when none is given (the lag rules' ten minutes)."""
DEFAULT_HISTORY = "1h"
"""`/api/lag/{group}/history`: how far back when neither `since`/`window` nor `from` is given."""


def _bad(exc: BadQuery) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=400)


def _endpoints(store_of: StoreFn, now_fn: Callable[[], int]) -> list[Route]:
    async def statuses(request: Request) -> JSONResponse:
        try:
            window_ns = timerange.parse_duration(request.query_params.get("window") or DEFAULT_WINDOW)
        except BadQuery as exc:
            return _bad(exc)
        now = now_fn()
        found = await run_in_threadpool(group_statuses, store_of(request), now, window_ns,
                                        group=request.query_params.get("group"))
        return JSONResponse({"now_ns": now, "groups": [group_status_json(g) for g in found]})

    async def history(request: Request) -> JSONResponse:
        q = request.query_params
        now = now_fn()
        try:
            span = timerange.resolve(q, now, default_window=DEFAULT_HISTORY, window_names=("since", "window"))
        except BadQuery as exc:
            return _bad(exc)
        group = request.path_params["group"]
        # Ending now includes a sample taken at this very nanosecond; an explicit end stays exclusive.
        until_ns = span.end_ns if any(q.get(n) for n in timerange.END_NAMES) else now + 1
        series = await run_in_threadpool(group_history, store_of(request), group, since_ns=span.start_ns,
                                         until_ns=until_ns)
        return JSONResponse({"group": group, "partitions": [
            {"topic": topic, "partition": partition, "samples": [sample_json(s) for s in rows]}
            for (topic, partition), rows in series.items()]})

    return [Route("/api/lag", statuses, methods=["GET"]),
            Route("/api/lag/{group:path}/history", history, methods=["GET"])]


def lag_routes(store: LagStore, now_fn: Callable[[], int] = time.time_ns) -> list[Route]:
    """The `/api/lag` routes bound to one store: `GET /api/lag[?group=&window=]`, `GET /api/lag/{group}/history`."""
    return _endpoints(lambda _request: store, now_fn)


def _app_store(request: Request) -> LagStore:
    store: LagStore = request.app.state.store
    return store


routes: list[Route] = _endpoints(_app_store, time.time_ns)
"""The `/api/lag` routes using `request.app.state.store`, for the collector's app to mount."""
