"""The collector's own health as Prometheus metrics (`eventlens_collector_*`).

One `CollectorMetrics` per service, on its own registry (so tests and several collectors in one process do not
collide). It is also the pipeline's observer: queue depth and store latency come from the writer thread.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from eventlens.collector.pipeline import PipelineObserver

STORE_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class CollectorMetrics(PipelineObserver):
    """Counters, gauges and histograms describing ingest; safe to update from any thread."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.spans_received = Counter("eventlens_collector_spans_received", "Spans decoded from export requests.",
                                      ["receiver"], registry=r)
        self.spans_stored = Counter("eventlens_collector_spans_stored", "Spans committed to the store.",
                                    registry=r)
        self.spans_new = Counter("eventlens_collector_spans_new",
                                 "Committed spans that were not stored before (retries count once).", registry=r)
        self.spans_rejected = Counter("eventlens_collector_spans_rejected",
                                      "Decoded spans not stored, by reason (queue_full, store_error, "
                                      "invalid_span, unstorable, shutting_down).", ["receiver", "reason"],
                                      registry=r)
        self.requests = Counter("eventlens_collector_requests", "Export requests answered, by outcome.",
                                ["receiver", "signal", "outcome"], registry=r)
        self.requests_rejected = Counter("eventlens_collector_requests_rejected",
                                         "Export requests refused, by reason (malformed, unsupported_media_type, "
                                         "too_large, unauthorized, queue_full, memory_limit, store_error, "
                                         "unstorable, shutting_down).",
                                         ["receiver", "reason"], registry=r)
        self.metric_points = Counter("eventlens_collector_metric_points_received",
                                     "OTLP metric data points received and validated (not stored).",
                                     ["receiver"], registry=r)
        self.kafka_records_skipped = Counter("eventlens_collector_kafka_records_skipped",
                                             "Kafka records that were not valid OTLP and were skipped.", registry=r)
        self.dead_letters = Counter("eventlens_collector_dead_letters",
                                    "Input that can never be stored, parked in the store's dead_letters table.",
                                    ["receiver"], registry=r)
        self.memory_reserved = Gauge("eventlens_collector_memory_reserved_bytes",
                                     "Memory reserved by requests in flight (see --memory-limit-mib).", registry=r)
        self.queue_spans = Gauge("eventlens_collector_queue_spans", "Spans waiting in the ingest queue.",
                                 registry=r)
        self.queue_bytes = Gauge("eventlens_collector_queue_bytes",
                                 "Undecoded OTLP body bytes waiting for an ingest worker (worker mode).", registry=r)
        self.queue_capacity = Gauge("eventlens_collector_queue_capacity_spans", "Capacity of the ingest queue.",
                                    registry=r)
        self.store_seconds = Histogram("eventlens_collector_store_seconds",
                                       "Duration of one coalesced store write (one transaction).",
                                       buckets=STORE_BUCKETS_S, registry=r)
        self.store_errors = Counter("eventlens_collector_store_errors", "Store writes that failed.", registry=r)

    def stored(self, spans: int, new: int, seconds: float) -> None:
        """Pipeline hook: a write committed."""
        self.spans_stored.inc(spans)
        self.spans_new.inc(new)
        self.store_seconds.observe(seconds)

    def store_failed(self, spans: int, seconds: float, error: BaseException) -> None:
        """Pipeline hook: a write failed."""
        self.store_errors.inc()
        self.store_seconds.observe(seconds)

    def depth(self, spans: int) -> None:
        """Pipeline hook: the queue depth changed."""
        self.queue_spans.set(spans)

    def depth_bytes(self, nbytes: int) -> None:
        """Worker pool hook: the body queue's size changed."""
        self.queue_bytes.set(nbytes)

    def reject(self, receiver: str, signal: str, reason: str, spans: int = 0) -> None:
        """Count a refused request (and its spans, when it had been decoded)."""
        self.requests_rejected.labels(receiver, reason).inc()
        self.requests.labels(receiver, signal, "rejected").inc()
        if spans:
            self.spans_rejected.labels(receiver, reason).inc(spans)
