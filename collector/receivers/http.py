"""OTLP/HTTP receiver: `POST /v1/traces` and `POST /v1/metrics` (protobuf or JSON, optionally gzip).

Answers follow the OTLP/HTTP spec: 200 with an Export*ServiceResponse in the request's encoding (with
`partial_success` when single spans were rejected); 400/413/415/401 with a `google.rpc.Status` body whose
message says why; 429 (queue full) or 503 (store error, shutting down) with `Retry-After`, which OTLP
exporters retry. A request is answered 200 only after its spans are committed to the store.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Callable
from typing import TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import status_pb2
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from eventlens.collector.auth import UNAUTHORIZED_MESSAGE, authorised
from eventlens.collector.budget import MemoryLimitReached, Reservation
from eventlens.collector.ingest import HTTP_STATUS, Ingest, Refusal, Refused, trace_response
from eventlens.collector.otlp import (
    DecodedTraces,
    DecodeError,
    UnsupportedContentType,
    count_metric_points,
    decode_metric_request,
    decode_trace_request,
    is_json,
)
from eventlens.collector.redact import public_error

RECEIVER = "http"
log = logging.getLogger(__name__)
T = TypeVar("T")


class BodyTooLarge(ValueError):
    """The body (or its decompressed form) exceeds the configured maximum."""


class HttpReceiver:
    """The OTLP/HTTP endpoints, bound to one ingest pipeline."""

    def __init__(self, ingest: Ingest, *, max_body_bytes: int, token: str | None = None,
                 retry_after_s: int = 1) -> None:
        self.ingest = ingest
        self.max_body_bytes = max_body_bytes
        self.token = token
        self.retry_after_s = retry_after_s

    def routes(self) -> list[Route]:
        """Starlette routes for the two OTLP signals."""
        return [
            Route("/v1/traces", self.traces, methods=["POST"]),
            Route("/v1/metrics", self.metrics, methods=["POST"]),
        ]

    async def traces(self, request: Request) -> Response:  # noqa: PLR0911 (one answer per outcome)
        """Receive one ExportTraceServiceRequest."""
        as_json, early = await self._prelude(request, "traces")
        if early is not None:
            return early
        content_type = "application/json" if as_json else "application/x-protobuf"
        try:  # the memory the request will take is reserved before its body is read, given back once answered
            reservation = self._reserve(request, "traces")
        except Refused as exc:
            return self._answer_retry(exc, as_json)
        try:
            body = await self._body(request)
            if reservation is not None:
                self._grow(reservation, len(body), "traces")
            if self.ingest.pool is not None:
                return await self._traces_in_worker(body, content_type, as_json)
            return await self._traces_in_process(body, content_type, as_json)
        except BodyTooLarge as exc:
            return self._refuse("traces", "too_large", 413, str(exc), as_json)
        except DecodeError as exc:
            return self._refuse("traces", "malformed", 400, str(exc), as_json)
        except Refused as exc:
            return self._answer_retry(exc, as_json)
        finally:
            if reservation is not None:
                reservation.release()

    def _reserve(self, request: Request, signal: str) -> Reservation | None:
        """Reserve memory for the declared body (the body limit when none is declared); `Refused` when full."""
        declared = request.headers.get("content-length", "")
        return self.ingest.reserve(RECEIVER, int(declared) if declared.isdigit() else self.max_body_bytes, signal)

    def _grow(self, reservation: Reservation, body_bytes: int, signal: str) -> None:
        """Reserve for the body as read (a gzip body inflates); `Refused` when it no longer fits."""
        try:
            reservation.grow(body_bytes)
        except MemoryLimitReached as exc:
            self.ingest.metrics.reject(RECEIVER, signal, Refusal.MEMORY_LIMIT)
            raise Refused(Refusal.MEMORY_LIMIT, str(exc)) from exc

    async def _traces_in_process(self, body: bytes, content_type: str, as_json: bool) -> Response:
        """Decode here, queue for the writer thread, answer after the commit (DecodeError → 400 by the caller)."""
        decoded = await _off_loop_if_large(decode_trace_request, body, content_type)
        try:
            future = self.ingest.submit(decoded, RECEIVER, nbytes=len(body))
        except Refused as exc:
            return self._answer_retry(exc, as_json)
        try:
            await asyncio.wrap_future(future)
        except Exception as exc:
            return self._store_failure(len(decoded.spans), exc, as_json)
        self.ingest.stored(RECEIVER)
        return _message(trace_response(decoded), 200, as_json)

    async def _traces_in_worker(self, body: bytes, content_type: str, as_json: bool) -> Response:
        """Worker mode: a worker process decodes and stores the body; answer from its outcome."""
        try:
            future = self.ingest.submit_body(body, content_type, RECEIVER)
        except Refused as exc:
            return self._answer_retry(exc, as_json)
        try:
            stored = await asyncio.wrap_future(future)
        except DecodeError:
            raise  # answered 400 by the caller
        except Exception as exc:
            return self._store_failure(0, exc, as_json)
        self.ingest.body_stored(RECEIVER, stored)
        return _message(trace_response(DecodedTraces([], stored.rejected, stored.reason)), 200, as_json)

    async def metrics(self, request: Request) -> Response:
        """Receive one ExportMetricsServiceRequest: validated and counted, not stored."""
        as_json, early = await self._prelude(request, "metrics")
        if early is not None:
            return early
        try:
            reservation = self._reserve(request, "metrics")
        except Refused as exc:
            return self._answer_retry(exc, as_json)
        try:
            body = await self._body(request)
            if reservation is not None:
                self._grow(reservation, len(body), "metrics")
            metrics_request = await _off_loop_if_large(decode_metric_request, body,
                                                       "application/json" if as_json else "application/x-protobuf")
            points = count_metric_points(metrics_request)
        except BodyTooLarge as exc:
            return self._refuse("metrics", "too_large", 413, str(exc), as_json)
        except DecodeError as exc:
            return self._refuse("metrics", "malformed", 400, str(exc), as_json)
        except Refused as exc:
            return self._answer_retry(exc, as_json)
        finally:
            if reservation is not None:
                reservation.release()
        self.ingest.metrics_received(RECEIVER, points, metrics_request)
        return _message(ExportMetricsServiceResponse(), 200, as_json)

    async def _prelude(self, request: Request, signal: str) -> tuple[bool, Response | None]:
        """Checks that need no body: token, content type, encoding, declared length, queue room."""
        try:
            as_json = is_json(request.headers.get("content-type", ""))
            unsupported = None
        except UnsupportedContentType as exc:
            as_json, unsupported = True, exc  # the client speaks neither encoding: answer in readable JSON
        if not authorised(request.headers.get("authorization", ""), self.token):
            response = self._refuse(signal, "unauthorized", 401, UNAUTHORIZED_MESSAGE, as_json)
            response.headers["WWW-Authenticate"] = "Bearer"
            return as_json, response
        if unsupported is not None:
            return as_json, self._refuse(signal, "unsupported_media_type", 415, str(unsupported), as_json)
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip", ""):
            return as_json, self._refuse(signal, "unsupported_media_type", 415,
                                         f"unsupported content encoding {encoding!r}: use gzip or none", as_json)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            return as_json, self._refuse(signal, "too_large", 413,
                                         f"body of {declared} bytes exceeds the limit of {self.max_body_bytes}",
                                         as_json)
        if signal == "traces":
            try:
                self.ingest.check_room(RECEIVER)
            except Refused as exc:
                return as_json, self._answer_retry(exc, as_json)
        return as_json, None

    async def _body(self, request: Request) -> bytes:
        """The request body, decompressed, never larger than the limit (checked while streaming)."""
        limit = self.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge(f"body exceeds the limit of {limit} bytes")
                chunks.append(chunk)
        except ClientDisconnect as exc:
            raise DecodeError("the client disconnected before the body was complete") from exc
        body = b"".join(chunks)
        if request.headers.get("content-encoding", "").strip().lower() == "gzip":
            body = gunzip(body, limit)
        return body

    def _refuse(self, signal: str, reason: str, status: int, message: str, as_json: bool) -> Response:
        self.ingest.metrics.reject(RECEIVER, signal, reason)
        return _status(status, message, as_json)

    def _store_failure(self, spans: int, exc: BaseException, as_json: bool) -> Response:
        """A failed store write, counted: data that can never be stored is 400 (not retried); a store outage is
        logged with an id and answered 503 without the store's own words."""
        refused = self.ingest.failed(RECEIVER, spans, exc)
        if not refused.retryable:
            return self._answer_retry(refused, as_json)
        _, message = public_error(log, "storing the spans", exc)
        return self._answer_retry(Refused(refused.reason, f"store error, retry later; {message}"), as_json)

    def _answer_retry(self, exc: Refused, as_json: bool) -> Response:
        """429/503 with Retry-After for a retryable refusal; 400 (not retried) for data that cannot be stored."""
        status = HTTP_STATUS[exc.reason]
        if not exc.retryable:
            return _status(status, str(exc), as_json)
        response = _status(status, str(exc), as_json, code=8 if exc.reason is Refusal.MEMORY_LIMIT else 14)
        response.headers["Retry-After"] = str(self.retry_after_s)
        return response


