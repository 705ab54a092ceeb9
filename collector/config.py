"""The collector's configuration: every `EVENTLENS_*` variable in one documented list.

`SETTINGS` is the single source: `CollectorConfig.from_env()` reads it, the CLI builds its `--help` from it and
docs/collector.md lists the same entries. Every listener binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from eventlens.collector.defaults import DEFAULT_STORE_URL, STORE_ENV


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
    Setting("store", STORE_ENV, "--store",
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
            "Open HTTP connections (at most the open-file limit less 256); past it the one waiting longest on its "
            "client is closed (503 only when all are busy with requests)."),
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
    Setting("alert_rules", "EVENTLENS_ALERT_RULES", "--alert-rules",
            "Alert rules file (YAML, docs/alerts.md); unset: the built-in rules."),
    Setting("alert_interval_s", "EVENTLENS_ALERT_INTERVAL_S", "--alert-interval",
            "Seconds between two alert evaluations (one collector sharing a store evaluates); 0 disables them."),
    Setting("span_retention_h", "EVENTLENS_SPAN_RETENTION_H", "--span-retention-h",
            "Hours raw spans are kept; 0 keeps them forever."),
    Setting("rollup_retention_h", "EVENTLENS_ROLLUP_RETENTION_H", "--rollup-retention-h",
            "Hours per-minute rollups and lag samples are kept; 0 keeps them forever."),
    Setting("retention_interval_s", "EVENTLENS_RETENTION_INTERVAL_S", "--retention-interval",
            "Seconds between two retention runs."),
    Setting("log_level", "EVENTLENS_LOG_LEVEL", "--log-level", "Logging level (debug, info, warning, error)."),
    # Transport, TLS and auth (docs/collector.md, "Security and limits").
    Setting("header_timeout_s", "EVENTLENS_HEADER_TIMEOUT_S", "--header-timeout",
            "Seconds a client has to send a request's headers (HTTP) or finish the connection handshake (gRPC)."),
    Setting("body_timeout_s", "EVENTLENS_BODY_TIMEOUT_S", "--body-timeout",
            "Seconds a client has to send a request's body once its headers arrived (HTTP 408 after it)."),
    Setting("idle_timeout_s", "EVENTLENS_IDLE_TIMEOUT_S", "--idle-timeout",
            "Seconds an idle keep-alive connection stays open (HTTP) or an idle connection is kept (gRPC)."),
    Setting("max_header_bytes", "EVENTLENS_MAX_HEADER_BYTES", "--max-header-bytes",
            "Largest request head (request line and headers; HTTP 431 above it) or gRPC metadata."),
    Setting("tls_cert", "EVENTLENS_TLS_CERT", "--tls-cert",
            "PEM certificate (chain) file: serve OTLP/HTTP, the API and OTLP/gRPC over TLS (with --tls-key)."),
    Setting("tls_key", "EVENTLENS_TLS_KEY", "--tls-key", "PEM private key file of --tls-cert."),
    Setting("tls_client_ca", "EVENTLENS_TLS_CLIENT_CA", "--tls-client-ca",
            "PEM CA file: require client certificates signed by it (mutual TLS) on every listener."),
    Setting("insecure_no_auth", "EVENTLENS_INSECURE_NO_AUTH", "--insecure-no-auth",
            "Allow binding a non-loopback address without a token (anyone reaching it can send and read spans)."),
    Setting("allowed_hosts", "EVENTLENS_ALLOWED_HOSTS", "--allowed-hosts",
            "Comma-separated Host header values the HTTP port answers (DNS-rebinding guard; * allows any). Default: "
            "localhost, 127.0.0.1, ::1 and the bind address."),
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

    store: str = DEFAULT_STORE_URL
    host: str = "127.0.0.1"
    http_port: int = 4318
    grpc_port: int = 4317
    token: str | None = None
    max_body_bytes: int = 16 * 1024 * 1024
    queue_spans: int = 100_000
    batch_spans: int = 8192
    ingest_workers: int = 0
    retry_after_s: int = 1
    max_connections: int = 4096
    kafka_bootstrap: str | None = None
    kafka_topic: str = "otlp_spans"
    kafka_group: str = "eventlens-collector"
    lag_bootstrap: str | None = None
    lag_interval_s: float = 15.0
    alert_rules: str | None = None
    alert_interval_s: float = 30.0
    span_retention_h: float = 72.0
    rollup_retention_h: float = 720.0
    retention_interval_s: float = 300.0
    log_level: str = "info"
    header_timeout_s: float = 60.0
    body_timeout_s: float = 60.0
    idle_timeout_s: float = 60.0
    max_header_bytes: int = 64 * 1024
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    insecure_no_auth: bool = False
    allowed_hosts: str | None = None
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
        if self.alert_interval_s < 0:
            raise ConfigError("alert_interval_s must be 0 (no evaluation) or positive seconds")
        self._validate_transport()

    def _validate_transport(self) -> None:
        """Timeouts and limits in range, TLS files paired, and no token-less listener beyond loopback."""
        for name in ("header_timeout_s", "body_timeout_s", "idle_timeout_s"):
            if not 0 < getattr(self, name) < 86400:
                raise ConfigError(f"{name} must be positive seconds (below a day)")
        if self.max_header_bytes < 1024:
            raise ConfigError("max_header_bytes must be at least 1024")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("--tls-cert and --tls-key go together (EVENTLENS_TLS_CERT, EVENTLENS_TLS_KEY)")
        if self.tls_client_ca and not self.tls_cert:
            raise ConfigError("--tls-client-ca needs --tls-cert and --tls-key (mutual TLS runs over TLS)")
        if self.token_value is None and not self.insecure_no_auth and not is_loopback(self.host):
            raise ConfigError(
                f"refusing to listen on {self.host} without a token: anyone who can reach it could send spans and "
                "read every trace. Set a token (--token / EVENTLENS_TOKEN), bind 127.0.0.1, or pass "
                "--insecure-no-auth (EVENTLENS_INSECURE_NO_AUTH=true) if a firewall or proxy guards it")

    @property
    def tls(self) -> bool:
        """True when the listeners serve TLS."""
        return bool(self.tls_cert)

    @property
    def host_allow_list(self) -> list[str]:
        """Host header values the HTTP port answers: the configured list, else loopback names + the bind address."""
        if self.allowed_hosts:
            return [h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip()]
        names = ["localhost", "127.0.0.1", "::1"]
        host = self.host.strip().lower()
        if host not in names and host not in ("0.0.0.0", "::", ""):  # noqa: S104 (compared, not bound)
            names.append(host)
        return names

    @property
    def token_value(self) -> str | None:
        """The bearer token, None when the check is off."""
        return self.token or None


LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """True for a loopback address or name (127.0.0.0/8, ::1, localhost); other names count as reachable."""
    host = host.strip().strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    parsers: dict[type, Callable[[str], Any]] = {int: int, float: float, bool: _parse_bool}
    parser = parsers.get(kind, str)
    if kind is type(None):
        return raw.strip() or None
    try:
        return parser(raw.strip())
    except ValueError as exc:
        raise ConfigError(f"{s.env}={raw!r} is not a valid {kind.__name__}") from exc


def _parse_bool(raw: str) -> bool:
    """true/false, 1/0, yes/no, on/off (any case)."""
    value = raw.lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(raw)
