"""`eventlens demo`: run the demo shop with the broker, the collector and the dashboard (see docs/demo.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from eventlens.demo.runner import Demo, DemoOptions, options_from_env
from eventlens.demo.topics import DEFAULT_PREFIX

app = typer.Typer(help="Run the demo shop: broker, services, collector, dashboard.")


@app.callback(invoke_without_command=True)
def demo(
    *,
    rate: Annotated[float, typer.Option("--rate", min=0.1, help="Orders per second (bursts reach 4×).")] = 5.0,
    duration: Annotated[float, typer.Option(
        "--duration", min=0.0, help="Seconds of traffic, then drain and stop (0: until Ctrl-C).")] = 0.0,
    kafka_port: Annotated[int, typer.Option(
        "--kafka-port", help="Port of the local broker (unused when KAFKA_BOOTSTRAP_SERVERS is set).")] = 9092,
    dashboard_port: Annotated[int, typer.Option("--dashboard-port", help="Port of the dashboard.")] = 8501,
    dashboard: Annotated[bool, typer.Option("--dashboard/--no-dashboard", help="Start the dashboard.")] = True,
    otlp_http_port: Annotated[int, typer.Option("--otlp-http-port", help="Collector's OTLP/HTTP port.")] = 4318,
    otlp_grpc_port: Annotated[int, typer.Option("--otlp-grpc-port", help="Collector's OTLP/gRPC port.")] = 4317,
    workdir: Annotated[Path, typer.Option(
        "--workdir", help="Folder for the store, broker data, service state and logs.")] = Path(".eventlens/demo"),
    prefix: Annotated[str, typer.Option("--prefix", help="Prefix of every topic and consumer group.")] = (
        DEFAULT_PREFIX),
    seed: Annotated[int, typer.Option("--seed", help="Seed of the traffic (same seed, same orders).")] = 42,
    schema_switch: Annotated[float, typer.Option(
        "--schema-switch", help="Seconds until order.placed v2 is sent.")] = 20.0,
    burst_every: Annotated[float, typer.Option(
        "--burst-every", help="Seconds between order bursts (0: no bursts).")] = 40.0,
    lag_interval: Annotated[float, typer.Option("--lag-interval", help="Seconds between lag polls.")] = 5.0,
    drain_timeout: Annotated[float, typer.Option(
        "--drain-timeout", help="After --duration: longest wait for the consumers to catch up.")] = 90.0,
    keep_data: Annotated[bool, typer.Option("--keep-data", help="Keep the previous run's store and state.")] = False,
) -> None:
    """Start everything, print the dashboard URL, stop cleanly on Ctrl-C (or after --duration)."""
    options = options_from_env(DemoOptions(
        rate=rate, duration_s=duration, kafka_port=kafka_port, dashboard=dashboard, dashboard_port=dashboard_port,
        otlp_http_port=otlp_http_port, otlp_grpc_port=otlp_grpc_port, workdir=workdir, prefix=prefix, seed=seed,
        schema_switch_s=schema_switch, burst_every_s=burst_every, lag_interval_s=lag_interval, keep_data=keep_data,
        drain_timeout_s=drain_timeout,
    ))
    raise typer.Exit(Demo(options, out=typer.echo).run())
