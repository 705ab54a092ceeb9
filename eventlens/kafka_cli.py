"""`eventlens kafka start|stop|status|resolve`: the local broker from the command line."""

from __future__ import annotations

from pathlib import Path

import typer

from eventlens import local_kafka

app = typer.Typer(no_args_is_help=True, help="Manage the local Kafka broker (KRaft, from Maven Central jars).")

_PORT = typer.Option(9092, "--port", envvar="EVENTLENS_KAFKA_PORT", help="Broker port on 127.0.0.1.")
_WORKDIR = typer.Option(local_kafka.DEFAULT_HOME / "broker", "--workdir", envvar="EVENTLENS_KAFKA_WORKDIR",
                        help="Folder for the broker's config, data and log.")


def _run(action: str, port: int, workdir: Path) -> None:
    raise typer.Exit(local_kafka.main([action, "--port", str(port), "--workdir", str(workdir)]))


@app.command()
def start(port: int = _PORT, workdir: Path = _WORKDIR) -> None:
    """Start the broker in the background and wait until it answers metadata requests."""
    _run("start", port, workdir)


@app.command()
def stop(port: int = _PORT, workdir: Path = _WORKDIR) -> None:
    """Stop the broker started in WORKDIR."""
    _run("stop", port, workdir)


@app.command()
def status(port: int = _PORT, workdir: Path = _WORKDIR) -> None:
    """Say whether the broker runs, and where its log is (exit 3 when it does not run)."""
    _run("status", port, workdir)
