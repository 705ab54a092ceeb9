"""The front end every `/api` route module shares: one `BadQuery`, one JSON error shape, query parsing, auth.

An error is answered `{"error": message}`: a `BadQuery` (a malformed or contradictory parameter) is a 400 with
the reason; a `StoreError` a 503 with an `error_id` (the details stay in the log); a missing or wrong bearer
token a 401 with `WWW-Authenticate: Bearer`. The route modules (`http_api`, `analysis/http`, `lag/http`) wrap
their handlers with `endpoint` and read parameters with the helpers below.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from eventlens.collector import params, timerange
from eventlens.collector.auth import UNAUTHORIZED_MESSAGE, authorised
from eventlens.collector.jsonable import to_jsonable
from eventlens.collector.params import BadQuery
from eventlens.collector.redact import public_error
from eventlens.collector.storage.protocol import StoreError

__all__ = ["BadQuery", "Handler", "duration_ns", "endpoint", "error", "int_param", "json_ok", "require_token",
           "store_failure", "text_param", "time_range", "unauthorized"]

log = logging.getLogger(__name__)
Handler = Callable[[Request], Awaitable[Response]]


def error(status: int, message: str, **extra: str) -> JSONResponse:
    """The one error shape: `{"error": message, …extra}` with `status`."""
    return JSONResponse({"error": message, **extra}, status)


def json_ok(value: Any, status: int = 200) -> JSONResponse:
    """A model object (dataclasses, enums, …) rendered as JSON by the shared `jsonable` rules."""
    return JSONResponse(to_jsonable(value), status)


def unauthorized() -> JSONResponse:
    """401 for a missing or wrong bearer token, with the challenge header."""
    response = error(401, UNAUTHORIZED_MESSAGE)
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


def store_failure(request: Request, exc: BaseException) -> JSONResponse:
    """503 for a store that cannot be read: the error id to quote, the details in the log only."""
    error_id, message = public_error(log, f"{request.method} {request.url.path}", exc)
    return error(503, message, error_id=error_id)


def endpoint(handler: Handler) -> Handler:
    """`handler` answering a `BadQuery` with 400 and a `StoreError` with 503 (name and docstring kept)."""
    @functools.wraps(handler)
    async def answer(request: Request) -> Response:
        try:
            return await handler(request)
        except BadQuery as exc:
            return error(400, str(exc))
        except StoreError as exc:
            return store_failure(request, exc)

    return answer


def require_token(handler: Handler, token: str | None) -> Handler:
    """`handler` behind the bearer token (unchanged when no token is configured)."""
    if token is None:
        return handler

    @functools.wraps(handler)
    async def guarded(request: Request) -> Response:
        if not authorised(request.headers.get("authorization"), token):
            return unauthorized()
        return await handler(request)

    return guarded


def text_param(request: Request, name: str) -> str | None:
    """A string parameter; absent and empty are both None."""
    return request.query_params.get(name) or None


def int_param(request: Request, name: str) -> int | None:
    """An integer parameter that fits int64 (None when absent); `BadQuery` otherwise."""
    return params.int64(name, request.query_params.get(name))


def duration_ns(request: Request, name: str, default: str) -> int:
    """A duration parameter in the shared grammar (`600`, `10m`, `2h`; `default` when absent), in nanoseconds."""
    return timerange.parse_duration(request.query_params.get(name) or default, name)


def time_range(request: Request, now_ns: int, *, default_window: str = "15m",
               window_names: tuple[str, ...] = ("window",)) -> timerange.TimeRange:
    """The query's time range in the shared grammar (`from`/`to`, `start_ns`/`end_ns`, `window`)."""
    return timerange.resolve(request.query_params, now_ns, default_window=default_window, window_names=window_names)
