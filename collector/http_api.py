"""The HTTP query API (JSON) under `/api/`, with its OpenAPI document at `/api/openapi.json`.

Handlers read through the storage protocol (`SpanReader`) in a worker thread and render model objects with
the shared `jsonable` helper. Routes from the analysis and lag parts are mounted when those modules exist.
"""

from __future__ import annotations

import importlib
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from eventlens import __version__
from eventlens.collector import http_front, query, timerange
from eventlens.collector.http_front import BadQuery, Handler, int_param, json_ok, text_param
from eventlens.collector.redact import public_error
from eventlens.collector.storage.protocol import SpanReader

log = logging.getLogger(__name__)

OPTIONAL_ROUTE_MODULES = ("eventlens.collector.analysis.http", "eventlens.collector.lag.http")
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


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
                # the parts' handlers are `http_front.endpoint`s already: only the token check is added
                routes.append(Route(extra.path, http_front.require_token(extra.endpoint, self.token),
                                    methods=list(extra.methods or ()), name=extra.name))
            else:
                routes.append(extra)
        return routes

    def _guard(self, handler: Handler) -> Handler:
        return http_front.require_token(http_front.endpoint(handler), self.token)

    async def health(self, request: Request) -> Response:
        """Liveness plus a few numbers: stored spans, queue depth."""
        def read() -> dict[str, Any]:
            return {"status": "ok", "version": __version__, "spans_stored": self.store.span_count(),
                    **self._health()}
        try:
            body = await run_in_threadpool(read)
        except Exception as exc:
            error_id, message = public_error(log, "reading the store for /api/health", exc)
            return json_ok({"status": "store_error", "version": __version__, "error": message,
                          "error_id": error_id}, 503)
        return json_ok(body)

    async def trace(self, request: Request) -> Response:
        """One page of a trace's spans, by start time (`limit`, `cursor`); 404 when none is stored."""
        trace_id = query.normalise_id(str(request.path_params["trace_id"]))
        if not _TRACE_ID.match(trace_id):
            raise BadQuery(f"trace id {trace_id[:40]!r} is not 32 hex digits")
        limit = int_param(request, "limit")
        if limit is not None and not 1 <= limit <= query.TRACE_PAGE_MAX:
            raise BadQuery(f"limit must be between 1 and {query.TRACE_PAGE_MAX}")
        cursor = request.query_params.get("cursor") or None
        try:
            page = await run_in_threadpool(lambda: query.trace_page(
                self.store, trace_id, cursor=cursor, limit=limit or query.TRACE_PAGE_DEFAULT))
        except ValueError as exc:  # a malformed cursor
            raise BadQuery(str(exc)) from exc
        if not page.spans and cursor is None:
            return http_front.error(404, f"trace {trace_id} not found")
        return json_ok({"trace_id": trace_id, "spans": page.spans, "next_cursor": page.next_cursor})

    async def spans(self, request: Request) -> Response:
        """Spans matching messaging filters (event id, key, topic/partition/offset), service, time window."""
        partition, offset = int_param(request, "partition"), int_param(request, "offset")
        start_ns, end_ns = timerange.optional_range(request.query_params, time.time_ns())
        limit = int_param(request, "limit") or 1000
        if not 1 <= limit <= 10_000:
            raise BadQuery("limit must be between 1 and 10000")
        found = await run_in_threadpool(lambda: self.store.find_spans(
            event_id=text_param(request, "event_id"), key=text_param(request, "key"),
            topic=text_param(request, "topic"), partition=partition, offset=offset,
            service=text_param(request, "service"),
            start_ns=start_ns, end_ns=end_ns, limit=limit))
        return json_ok({"spans": found})

    async def services(self, request: Request) -> Response:
        """Every service name seen."""
        return json_ok({"services": await run_in_threadpool(query.services, self.store)})

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
    ("from", "string", "Spans starting at or after (ISO-8601 or epoch ms)"),
    ("to", "string", "Spans starting before (ISO-8601 or epoch ms)"),
    ("window", "string", "Spans starting this long before `to` or now (15m, 2h, 7d)"),
    ("start_ns", "integer", "Spans starting at or after (ns since epoch; deprecated, use from)"),
    ("end_ns", "integer", "Spans starting before (ns since epoch; deprecated, use to)"),
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
