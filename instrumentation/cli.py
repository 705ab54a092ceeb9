"""`eventlens instrument -- python app.py`: run a program with Kafka tracing set up from `OTEL_*` variables.

The child runs with a `sitecustomize` directory first on PYTHONPATH that calls `instrument()` before the
program's code, so any Python program using kafka-python gets traces and metrics without code changes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import typer
from typer import _click
from typer.core import TyperGroup


class _PassThroughGroup(TyperGroup):
    """A group whose leftover arguments are the program to run, never a subcommand name."""

    def parse_args(self, ctx: _click.Context, args: list[str]) -> list[str]:
        """Parse our options; everything else (the program and its arguments) stays in `ctx.args`."""
        return _click.Command.parse_args(self, ctx, args)


app = typer.Typer(cls=_PassThroughGroup, add_completion=False,
                  help="Run a program with Kafka tracing set up from OTEL_*.")


def autoinit_dir() -> Path:
    """The directory holding eventlens' `sitecustomize.py`."""
    from eventlens.instrumentation import autoinit

    return Path(autoinit.__file__).resolve().parent


def child_environment(base: dict[str, str], service_name: str | None, endpoint: str | None) -> dict[str, str]:
    """The environment for the instrumented child: our sitecustomize first on PYTHONPATH, plus OTEL_* settings."""
    env = dict(base)
    parts = [str(autoinit_dir())] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(parts)
    if service_name:
        env["OTEL_SERVICE_NAME"] = service_name
    if endpoint:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    return env


@app.callback(invoke_without_command=True,
              context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run(ctx: typer.Context,
        service_name: str = typer.Option(None, "--service-name", "-s", help="service.name of the spans."),
        endpoint: str = typer.Option(None, "--endpoint", help="OTLP/HTTP endpoint (default: OTEL_* or :4318).")
        ) -> None:
    """Run the command after `--` with tracing; exits with the command's exit code."""
    command = list(ctx.args)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        typer.echo("usage: eventlens instrument [--service-name NAME] -- python app.py [args...]", err=True)
        raise typer.Exit(2)
    if command[0] in ("python", "python3"):
        command[0] = sys.executable  # the interpreter eventlens (and so kafka-python) is installed in
    env = child_environment(dict(os.environ), service_name, endpoint)
    try:
        code = subprocess.call(command, env=env)
    except FileNotFoundError:
        typer.echo(f"eventlens instrument: command not found: {command[0]}", err=True)
        raise typer.Exit(127) from None
    raise typer.Exit(code)
