"""The collector's configuration: every `EVENTLENS_*` variable in one documented list.

`SETTINGS` is the single source: `CollectorConfig.from_env()` reads it, the CLI builds its `--help` from it and
docs/collector.md lists the same entries. Every listener binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """A configuration value could not be parsed; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Setting:
    """One configuration entry: dataclass field, environment variable, CLI flag and help text."""

    field: str
    env: str
    flag: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("store", "EVENTLENS_STORE", "--store",
            "Store URL: sqlite:///path/to.db (the default, one file) or postgresql://user@host/db."),
    Setting("host", "EVENTLENS_HOST", "--host",
            "Address every listener binds (OTLP/HTTP + API, OTLP/gRPC). Keep 127.0.0.1 unless a token is set."),
    Setting("http_port", "EVENTLENS_HTTP_PORT", "--http-port",
            "OTLP/HTTP receiver, query API and /metrics port; 0 picks a free port, -1 disables it."),
    Setting("grpc_port", "EVENTLENS_GRPC_PORT", "--grpc-port",
            "OTLP/gRPC receiver port; 0 picks a free port, -1 disables it."),
    Setting("token", "EVENTLENS_TOKEN", "--token",
            "Bearer token required on ingest (HTTP and gRPC) and on /api when set; empty disables the check."),
    Setting("max_body_bytes", "EVENTLENS_MAX_BODY_BYTES", "--max-body-bytes",
            "Largest accepted OTLP request body, after gzip decompression (HTTP 413 above it)."),
    Setting("queue_spans", "EVENTLENS_QUEUE_SPANS", "--queue-spans",
            "Spans the ingest queue holds before answering 429 / UNAVAILABLE (bounds memory)."),
    Setting("batch_spans", "EVENTLENS_BATCH_SPANS", "--batch-spans",
            "Most spans the writer coalesces into one store transaction."),
    Setting("ingest_workers", "EVENTLENS_INGEST_WORKERS", "--ingest-workers",
            "Processes that decode and store OTLP trace requests (HTTP, gRPC, Kafka) in parallel (0: the collector "
            "process does it). Set it to the number of cores for high span rates; the queue and batch limits then "
            "count body bytes at 512 per span."),
    Setting("retry_after_s", "EVENTLENS_RETRY_AFTER_S", "--retry-after",
            "Seconds sent in Retry-After when the queue is full or the store fails."),
    Setting("max_connections", "EVENTLENS_MAX_CONNECTIONS", "--max-connections",
            "Concurrent HTTP connections/requests before the server answers 503 (bounds memory)."),
    Setting("kafka_bootstrap", "EVENTLENS_KAFKA_BOOTSTRAP", "--kafka-bootstrap",
            "Kafka bootstrap servers for the Kafka receiver; empty disables it."),
    Setting("kafka_topic", "EVENTLENS_KAFKA_TOPIC", "--kafka-topic",
            "Topic holding OTLP protobuf ExportTraceServiceRequest records."),
    Setting("kafka_group", "EVENTLENS_KAFKA_GROUP", "--kafka-group",
            "Consumer group of the Kafka receiver (collectors sharing it split the partitions)."),
    Setting("lag_bootstrap", "EVENTLENS_LAG_BOOTSTRAP", "--lag-bootstrap",
            "Kafka bootstrap servers the consumer-lag poller watches; empty disables it."),
    Setting("lag_interval_s", "EVENTLENS_LAG_INTERVAL_S", "--lag-interval",
            "Seconds between two lag polls."),
    Setting("span_retention_h", "EVENTLENS_SPAN_RETENTION_H", "--span-retention-h",
            "Hours raw spans are kept; 0 keeps them forever."),
    Setting("rollup_retention_h", "EVENTLENS_ROLLUP_RETENTION_H", "--rollup-retention-h",
            "Hours per-minute rollups and lag samples are kept; 0 keeps them forever."),
    Setting("retention_interval_s", "EVENTLENS_RETENTION_INTERVAL_S", "--retention-interval",
            "Seconds between two retention runs."),
    Setting("log_level", "EVENTLENS_LOG_LEVEL", "--log-level", "Logging level (debug, info, warning, error)."),
    # Bad input and memory (docs/collector.md, "Security and limits").
    Setting("memory_limit_mib", "EVENTLENS_MEMORY_LIMIT_MIB", "--memory-limit-mib",
            "Memory the collector process may grow to: requests that would take it past this answer 429 / "
            "RESOURCE_EXHAUSTED with Retry-After (each reserves 16x its body, 2x with ingest workers); 0: no limit."),
    Setting("queue_bytes", "EVENTLENS_QUEUE_BYTES", "--queue-bytes",
            "Request-body bytes the ingest queue holds before answering 429 / UNAVAILABLE (with --queue-spans)."),
    Setting("max_span_attributes", "EVENTLENS_MAX_SPAN_ATTRIBUTES", "--max-span-attributes",
            "Attributes kept per span, resource and link; the rest are dropped and counted in "
            "otel.dropped_attributes_count."),
    Setting("max_attribute_value_length", "EVENTLENS_MAX_ATTRIBUTE_VALUE_LENGTH", "--max-attribute-value-length",
            "Characters kept of a string attribute value (longer ones are cut)."),
    Setting("max_span_links", "EVENTLENS_MAX_SPAN_LINKS", "--max-span-links",
            "Links kept per span; the rest are dropped and counted in otel.dropped_links_count."),
)


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    """Everything the collector service needs; see `SETTINGS` for what each field means."""

    store: str = "sqlite:///.eventlens/eventlens.db"
    host: str = "127.0.0.1"
    http_port: int = 4318
    grpc_port: int = 4317
    token: str | None = None
    max_body_bytes: int = 16 * 1024 * 1024
    queue_spans: int = 100_000
    batch_spans: int = 8192
    ingest_workers: int = 0
    retry_after_s: int = 1
    max_connections: int = 256
    kafka_bootstrap: str | None = None
    kafka_topic: str = "otlp_spans"
    kafka_group: str = "eventlens-collector"
    lag_bootstrap: str | None = None
    lag_interval_s: float = 15.0
    span_retention_h: float = 72.0
    rollup_retention_h: float = 720.0
    retention_interval_s: float = 300.0
    log_level: str = "info"
    # Bad input and memory.
    memory_limit_mib: int = 512
    queue_bytes: int = 64 * 1024 * 1024
    max_span_attributes: int = 128
    max_attribute_value_length: int = 65536
    max_span_links: int = 128

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> CollectorConfig:
        """Defaults, then `EVENTLENS_*` variables, then `overrides` that are not None (CLI flags)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            raw = env.get(setting.env)
            if raw is not None:
                values[setting.field] = _parse(setting, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        """Raise `ConfigError` for values out of range."""
        for name in ("http_port", "grpc_port"):
            port = getattr(self, name)
            if not -1 <= port <= 65535:
                raise ConfigError(f"{name} must be -1 (off), 0 (any free port) or 1..65535, not {port}")
        for name in ("max_body_bytes", "queue_spans", "batch_spans", "max_connections"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        for name in ("queue_bytes", "max_span_attributes", "max_attribute_value_length", "max_span_links"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        if self.memory_limit_mib < 0:
            raise ConfigError("memory_limit_mib must be 0 (no limit) or more")
        if self.ingest_workers < 0:
            raise ConfigError("ingest_workers must be 0 (in process) or more")
        if self.lag_interval_s <= 0 or self.retention_interval_s <= 0 or self.retry_after_s < 0:
            raise ConfigError("intervals must be positive and retry_after_s not negative")

    @property
    def token_value(self) -> str | None:
        """The bearer token, None when the check is off."""
        return self.token or None


def default_of(field: str) -> Any:
    """The built-in default of a config field (for `--help`)."""
    for f in dataclasses.fields(CollectorConfig):
        if f.name == field:
            return f.default
    raise KeyError(field)


def setting(field: str) -> Setting:
    """The `Setting` describing a config field."""
    for s in SETTINGS:
        if s.field == field:
            return s
    raise KeyError(field)


def _parse(s: Setting, raw: str) -> Any:
    kind = type(default_of(s.field))
    parser: Callable[[str], Any] = {int: int, float: float}.get(kind, str)
    if kind is type(None):
        return raw.strip() or None
    try:
        return parser(raw.strip())
    except ValueError as exc:
        raise ConfigError(f"{s.env}={raw!r} is not a valid {kind.__name__}") from exc
