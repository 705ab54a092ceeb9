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


def streamlit_command(*, port: int, address: str, python: str = sys.executable, tls_cert: str | None = None,
                      tls_key: str | None = None) -> list[str]:
    """The `streamlit run` command line: headless, no usage statistics, bound to `address:port`, over TLS when
    a certificate and key are given."""
    tls = ["--server.sslCertFile", str(Path(tls_cert).resolve()), "--server.sslKeyFile",
           str(Path(tls_key).resolve())] if tls_cert and tls_key else []
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
        *tls,
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
def dashboard(  # noqa: PLR0917 (Typer maps each parameter to a flag)
    store: str = typer.Option(settings.DEFAULT_STORE, "--store", envvar=settings.STORE_ENV,
                              help="Store URL: sqlite:///path.db or postgresql://…"),
    port: int = typer.Option(8501, "--port", help="HTTP port of the dashboard."),
    address: str = typer.Option("127.0.0.1", "--address", help="Address to bind (0.0.0.0 exposes it)."),
    refresh: float | None = typer.Option(None, "--refresh", min=0,
                                         help=f"Default live-refresh interval in seconds, 0 = off "
                                              f"(default {settings.DEFAULT_REFRESH_S:g})."),
    deprecations: str | None = typer.Option(None, "--deprecations", envvar=settings.DEPRECATIONS_ENV,
                                            help="Deprecations YAML file the Schemas page checks."),
    tls_cert: str | None = typer.Option(None, "--tls-cert", envvar="EVENTLENS_DASHBOARD_TLS_CERT",
                                        help="PEM certificate file: serve the dashboard over HTTPS (with --tls-key)."),
    tls_key: str | None = typer.Option(None, "--tls-key", envvar="EVENTLENS_DASHBOARD_TLS_KEY",
                                       help="PEM private key file of --tls-cert."),
) -> None:
    """Serve the dashboard until interrupted; prints the URL to open."""
    if bool(tls_cert) != bool(tls_key):
        typer.echo("eventlens dashboard: --tls-cert and --tls-key go together", err=True)
        raise typer.Exit(2)
    scheme = "https" if tls_cert else "http"
    typer.echo(f"eventlens dashboard on {scheme}://{address}:{port} (store {settings.redact_url(store)})", err=True)
    command = streamlit_command(port=port, address=address, tls_cert=tls_cert, tls_key=tls_key)
    env = streamlit_env(store=store, refresh=refresh, deprecations=deprecations)
    # Become the Streamlit server (no parent left behind): signals and exit status are Streamlit's own.
    os.execve(command[0], command, env)  # noqa: S606 (our own argument list)
