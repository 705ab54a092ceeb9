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

from eventlens.collector import params
from eventlens.collector.lag.query import group_history, group_status_json, group_statuses, sample_json
from eventlens.collector.model import NS_PER_S
from eventlens.collector.storage.api import LagStore

StoreFn = Callable[[Request], LagStore]


def _seconds_param(request: Request, name: str, default: float) -> float | None:
    """Finite positive seconds whose nanoseconds fit int64; None when malformed (answered 400)."""
    try:
        return params.seconds(name, request.query_params.get(name), default)
    except params.BadParam:
        return None


def _endpoints(store_of: StoreFn, now_fn: Callable[[], int]) -> list[Route]:
    async def statuses(request: Request) -> JSONResponse:
        window_s = _seconds_param(request, "window", 600.0)
        if window_s is None:
            return JSONResponse({"error": f"window must be a positive number of seconds up to {params.MAX_SECONDS}"},
                                status_code=400)
        now = now_fn()
        found = await run_in_threadpool(group_statuses, store_of(request), now, int(window_s * NS_PER_S),
                                        group=request.query_params.get("group"))
        return JSONResponse({"now_ns": now, "groups": [group_status_json(g) for g in found]})

    async def history(request: Request) -> JSONResponse:
        since_s = _seconds_param(request, "since", 3600.0)
        if since_s is None:
            return JSONResponse({"error": f"since must be a positive number of seconds up to {params.MAX_SECONDS}"},
                                status_code=400)
        now = now_fn()
        group = request.path_params["group"]
        since_ns = now - int(since_s * NS_PER_S)
        series = await run_in_threadpool(group_history, store_of(request), group, since_ns=since_ns,
                                         until_ns=now + 1)
        return JSONResponse({"group": group, "partitions": [
            {"topic": topic, "partition": partition, "samples": [sample_json(s) for s in rows]}
            for (topic, partition), rows in series.items()]})

    return [Route("/api/lag", statuses, methods=["GET"]),
            Route("/api/lag/{group:path}/history", history, methods=["GET"])]


def lag_routes(store: LagStore, now_fn: Callable[[], int] = time.time_ns) -> list[Route]:
    """The `/api/lag` routes bound to one store: `GET /api/lag[?group=&window=S]`, `GET /api/lag/{group}/history`."""
    return _endpoints(lambda _request: store, now_fn)


def _app_store(request: Request) -> LagStore:
    store: LagStore = request.app.state.store
    return store


routes: list[Route] = _endpoints(_app_store, time.time_ns)
"""The `/api/lag` routes using `request.app.state.store`, for the collector's app to mount."""
