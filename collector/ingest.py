"""What every receiver does with a decoded request: count it, queue it, and report the outcome.

Receivers differ only in transport; this keeps the accounting (Prometheus counters by reason), the memory
budget and the mapping from pipeline exceptions to answers in one place. Refusals are of two kinds, never
mixed (as in the OpenTelemetry Collector): retryable (queue full, memory limit, store outage, shutting down:
429/503 with Retry-After, UNAVAILABLE / RESOURCE_EXHAUSTED) and permanent (the store can never hold the data:
400 / INVALID_ARGUMENT, not retried).
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator
from concurrent.futures import Future

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from eventlens.collector.budget import MemoryBudget, MemoryLimitReached, Reservation
from eventlens.collector.exact_counts import ExactCounts
from eventlens.collector.metrics import CollectorMetrics
from eventlens.collector.otlp import DecodedTraces
from eventlens.collector.pipeline import BatchResult, IngestPipeline, PipelineClosed, QueueFull
from eventlens.collector.storage.protocol import StoreDataError
from eventlens.collector.workers import StoredBody, WorkerPool


class Refusal(enum.StrEnum):
    """Why a decoded request was not acknowledged; all but UNSTORABLE are retryable."""

    QUEUE_FULL = "queue_full"
    MEMORY_LIMIT = "memory_limit"
    SHUTTING_DOWN = "shutting_down"
    STORE_ERROR = "store_error"
    UNSTORABLE = "unstorable"
    """Permanent: the store can never hold this request's data."""


HTTP_STATUS = {Refusal.QUEUE_FULL: 429, Refusal.MEMORY_LIMIT: 429, Refusal.SHUTTING_DOWN: 503,
               Refusal.STORE_ERROR: 503, Refusal.UNSTORABLE: 400}
"""The OTLP/HTTP status of each refusal (429 and 503 come with Retry-After; 400 is not retried)."""
GRPC_STATUS = {Refusal.QUEUE_FULL: "UNAVAILABLE", Refusal.MEMORY_LIMIT: "RESOURCE_EXHAUSTED",
               Refusal.SHUTTING_DOWN: "UNAVAILABLE", Refusal.STORE_ERROR: "UNAVAILABLE",
               Refusal.UNSTORABLE: "INVALID_ARGUMENT"}
"""The OTLP/gRPC status code name of each refusal (RESOURCE_EXHAUSTED is retried only with retry info)."""


