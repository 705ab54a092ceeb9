"""`eventlens rules`: check an alert rules file before the collector loads it (docs/alerts.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from eventlens.collector.alerts.rules import RulesError, RuleSet, default_rules, load_rules

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Alert rules: check a rules file.")


@app.callback()
def rules() -> None:
    """Alert rules: check a rules file (docs/alerts.md)."""


def summary(ruleset: RuleSet) -> str:
    """One line: how many rules, and how many of each kind (in the file's order of first use)."""
    kinds = ", ".join(f"{kind.value} {count}" for kind, count in ruleset.by_kind().items())
    noun = "rule" if len(ruleset) == 1 else "rules"
    return f"{ruleset.source}: OK, {len(ruleset)} {noun}" + (f" ({kinds})" if kinds else "")


_FILE = typer.Argument(None, help="The YAML rules file to check.", show_default=False)


@app.command()
def check(
    file: Path | None = _FILE,
    defaults: bool = typer.Option(False, "--defaults", help="Check the built-in default rules instead of FILE."),
) -> None:
    """Validate a rules file: exit 0 with a summary, or exit 2 listing each error with its rule and field."""
    if (file is None) == (not defaults):
        typer.echo("eventlens rules check: give a FILE or --defaults (not both)", err=True)
        raise typer.Exit(2)
    try:
        ruleset = default_rules() if defaults else load_rules(file or "")
    except RulesError as exc:
        for error in exc.errors:
            typer.echo(f"{exc.source}: {error}", err=True)
        typer.echo(f"{exc.source}: {len(exc.errors)} error{'s' if len(exc.errors) != 1 else ''}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(summary(ruleset))
