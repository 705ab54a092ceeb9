"""OTLP/gRPC receiver: TraceService/Export and MetricsService/Export on one grpcio server.

A trace request returns only after its spans are committed. A full queue, a store error or a shutdown
answers UNAVAILABLE (always retryable under the OTLP spec, and retried by the OpenTelemetry exporters);
a wrong or missing bearer token UNAUTHENTICATED; requests over the size limit are refused by grpcio
(RESOURCE_EXHAUSTED). With ingest workers (`--ingest-workers N`) TraceService/Export takes the request as bytes
and hands it to the workers, like the OTLP/HTTP receiver; a body they cannot decode is INVALID_ARGUMENT.
"""

from __future__ import annotations

import logging
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from eventlens.collector.auth import UNAUTHORIZED_MESSAGE, bearer_matches
from eventlens.collector.budget import Reservation
from eventlens.collector.config import CollectorConfig
from eventlens.collector.ingest import GRPC_STATUS, Ingest, Refused, trace_response
from eventlens.collector.otlp import DecodedTraces, DecodeError, count_metric_points, flatten
from eventlens.collector.redact import public_error

RECEIVER = "grpc"
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GrpcTransport:
    """Connection limits and TLS of the gRPC server (defaults as the HTTP side's, see docs/collector.md)."""

    handshake_timeout_s: float = 60.0
    idle_timeout_s: float = 60.0
    max_metadata_bytes: int = 64 * 1024
    keepalive_time_s: float = 7200.0
    keepalive_timeout_s: float = 20.0
    min_client_ping_interval_s: float = 300.0
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None

    @classmethod
    def from_config(cls, config: CollectorConfig) -> GrpcTransport:
        """The collector's transport settings."""
        return cls(handshake_timeout_s=config.header_timeout_s, idle_timeout_s=config.idle_timeout_s,
                   max_metadata_bytes=config.max_header_bytes, tls_cert=config.tls_cert, tls_key=config.tls_key,
                   tls_client_ca=config.tls_client_ca)

    def options(self) -> list[tuple[str, Any]]:
        """grpcio server options: a deadline for the handshake, idle connections closed, keepalive enforced."""
        return [
            ("grpc.server_handshake_timeout_ms", int(self.handshake_timeout_s * 1000)),
            ("grpc.max_connection_idle_ms", int(self.idle_timeout_s * 1000)),
            ("grpc.max_metadata_size", self.max_metadata_bytes),
            ("grpc.keepalive_time_ms", int(self.keepalive_time_s * 1000)),
            ("grpc.keepalive_timeout_ms", int(self.keepalive_timeout_s * 1000)),
            ("grpc.http2.min_ping_interval_without_data_ms", int(self.min_client_ping_interval_s * 1000)),
            ("grpc.http2.max_ping_strikes", 2),
        ]

    def credentials(self) -> grpc.ServerCredentials | None:
        """TLS credentials (client certificates required when a client CA is given), or None for plaintext."""
        if not self.tls_cert or not self.tls_key:
            return None
        pair = (Path(self.tls_key).read_bytes(), Path(self.tls_cert).read_bytes())
        ca = Path(self.tls_client_ca).read_bytes() if self.tls_client_ca else None
        return grpc.ssl_server_credentials([pair], root_certificates=ca, require_client_auth=ca is not None)


def _store_failure(context: grpc.ServicerContext, ingest: Ingest, spans: int, exc: BaseException) -> NoReturn:
    """A failed store write, counted: data that can never be stored is INVALID_ARGUMENT (not retried); a store
    outage is logged with an id and answered UNAVAILABLE without the store's own words."""
    refused = ingest.failed(RECEIVER, spans, exc)
    if not refused.retryable:
        _abort(context, refused)
    _, message = public_error(log, "storing the spans", exc)
    context.abort(grpc.StatusCode.UNAVAILABLE, f"store error, retry later; {message}")
    raise AssertionError("context.abort returned")  # it raises; this keeps the type checker informed


def _check_token(context: grpc.ServicerContext, token: str | None, ingest: Ingest, signal: str) -> None:
    if token is None:
        return
    for key, value in context.invocation_metadata():
        if key == "authorization" and bearer_matches(str(value), token):
            return
    ingest.metrics.reject(RECEIVER, signal, "unauthorized")
    context.abort(grpc.StatusCode.UNAUTHENTICATED, UNAUTHORIZED_MESSAGE)


class TraceServicer(trace_service_pb2_grpc.TraceServiceServicer):
    """TraceService/Export into the ingest pipeline."""

    def __init__(self, ingest: Ingest, token: str | None) -> None:
        self.ingest = ingest
        self.token = token

    def Export(self, request: ExportTraceServiceRequest,
               context: grpc.ServicerContext) -> ExportTraceServiceResponse:
        """Decode, queue, and answer once the spans are committed."""
        _check_token(context, self.token, self.ingest, "traces")
        size = request.ByteSize()
        reservation = _reserve(context, self.ingest, size)
        try:
            try:
                decoded = flatten(request)
            except DecodeError as exc:
                self.ingest.metrics.reject(RECEIVER, "traces", "malformed")
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            try:
                future = self.ingest.submit(decoded, RECEIVER, nbytes=size)
            except Refused as exc:
                _abort(context, exc)
            try:
                future.result()
            except Exception as exc:
                _store_failure(context, self.ingest, len(decoded.spans), exc)
        finally:
            if reservation is not None:
                reservation.release()
        self.ingest.stored(RECEIVER)
        response = trace_response(decoded)
        return response


