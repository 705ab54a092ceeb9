"""The HTTP query API (JSON) under `/api/`, with its OpenAPI document at `/api/openapi.json`.

Handlers read through the storage protocol (`SpanReader`) in a worker thread and render model objects with
the shared `jsonable` helper. Routes from the analysis and lag parts are mounted when those modules exist.
"""

from __future__ import annotations

import hmac
import importlib
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from eventlens import __version__
from eventlens.collector import params, query
from eventlens.collector.jsonable import to_jsonable
from eventlens.collector.redact import public_error
from eventlens.collector.storage.api import SpanReader, StoreError

log = logging.getLogger(__name__)

OPTIONAL_ROUTE_MODULES = ("eventlens.collector.analysis.http", "eventlens.collector.lag.http")
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
Handler = Callable[[Request], Awaitable[Response]]


class BadQuery(ValueError):
    """A query parameter is invalid; answered with 400 and the message."""


def _json(value: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(to_jsonable(value), status)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status)


def _int_param(request: Request, name: str) -> int | None:
    try:
        return params.int64(name, request.query_params.get(name))
    except params.BadParam as exc:
        raise BadQuery(str(exc)) from exc


class QueryApi:
    """The `/api` endpoints over one store."""

    def __init__(self, store: SpanReader, *, token: str | None = None,
                 health: Callable[[], dict[str, Any]] | None = None) -> None:
        self.store = store
        self.token = token
        self._health = health or (lambda: {})

    def routes(self) -> list[BaseRoute]:
        """The built-in routes plus the optional parts' routes."""
        routes: list[BaseRoute] = [
            Route("/api/health", self.health, methods=["GET"]),
            Route("/api/openapi.json", self._guard(self.openapi), methods=["GET"]),
            Route("/api/traces/{trace_id}", self._guard(self.trace), methods=["GET"]),
            Route("/api/spans", self._guard(self.spans), methods=["GET"]),
            Route("/api/services", self._guard(self.services), methods=["GET"]),
        ]
        for extra in optional_routes():
            if isinstance(extra, Route):
                routes.append(Route(extra.path, self._guard(extra.endpoint), methods=list(extra.methods or ()),
                                    name=extra.name))
            else:
                routes.append(extra)
        return routes

    def _guard(self, handler: Handler) -> Handler:
        token = self.token

        async def guarded(request: Request) -> Response:
            if token is not None:
                scheme, _, value = request.headers.get("authorization", "").partition(" ")
                if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
                    return JSONResponse({"error": "missing or wrong bearer token"}, 401,
                                        headers={"WWW-Authenticate": "Bearer"})
            try:
                return await handler(request)
            except (BadQuery, params.BadParam) as exc:
                return _error(400, str(exc))
            except StoreError as exc:
                error_id, message = public_error(log, f"{request.method} {request.url.path}", exc)
                return JSONResponse({"error": message, "error_id": error_id}, 503)

        return guarded

    async def health(self, request: Request) -> Response:
        """Liveness plus a few numbers: stored spans, queue depth."""
        def read() -> dict[str, Any]:
            return {"status": "ok", "version": __version__, "spans_stored": self.store.span_count(),
                    **self._health()}
        try:
            body = await run_in_threadpool(read)
        except Exception as exc:
            error_id, message = public_error(log, "reading the store for /api/health", exc)
            return _json({"status": "store_error", "version": __version__, "error": message,
                          "error_id": error_id}, 503)
        return _json(body)

    async def trace(self, request: Request) -> Response:
        """One page of a trace's spans, by start time (`limit`, `cursor`); 404 when none is stored."""
        trace_id = query.normalise_id(str(request.path_params["trace_id"]))
        if not _TRACE_ID.match(trace_id):
            raise BadQuery(f"trace id {trace_id[:40]!r} is not 32 hex digits")
        limit = _int_param(request, "limit")
        if limit is not None and not 1 <= limit <= query.TRACE_PAGE_MAX:
            raise BadQuery(f"limit must be between 1 and {query.TRACE_PAGE_MAX}")
        cursor = request.query_params.get("cursor") or None
        try:
            page = await run_in_threadpool(lambda: query.trace_page(
                self.store, trace_id, cursor=cursor, limit=limit or query.TRACE_PAGE_DEFAULT))
        except ValueError as exc:
            if isinstance(exc, StoreError):
                raise
            raise BadQuery(str(exc)) from exc
        if not page.spans and cursor is None:
            return _error(404, f"trace {trace_id} not found")
        return _json({"trace_id": trace_id, "spans": page.spans, "next_cursor": page.next_cursor})

    async def spans(self, request: Request) -> Response:
        """Spans matching messaging filters (event id, key, topic/partition/offset), service, time window."""
        q = request.query_params
        partition, offset = _int_param(request, "partition"), _int_param(request, "offset")
        start_ns, end_ns = _int_param(request, "start_ns"), _int_param(request, "end_ns")
        limit = _int_param(request, "limit") or 1000
        if not 1 <= limit <= 10_000:
            raise BadQuery("limit must be between 1 and 10000")
        found = await run_in_threadpool(lambda: self.store.find_spans(
            event_id=q.get("event_id") or None, key=q.get("key") or None, topic=q.get("topic") or None,
            partition=partition, offset=offset, service=q.get("service") or None,
            start_ns=start_ns, end_ns=end_ns, limit=limit))
        return _json({"spans": found})

    async def services(self, request: Request) -> Response:
        """Every service name seen."""
        return _json({"services": await run_in_threadpool(query.services, self.store)})

    async def openapi(self, request: Request) -> Response:
        """The OpenAPI 3.1 document of this API."""
        return JSONResponse(openapi_document([r for r in self.routes() if isinstance(r, Route)]))


