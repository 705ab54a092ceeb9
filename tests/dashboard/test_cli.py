"""`eventlens dashboard`: the Streamlit command line and environment it builds."""

from __future__ import annotations

from typer.testing import CliRunner

from eventlens.cli import app as root
from eventlens.dashboard import cli, settings


def test_streamlit_command_runs_the_entrypoint_headless_on_the_given_address() -> None:
    """The dashboard runs the shipped entrypoint, headless, without usage statistics, where it is told."""
    command = cli.streamlit_command(port=9999, address="127.0.0.1", python="py")
    assert command[:5] == ["py", "-m", "streamlit", "run", str(cli.ENTRYPOINT)]
    assert cli.ENTRYPOINT.is_file()
    pairs = dict(zip(command[5::2], command[6::2], strict=True))
    assert pairs["--server.port"] == "9999"
    assert pairs["--server.address"] == "127.0.0.1"
    assert pairs["--server.headless"] == "true"
    assert pairs["--browser.gatherUsageStats"] == "false"


def test_streamlit_env_passes_store_and_refresh_and_disables_usage_stats() -> None:
    """The Streamlit process learns the store and refresh default through the environment."""
    env = cli.streamlit_env(store="sqlite:///x.db", refresh=2.5, base={"PATH": "/bin"})
    assert env["EVENTLENS_STORE"] == "sqlite:///x.db"
    assert env["EVENTLENS_DASHBOARD_REFRESH"] == "2.5"
    assert env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] == "false"
    assert env["PATH"] == "/bin"


def test_the_root_command_lists_the_dashboard_verb() -> None:
    """`eventlens dashboard --help` documents the options."""
    result = CliRunner().invoke(root, ["dashboard", "--help"])
    assert result.exit_code == 0
    for option in ("--store", "--port", "--address", "--refresh"):
        assert option in result.output


def test_the_deprecations_file_is_passed_as_an_absolute_path(tmp_path, monkeypatch) -> None:
    """A relative --deprecations path still names the same file once Streamlit runs the pages."""
    monkeypatch.chdir(tmp_path)
    env = cli.streamlit_env(store="sqlite:///x.db", refresh=None, deprecations="deps.yaml", base={})
    assert env["EVENTLENS_DEPRECATIONS"] == str(tmp_path / "deps.yaml")
    assert "EVENTLENS_DASHBOARD_REFRESH" not in env


def test_live_results_may_be_served_for_every_offered_refresh_interval() -> None:
    """The background-refresh window Streamlit is given covers the slowest refresh choice."""
    command = cli.streamlit_command(port=1, address="127.0.0.1", python="py")
    multiplier = float(command[command.index("--runner.cacheBackgroundRefreshTTLMultiplier") + 1])
    assert multiplier * settings.LIVE_TTL_S >= max(settings.REFRESH_CHOICES_S)


def test_a_certificate_and_key_make_streamlit_serve_https(tmp_path) -> None:
    """--tls-cert/--tls-key become Streamlit's server.sslCertFile/sslKeyFile, as absolute paths."""
    command = cli.streamlit_command(port=1, address="127.0.0.1", python="py", tls_cert="c.pem", tls_key="k.pem")
    pairs = dict(zip(command[5::2], command[6::2], strict=True))
    assert pairs["--server.sslCertFile"].endswith("/c.pem") and pairs["--server.sslCertFile"].startswith("/")
    assert pairs["--server.sslKeyFile"].endswith("/k.pem")
    assert "--server.sslCertFile" not in cli.streamlit_command(port=1, address="127.0.0.1", python="py")


def test_a_certificate_without_its_key_is_refused() -> None:
    """Half a TLS configuration stops the command with a message instead of serving plain HTTP."""
    result = CliRunner().invoke(root, ["dashboard", "--tls-cert", "c.pem"])
    assert result.exit_code == 2
    assert "--tls-key" in result.output
