"""`eventlens collector`: run the collector (OTLP receivers, store, query API, /metrics) in the foreground.

Every flag mirrors an `EVENTLENS_*` variable (`collector/config.py` is the one list); flags win over the
environment. SIGINT and SIGTERM stop it gracefully: receivers stop, the queue is written out, the store closes.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

import typer

from eventlens.collector.config import SETTINGS, CollectorConfig, ConfigError, default_of, setting
from eventlens.collector.redact import install_redaction, redact_text, redact_url

app = typer.Typer(add_completion=False, help=__doc__)


def _help(field: str) -> str:
    s = setting(field)
    default = default_of(field)
    shown = "unset" if default is None else default
    return f"{s.help} (env {s.env}; default {shown})"


def _opt(field: str) -> Any:
    return typer.Option(None, setting(field).flag, help=_help(field), show_default=False)


@app.callback(invoke_without_command=True)
def collector(  # noqa: PLR0917 (Typer maps each parameter to a flag)
    store: str | None = _opt("store"),
    host: str | None = _opt("host"),
    http_port: int | None = _opt("http_port"),
    grpc_port: int | None = _opt("grpc_port"),
    token: str | None = _opt("token"),
    max_body_bytes: int | None = _opt("max_body_bytes"),
    queue_spans: int | None = _opt("queue_spans"),
    batch_spans: int | None = _opt("batch_spans"),
    ingest_workers: int | None = _opt("ingest_workers"),
    retry_after_s: int | None = _opt("retry_after_s"),
    max_connections: int | None = _opt("max_connections"),
    kafka_bootstrap: str | None = _opt("kafka_bootstrap"),
    kafka_topic: str | None = _opt("kafka_topic"),
    kafka_group: str | None = _opt("kafka_group"),
    lag_bootstrap: str | None = _opt("lag_bootstrap"),
    lag_interval_s: float | None = _opt("lag_interval_s"),
    alert_rules: str | None = _opt("alert_rules"),
    alert_interval_s: float | None = _opt("alert_interval_s"),
    span_retention_h: float | None = _opt("span_retention_h"),
    rollup_retention_h: float | None = _opt("rollup_retention_h"),
    retention_interval_s: float | None = _opt("retention_interval_s"),
    log_level: str | None = _opt("log_level"),
    header_timeout_s: float | None = _opt("header_timeout_s"),
    body_timeout_s: float | None = _opt("body_timeout_s"),
    idle_timeout_s: float | None = _opt("idle_timeout_s"),
    max_header_bytes: int | None = _opt("max_header_bytes"),
    tls_cert: str | None = _opt("tls_cert"),
    tls_key: str | None = _opt("tls_key"),
    tls_client_ca: str | None = _opt("tls_client_ca"),
    insecure_no_auth: bool = typer.Option(False, "--insecure-no-auth", help=_help("insecure_no_auth"),
                                          show_default=False),
    allowed_hosts: str | None = _opt("allowed_hosts"),
    # Bad input and memory.
    memory_limit_mib: int | None = _opt("memory_limit_mib"),
    queue_bytes: int | None = _opt("queue_bytes"),
    max_span_attributes: int | None = _opt("max_span_attributes"),
    max_attribute_value_length: int | None = _opt("max_attribute_value_length"),
    max_span_links: int | None = _opt("max_span_links"),
) -> None:
    """Run the collector: OTLP/HTTP (4318) and OTLP/gRPC (4317) receivers, optional Kafka receiver and lag
    poller, the store (SQLite by default), the JSON query API under /api and Prometheus /metrics."""
    overrides = dict(locals())
    overrides["insecure_no_auth"] = insecure_no_auth or None  # the flag can only turn it on; unset: the env decides
    try:
        config = CollectorConfig.from_env(**overrides)
    except (ConfigError, TypeError) as exc:
        typer.echo(f"eventlens collector: {exc}", err=True)
        raise typer.Exit(2) from exc
    run(config)


def run(config: CollectorConfig) -> None:
    """Start the collector and block until SIGINT/SIGTERM, then stop it gracefully."""
    from eventlens.collector.alerts.rules import RulesError
    from eventlens.collector.service import Collector

    logging.basicConfig(level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_redaction()
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        collector = Collector(config).start()
    except OSError as exc:  # a port in use, an unreadable store folder, a missing TLS file...
        typer.echo(f"eventlens collector: cannot start: {redact_text(str(exc), config.store)}", err=True)
        raise typer.Exit(1) from exc
    except RulesError as exc:  # an invalid --alert-rules file
        typer.echo(f"eventlens collector: cannot start: {exc}", err=True)
        raise typer.Exit(2) from exc
    # One machine-readable line so scripts (and tests) learn the bound ports.
    typer.echo(f"eventlens collector listening http={collector.http_port} grpc={collector.grpc_port} "
               f"store={redact_url(config.store)}", err=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        typer.echo("eventlens collector stopping", err=True)
        collector.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


__all__ = ["SETTINGS", "app", "run"]