def optional_routes() -> list[BaseRoute]:
    """Starlette routes other parts publish as `routes` in their `http` modules, when those exist."""
    found: list[BaseRoute] = []
    for name in OPTIONAL_ROUTE_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue
            raise
        found.extend(getattr(module, "routes", []))
    return found


_SPAN_PARAMS = [
    ("event_id", "string", "CloudEvents id (or event id attribute)"),
    ("key", "string", "Kafka message key"),
    ("topic", "string", "Topic"),
    ("partition", "integer", "Partition"),
    ("offset", "integer", "Offset"),
    ("service", "string", "Emitting service"),
    ("start_ns", "integer", "Spans starting at or after (ns since epoch)"),
    ("end_ns", "integer", "Spans starting before (ns since epoch)"),
    ("limit", "integer", "Most spans returned (1..10000, default 1000)"),
]

_BUILTIN: dict[str, dict[str, Any]] = {
    "/api/health": {"get": {"summary": "Collector health and counts", "responses": {
        "200": {"description": "Healthy"}, "503": {"description": "The store cannot be read"}}}},
    "/api/openapi.json": {"get": {"summary": "This document (needs the token when one is set)",
                                  "responses": {"200": {"description": "OpenAPI"}}}},
    "/api/traces/{trace_id}": {"get": {
        "summary": "One page of a trace's spans by start time; follow next_cursor for the rest",
        "parameters": [{"name": "trace_id", "in": "path", "required": True,
                        "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}},
                       {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer"},
                        "description": f"Spans per page (1..{query.TRACE_PAGE_MAX}, "
                                       f"default {query.TRACE_PAGE_DEFAULT})"},
                       {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"},
                        "description": "The next_cursor of the previous page"}],
        "responses": {"200": {"description": "The trace", "content": {"application/json": {"schema": {
            "type": "object", "properties": {
                "trace_id": {"type": "string"},
                "spans": {"type": "array", "items": {"$ref": "#/components/schemas/Span"}},
                "next_cursor": {"type": ["string", "null"]}}}}}},
            "400": {"description": "Malformed trace id, limit or cursor"}, "404": {"description": "No such trace"}}}},
    "/api/spans": {"get": {
        "summary": "Spans by messaging fields, service and time window (newest first)",
        "parameters": [{"name": n, "in": "query", "required": False, "description": d, "schema": {"type": t}}
                       for n, t, d in _SPAN_PARAMS],
        "responses": {"200": {"description": "Matching spans", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"spans": {"type": "array",
                                                       "items": {"$ref": "#/components/schemas/Span"}}}}}}},
            "400": {"description": "Invalid parameter"}}}},
    "/api/services": {"get": {"summary": "Every service seen", "responses": {"200": {"description": "Names",
        "content": {"application/json": {"schema": {"type": "object", "properties": {
            "services": {"type": "array", "items": {"type": "string"}}}}}}}}}},
}

_SPAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "trace_id": {"type": "string"}, "span_id": {"type": "string"},
        "parent_span_id": {"type": ["string", "null"]}, "name": {"type": "string"},
        "kind": {"type": "string", "enum": ["UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"]},
        "service": {"type": "string"}, "start_ns": {"type": "integer"}, "end_ns": {"type": "integer"},
        "status": {"type": "string", "enum": ["UNSET", "OK", "ERROR"]}, "status_message": {"type": "string"},
        "links": {"type": "array", "items": {"type": "object"}},
        "messaging": {"type": "object", "description": "Messaging fields pulled out of the attributes"},
        "attributes": {"type": "object"}, "resource": {"type": "object"}, "scope": {"type": "string"},
    },
}


def openapi_document(routes: list[Route]) -> dict[str, Any]:
    """OpenAPI 3.1: the built-in endpoints described in full, optional parts' GET routes listed by path."""
    paths: dict[str, Any] = dict(_BUILTIN)
    for route in routes:
        if route.path not in paths:
            summary = (route.endpoint.__doc__ or route.name or route.path).strip().splitlines()[0]
            paths[route.path] = {m.lower(): {"summary": summary, "responses": {"200": {"description": "JSON"}}}
                                 for m in sorted(route.methods or {"GET"}) if m != "HEAD"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "eventlens collector API", "version": __version__},
        "paths": paths,
        "components": {"schemas": {"Span": _SPAN_SCHEMA}},
    }
