"""OTLP/gRPC receiver: TraceService/Export and MetricsService/Export on one grpcio server.

A trace request returns only after its spans are committed. A full queue, a store error or a shutdown
answers UNAVAILABLE (always retryable under the OTLP spec, and retried by the OpenTelemetry exporters);
a wrong or missing bearer token UNAUTHENTICATED; requests over the size limit are refused by grpcio
(RESOURCE_EXHAUSTED). With ingest workers (`--ingest-workers N`) TraceService/Export takes the request as bytes
and hands it to the workers, like the OTLP/HTTP receiver; a body they cannot decode is INVALID_ARGUMENT.
"""

from __future__ import annotations

import hmac
from concurrent import futures
from typing import NoReturn

import grpc
from eventlens.collector.budget import Reservation
from eventlens.collector.ingest import GRPC_STATUS, Ingest, Refused, trace_response
from eventlens.collector.otlp import DecodedTraces, DecodeError, count_metric_points, flatten
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

RECEIVER = "grpc"


def _check_token(context: grpc.ServicerContext, token: str | None, ingest: Ingest, signal: str) -> None:
    if token is None:
        return
    for key, value in context.invocation_metadata():
        if key == "authorization":
            scheme, _, given = str(value).partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
                return
    ingest.metrics.reject(RECEIVER, signal, "unauthorized")
    context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")


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
                _abort(context, self.ingest.failed(RECEIVER, len(decoded.spans), exc))
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
                _abort(context, self.ingest.failed(RECEIVER, 0, exc))
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
        self.ingest.metrics_received(RECEIVER, count_metric_points(request))
        return ExportMetricsServiceResponse()


class GrpcReceiver:
    """A grpcio server bound to `host:port` (port 0: a free one, see `port` after `start`)."""

    def __init__(self, ingest: Ingest, *, host: str, port: int, max_message_bytes: int,
                 token: str | None = None, workers: int = 16) -> None:
        self.ingest = ingest
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="eventlens-grpc"),
            options=[("grpc.max_receive_message_length", max_message_bytes)],
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
        self.port: int = self.server.add_insecure_port(address)
        if self.port == 0:
            raise OSError(f"cannot bind the OTLP/gRPC receiver to {address}")

    def start(self) -> GrpcReceiver:
        """Start serving."""
        self.server.start()
        return self

    def stop(self, grace_s: float = 5.0) -> None:
        """Stop taking calls; calls in flight get `grace_s` seconds to finish."""
        self.server.stop(grace_s).wait()
