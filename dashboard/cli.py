"""`eventlens dashboard`: run the Streamlit app on the entrypoint shipped in this package."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer
from eventlens.dashboard import settings

ENTRYPOINT = Path(__file__).resolve().parent / "streamlit_app.py"
"""The Streamlit script (`st.navigation` router) that `streamlit run` executes."""

app = typer.Typer(help="Run the Streamlit dashboard.")


def streamlit_command(*, port: int, address: str, python: str = sys.executable) -> list[str]:
    """The `streamlit run` command line: headless, no usage statistics, bound to `address:port`."""
    return [
        python, "-m", "streamlit", "run", str(ENTRYPOINT),
        "--server.port", str(port),
        "--server.address", address,
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--client.toolbarMode", "viewer",
        "--theme.base", "light",
        "--runner.cacheBackgroundRefreshTTLMultiplier", str(settings.BACKGROUND_REFRESH_MULTIPLIER),
    ]


def streamlit_env(*, store: str, refresh: float | None, deprecations: str | None = None,
                  base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for the Streamlit process: store URL, refresh default, deprecations file, usage stats off."""
    env = dict(os.environ if base is None else base)
    env[settings.STORE_ENV] = store
    if refresh is not None:
        env[settings.REFRESH_ENV] = f"{refresh:g}"
    if deprecations:
        env[settings.DEPRECATIONS_ENV] = str(Path(deprecations).resolve())
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    env["STREAMLIT_SERVER_HEADLESS"] = "true"
    return env


@app.callback(invoke_without_command=True)
def dashboard(
    store: str = typer.Option(settings.DEFAULT_STORE, "--store", envvar=settings.STORE_ENV,
                              help="Store URL: sqlite:///path.db or postgresql://…"),
    port: int = typer.Option(8501, "--port", help="HTTP port of the dashboard."),
    address: str = typer.Option("127.0.0.1", "--address", help="Address to bind (0.0.0.0 exposes it)."),
    refresh: float | None = typer.Option(None, "--refresh", min=0,
                                         help=f"Default live-refresh interval in seconds, 0 = off "
                                              f"(default {settings.DEFAULT_REFRESH_S:g})."),
    deprecations: str | None = typer.Option(None, "--deprecations", envvar=settings.DEPRECATIONS_ENV,
                                            help="Deprecations YAML file the Schemas page checks."),
) -> None:
    """Serve the dashboard until interrupted; prints the URL to open."""
    typer.echo(f"eventlens dashboard on http://{address}:{port} (store {settings.redact_url(store)})", err=True)
    command = streamlit_command(port=port, address=address)
    env = streamlit_env(store=store, refresh=refresh, deprecations=deprecations)
    # Become the Streamlit server (no parent left behind): signals and exit status are Streamlit's own.
    os.execve(command[0], command, env)  # noqa: S606 (our own argument list)