def _abort(context: grpc.ServicerContext, refused: Refused) -> NoReturn:
    """End the call with the status code of the refusal (INVALID_ARGUMENT for data that can never be stored).

    RESOURCE_EXHAUSTED carries a `google.rpc.RetryInfo` detail: the OTLP specification makes it retryable only
    then."""
    code = getattr(grpc.StatusCode, GRPC_STATUS[refused.reason])
    if code is grpc.StatusCode.RESOURCE_EXHAUSTED:
        status = status_pb2.Status(code=code.value[0], message=str(refused))
        status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=1)))
        context.set_trailing_metadata((("grpc-status-details-bin", status.SerializeToString()),))
    context.abort(code, str(refused))
    raise AssertionError("context.abort returned")  # it raises; this keeps the type checker informed


def _reserve(context: grpc.ServicerContext, ingest: Ingest, size: int) -> Reservation | None:
    """The memory reservation of a request of `size` bytes, or the call ends with RESOURCE_EXHAUSTED."""
    try:
        return ingest.reserve(RECEIVER, size)
    except Refused as exc:
        _abort(context, exc)


class RawTraceExport:
    """Worker mode: TraceService/Export with the request left undecoded, decoded and stored by an ingest worker."""

    def __init__(self, ingest: Ingest, token: str | None) -> None:
        self.ingest = ingest
        self.token = token

    def __call__(self, request: bytes, context: grpc.ServicerContext) -> ExportTraceServiceResponse:
        """Queue the body for a worker and answer once its spans are committed."""
        _check_token(context, self.token, self.ingest, "traces")
        reservation = _reserve(context, self.ingest, len(request))
        try:
            try:
                future = self.ingest.submit_body(request, "application/x-protobuf", RECEIVER)
            except Refused as exc:
                _abort(context, exc)
            try:
                stored = future.result()
            except DecodeError as exc:
                self.ingest.metrics.reject(RECEIVER, "traces", "malformed")
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            except Exception as exc:
                _store_failure(context, self.ingest, 0, exc)
        finally:
            if reservation is not None:
                reservation.release()
        self.ingest.body_stored(RECEIVER, stored)
        return trace_response(DecodedTraces([], stored.rejected, stored.reason))


class MetricsServicer(metrics_service_pb2_grpc.MetricsServiceServicer):
    """MetricsService/Export: validated and counted, not stored."""

    def __init__(self, ingest: Ingest, token: str | None) -> None:
        self.ingest = ingest
        self.token = token

    def Export(self, request: ExportMetricsServiceRequest,
               context: grpc.ServicerContext) -> ExportMetricsServiceResponse:
        """Count the data points."""
        _check_token(context, self.token, self.ingest, "metrics")
        self.ingest.metrics_received(RECEIVER, count_metric_points(request), request)
        return ExportMetricsServiceResponse()


class GrpcReceiver:
    """A grpcio server bound to `host:port` (port 0: a free one, see `port` after `start`)."""

    def __init__(self, ingest: Ingest, *, host: str, port: int, max_message_bytes: int,
                 token: str | None = None, workers: int = 16, transport: GrpcTransport | None = None) -> None:
        self.ingest = ingest
        transport = transport or GrpcTransport()
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="eventlens-grpc"),
            options=[("grpc.max_receive_message_length", max_message_bytes), *transport.options()],
            maximum_concurrent_rpcs=workers * 4,
        )
        if ingest.pool is not None:
            export = grpc.unary_unary_rpc_method_handler(
                RawTraceExport(ingest, token), request_deserializer=None,
                response_serializer=ExportTraceServiceResponse.SerializeToString)
            self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
                "opentelemetry.proto.collector.trace.v1.TraceService", {"Export": export}),))
        else:
            trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceServicer(ingest, token), self.server)  # type: ignore[no-untyped-call]
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(MetricsServicer(ingest, token),  # type: ignore[no-untyped-call]
                                                                     self.server)
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        credentials = transport.credentials()
        self.port: int = (self.server.add_secure_port(address, credentials) if credentials is not None
                          else self.server.add_insecure_port(address))
        if self.port == 0:
            raise OSError(f"cannot bind the OTLP/gRPC receiver to {address}")

    def start(self) -> GrpcReceiver:
        """Start serving."""
        self.server.start()
        return self

    def stop(self, grace_s: float = 5.0) -> None:
        """Stop taking calls; calls in flight get `grace_s` seconds to finish."""
        self.server.stop(grace_s).wait()