LARGE_BODY_BYTES = 1 << 20
"""Bodies above this are decoded on a worker thread, so one huge request does not stall the event loop."""


async def _off_loop_if_large(decode: Callable[[bytes, str], T], body: bytes, content_type: str) -> T:
    if len(body) > LARGE_BODY_BYTES:
        return await run_in_threadpool(decode, body, content_type)
    return decode(body, content_type)


def gunzip(body: bytes, limit: int) -> bytes:
    """Decompress a gzip body, refusing to inflate past `limit` bytes (zip bombs) or corrupt data."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
        if len(out) > limit or inflater.unconsumed_tail:
            raise BodyTooLarge(f"decompressed body exceeds the limit of {limit} bytes")
        if not inflater.eof:
            raise DecodeError("truncated gzip body")
    except zlib.error as exc:
        raise DecodeError(f"malformed gzip body: {exc}") from exc
    return out


def _message(message: Message, status: int, as_json: bool) -> Response:
    if as_json:
        return Response(json_format.MessageToJson(message, indent=None), status, media_type="application/json")
    return Response(message.SerializeToString(), status, media_type="application/x-protobuf")


def _status(status: int, message: str, as_json: bool, *, code: int = 3) -> Response:
    """An OTLP error answer: google.rpc.Status (code 3 INVALID_ARGUMENT, 14 UNAVAILABLE) in the request's encoding."""
    grpc_code = {401: 16, 413: 3, 415: 3}.get(status, code)
    return _message(status_pb2.Status(code=grpc_code, message=message), status, as_json)