class Refused(RuntimeError):
    """A request was refused (`reason`); the message is for the client."""

    def __init__(self, reason: Refusal, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    @property
    def retryable(self) -> bool:
        """False when the data can never be stored, so resending it is pointless."""
        return self.reason is not Refusal.UNSTORABLE


def trace_response(decoded: DecodedTraces) -> ExportTraceServiceResponse:
    """The OTLP answer to a stored request: partial success when single spans were rejected."""
    response = ExportTraceServiceResponse()
    if decoded.rejected:
        response.partial_success.rejected_spans = decoded.rejected
        response.partial_success.error_message = decoded.reason
    return response


class Ingest:
    """The receivers' entry into the pipeline."""

    def __init__(self, pipeline: IngestPipeline, metrics: CollectorMetrics, pool: WorkerPool | None = None,
                 budget: MemoryBudget | None = None) -> None:
        self.pipeline = pipeline
        self.metrics = metrics
        self.pool = pool
        """Worker processes that decode and store trace bodies (None: the receivers decode in process)."""
        self.budget = budget
        """The global memory limit (None: unlimited)."""
        self.exact = ExactCounts()
        """The instrumentation's exact sent/consumed counters received at /v1/metrics (sampling check)."""

    def reserve(self, receiver: str, body_bytes: int, signal: str = "traces") -> Reservation | None:
        """Reserve the memory a request of `body_bytes` will take until it is answered (release it then);
        raises `Refused` (MEMORY_LIMIT) when it does not fit now. None when there is no limit."""
        if self.budget is None:
            return None
        try:
            return self.budget.reserve(body_bytes)
        except MemoryLimitReached as exc:
            self.metrics.reject(receiver, signal, Refusal.MEMORY_LIMIT)
            raise Refused(Refusal.MEMORY_LIMIT, str(exc)) from exc

    def submit(self, decoded: DecodedTraces, receiver: str, *, count: bool = True,
               nbytes: int = 0) -> Future[BatchResult]:
        """Count (unless `count` is False: a retry of the same spans) and queue a request decoded from `nbytes`
        body bytes; raises `Refused` when the queue cannot take it."""
        spans = decoded.spans
        if count:
            self._received(receiver, len(spans), decoded.rejected)
        with self._refusals(receiver, len(spans)):
            return self.pipeline.submit(spans, nbytes)

    def submit_body(self, body: bytes, content_type: str, receiver: str) -> Future[StoredBody]:
        """Queue an undecoded body for the worker pool; raises `Refused` when its queue cannot take it."""
        assert self.pool is not None, "no worker pool configured"
        with self._refusals(receiver, 0):
            return self.pool.submit(body, content_type)

    def body_stored(self, receiver: str, stored: StoredBody, *, request: bool = True) -> None:
        """Count a body a worker decoded and committed (its spans are counted as received here); `request`: it
        was a whole request (the Kafka receiver counts one per poll instead)."""
        self._received(receiver, stored.spans, stored.rejected)
        if request:
            self.stored(receiver)

    def _received(self, receiver: str, spans: int, rejected: int) -> None:
        self.metrics.spans_received.labels(receiver).inc(spans + rejected)
        if rejected:
            self.metrics.spans_rejected.labels(receiver, "invalid_span").inc(rejected)

    @contextlib.contextmanager
    def _refusals(self, receiver: str, spans: int) -> Iterator[None]:
        """Turn a full or closing queue into a counted `Refused`."""
        try:
            yield
        except QueueFull as exc:
            self.metrics.reject(receiver, "traces", Refusal.QUEUE_FULL, spans)
            raise Refused(Refusal.QUEUE_FULL, str(exc)) from exc
        except PipelineClosed as exc:
            self.metrics.reject(receiver, "traces", Refusal.SHUTTING_DOWN, spans)
            raise Refused(Refusal.SHUTTING_DOWN, str(exc)) from exc

    def stored(self, receiver: str) -> None:
        """Count an acknowledged request."""
        self.metrics.requests.labels(receiver, "traces", "ok").inc()

    def metrics_received(self, receiver: str, points: int,
                         request: ExportMetricsServiceRequest | None = None) -> None:
        """Count an accepted /v1/metrics request and its data points (not stored; its messaging counters are
        kept in memory for the sampling check)."""
        if request is not None:
            self.exact.add_request(request)
        self.metrics.metric_points.labels(receiver).inc(points)
        self.metrics.requests.labels(receiver, "metrics", "ok").inc()

    def failed(self, receiver: str, spans: int, error: BaseException) -> Refused:
        """Count a request whose store write failed; returns the `Refused` to answer with: permanent when the
        store can never hold its data (`StoreDataError`), retryable otherwise."""
        if isinstance(error, StoreDataError):
            self.metrics.reject(receiver, "traces", Refusal.UNSTORABLE, spans)
            return Refused(Refusal.UNSTORABLE, f"the request's data cannot be stored, do not retry: {error}")
        self.metrics.reject(receiver, "traces", Refusal.STORE_ERROR, spans)
        return Refused(Refusal.STORE_ERROR, f"store error, retry later: {error}")

    def check_room(self, receiver: str, signal: str = "traces") -> None:
        """Refuse at once (before reading a body) when the queue it would join is already full (trace bodies
        join the worker pool's when there is one)."""
        if self.pipeline.closing:
            self.metrics.reject(receiver, signal, Refusal.SHUTTING_DOWN)
            raise Refused(Refusal.SHUTTING_DOWN, "the collector is shutting down, retry later")
        pool = self.pool if signal == "traces" else None
        if not (pool.has_room() if pool is not None else self.pipeline.has_room()):
            self.metrics.reject(receiver, signal, Refusal.QUEUE_FULL)
            raise Refused(Refusal.QUEUE_FULL, "ingest queue full, retry later")
