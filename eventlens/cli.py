"""The `eventlens` command: one entry that dispatches to each part's own Typer app.

Each part owns its verbs in its own `cli` module exposing `app`; a part whose extra is not installed shows
a command that says which extra to install instead of failing at start-up.
"""

from __future__ import annotations

import importlib

import typer

from eventlens import __version__

# (verb, module exposing `app`, extra that brings its dependencies, one-line help)
SUBCOMMANDS: tuple[tuple[str, str, str, str], ...] = (
    ("instrument", "eventlens.instrumentation.cli", "", "Run a program with Kafka tracing set up from OTEL_*."),
    ("collector", "eventlens.collector.cli", "collector", "Run the collector: OTLP receivers, store, API."),
    ("graph", "eventlens.collector.analysis.cli", "collector", "Topology, lineage, coupling; graph export."),
    ("lag", "eventlens.collector.lag.cli", "collector", "Consumer lag in offsets and seconds, with status."),
    ("rules", "eventlens.collector.alerts.cli", "collector", "Alert rules: check a rules file."),
    ("dashboard", "eventlens.dashboard.cli", "dashboard", "Run the Streamlit dashboard."),
    ("demo", "eventlens.demo.cli", "all", "Run the demo shop: broker, services, collector, dashboard."),
    ("kafka", "eventlens.kafka_cli", "", "Manage the local Kafka broker (start, stop, status)."),
)

app = typer.Typer(name="eventlens", no_args_is_help=True, add_completion=False,
                  help="Observability for event-driven systems on Kafka.")


def _version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Observability for event-driven systems on Kafka."""


def _missing(verb: str, extra: str, error: ImportError) -> typer.Typer:
    stub = typer.Typer(help=f"(needs eventlens[{extra}])")

    @stub.callback(invoke_without_command=True, context_settings={"allow_extra_args": True,
                                                                   "ignore_unknown_options": True})
    def _fail() -> None:
        typer.echo(f"'eventlens {verb}' needs extra dependencies: pip install 'eventlens[{extra}]' ({error})",
                   err=True)
        raise typer.Exit(2)

    return stub


def _register() -> None:
    for verb, module, extra, help_text in SUBCOMMANDS:
        try:
            sub = importlib.import_module(module).app
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("eventlens"):
                continue  # the part does not provide this verb (yet)
            sub = _missing(verb, extra or "all", exc)
        app.add_typer(sub, name=verb, help=help_text)


_register()


def main() -> None:
    """Console-script entry point."""
    app(prog_name="eventlens")


if __name__ == "__main__":
    main()
