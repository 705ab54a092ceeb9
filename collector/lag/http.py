"""`/api/lag` for the collector's HTTP server (starlette): group statuses now, and a group's history.

`routes` reads the store from `request.app.state.store` (what the collector's app sets); `lag_routes(store)`
binds a store explicitly. Store reads run in the thread pool, off the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from eventlens.collector import timerange
from eventlens.collector.http_front import duration_ns, endpoint, time_range
from eventlens.collector.lag.query import group_history, group_status_json, group_statuses, sample_json
from eventlens.collector.storage.protocol import LagStore

StoreFn = Callable[[Request], LagStore]
DEFAULT_WINDOW = "600s"
"""`/api/lag?window=`: the evaluation window when none is given (the lag rules' ten minutes)."""
DEFAULT_HISTORY = "1h"
"""`/api/lag/{group}/history`: how far back when neither `since`/`window` nor `from` is given."""


def _endpoints(store_of: StoreFn, now_fn: Callable[[], int]) -> list[Route]:
    async def statuses(request: Request) -> Response:
        """Every group's status now (`group` narrows, `window` is the evaluation window)."""
        window_ns = duration_ns(request, "window", DEFAULT_WINDOW)
        now = now_fn()
        found = await run_in_threadpool(group_statuses, store_of(request), now, window_ns,
                                        group=request.query_params.get("group"))
        return JSONResponse({"now_ns": now, "groups": [group_status_json(g) for g in found]})

    async def history(request: Request) -> Response:
        """One group's samples per partition over a time range (default the last hour)."""
        now = now_fn()
        span = time_range(request, now, default_window=DEFAULT_HISTORY, window_names=("since", "window"))
        group = request.path_params["group"]
        # Ending now includes a sample taken at this very nanosecond; an explicit end stays exclusive.
        explicit_end = any(request.query_params.get(n) for n in timerange.END_NAMES)
        series = await run_in_threadpool(group_history, store_of(request), group, since_ns=span.start_ns,
                                         until_ns=span.end_ns if explicit_end else now + 1)
        return JSONResponse({"group": group, "partitions": [
            {"topic": topic, "partition": partition, "samples": [sample_json(s) for s in rows]}
            for (topic, partition), rows in series.items()]})

    return [Route("/api/lag", endpoint(statuses), methods=["GET"]),
            Route("/api/lag/{group:path}/history", endpoint(history), methods=["GET"])]


def lag_routes(store: LagStore, now_fn: Callable[[], int] = time.time_ns) -> list[Route]:
    """The `/api/lag` routes bound to one store: `GET /api/lag[?group=&window=]`, `GET /api/lag/{group}/history`."""
    return _endpoints(lambda _request: store, now_fn)


def _app_store(request: Request) -> LagStore:
    store: LagStore = request.app.state.store
    return store


routes: list[Route] = _endpoints(_app_store, time.time_ns)
"""The `/api/lag` routes using `request.app.state.store`, for the collector's app to mount."""
