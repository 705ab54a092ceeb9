"""What every receiver does with a decoded request: count it, queue it, and report the outcome.

Receivers differ only in transport; this keeps the accounting (Prometheus counters by reason) and the
mapping from pipeline exceptions to retryable answers in one place.
"""

from __future__ import annotations

import enum
from concurrent.futures import Future

from eventlens.collector.metrics import CollectorMetrics
from eventlens.collector.otlp import DecodedTraces
from eventlens.collector.pipeline import BatchResult, IngestPipeline, PipelineClosed, QueueFull
from eventlens.collector.workers import StoredBody, WorkerPool
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse


class Refusal(enum.StrEnum):
    """Why a decoded request was not acknowledged; all are retryable."""

    QUEUE_FULL = "queue_full"
    SHUTTING_DOWN = "shutting_down"
    STORE_ERROR = "store_error"


class Refused(RuntimeError):
    """A request was refused for a retryable reason (`reason`); the message is for the client."""

    def __init__(self, reason: Refusal, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def trace_response(decoded: DecodedTraces) -> ExportTraceServiceResponse:
    """The OTLP answer to a stored request: partial success when single spans were rejected."""
    response = ExportTraceServiceResponse()
    if decoded.rejected:
        response.partial_success.rejected_spans = decoded.rejected
        response.partial_success.error_message = decoded.reason
    return response


class Ingest:
    """The receivers' entry into the pipeline."""

    def __init__(self, pipeline: IngestPipeline, metrics: CollectorMetrics, pool: WorkerPool | None = None) -> None:
        self.pipeline = pipeline
        self.metrics = metrics
        self.pool = pool
        """Worker processes that decode and store OTLP/HTTP bodies (None: the receiver decodes in process)."""

    def submit(self, decoded: DecodedTraces, receiver: str, *, count: bool = True) -> Future[BatchResult]:
        """Count (unless `count` is False: a retry of the same spans) and queue a decoded request; raises
        `Refused` when the queue cannot take it."""
        spans = decoded.spans
        if count:
            self.metrics.spans_received.labels(receiver).inc(len(spans) + decoded.rejected)
            if decoded.rejected:
                self.metrics.spans_rejected.labels(receiver, "invalid_span").inc(decoded.rejected)
        try:
            return self.pipeline.submit(spans)
        except QueueFull as exc:
            self.metrics.reject(receiver, "traces", Refusal.QUEUE_FULL, len(spans))
            raise Refused(Refusal.QUEUE_FULL, str(exc)) from exc
        except PipelineClosed as exc:
            self.metrics.reject(receiver, "traces", Refusal.SHUTTING_DOWN, len(spans))
            raise Refused(Refusal.SHUTTING_DOWN, str(exc)) from exc

    def submit_body(self, body: bytes, content_type: str, receiver: str) -> Future[StoredBody]:
        """Queue an undecoded body for the worker pool; raises `Refused` when its queue cannot take it."""
        assert self.pool is not None, "no worker pool configured"
        try:
            return self.pool.submit(body, content_type)
        except QueueFull as exc:
            self.metrics.reject(receiver, "traces", Refusal.QUEUE_FULL)
            raise Refused(Refusal.QUEUE_FULL, str(exc)) from exc
        except PipelineClosed as exc:
            self.metrics.reject(receiver, "traces", Refusal.SHUTTING_DOWN)
            raise Refused(Refusal.SHUTTING_DOWN, str(exc)) from exc

    def body_stored(self, receiver: str, stored: StoredBody, *, request: bool = True) -> None:
        """Count a body a worker decoded and committed (its spans are counted as received here); `request`: it
        was a whole request (the Kafka receiver counts one per poll instead)."""
        self.metrics.spans_received.labels(receiver).inc(stored.spans + stored.rejected)
        if stored.rejected:
            self.metrics.spans_rejected.labels(receiver, "invalid_span").inc(stored.rejected)
        if request:
            self.stored(receiver)

    def stored(self, receiver: str) -> None:
        """Count an acknowledged request."""
        self.metrics.requests.labels(receiver, "traces", "ok").inc()

    def metrics_received(self, receiver: str, points: int) -> None:
        """Count an accepted /v1/metrics request and its data points (validated, not stored)."""
        self.metrics.metric_points.labels(receiver).inc(points)
        self.metrics.requests.labels(receiver, "metrics", "ok").inc()

    def failed(self, receiver: str, spans: int, error: BaseException) -> Refused:
        """Count a request whose store write failed; returns the `Refused` to answer with."""
        self.metrics.reject(receiver, "traces", Refusal.STORE_ERROR, spans)
        return Refused(Refusal.STORE_ERROR, f"store error, retry later: {error}")

    def check_room(self, receiver: str, signal: str = "traces", *, bodies: bool = False) -> None:
        """Refuse at once (before reading a body) when the queue is already full (`bodies`: the worker pool's)."""
        if self.pipeline.closing:
            self.metrics.reject(receiver, signal, Refusal.SHUTTING_DOWN)
            raise Refused(Refusal.SHUTTING_DOWN, "the collector is shutting down, retry later")
        pool = self.pool if bodies else None
        if not (pool.has_room() if pool is not None else self.pipeline.has_room()):
            self.metrics.reject(receiver, signal, Refusal.QUEUE_FULL)
            raise Refused(Refusal.QUEUE_FULL, "ingest queue full, retry later")
