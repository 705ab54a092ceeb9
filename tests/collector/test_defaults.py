"""The default store is defined once (collector/defaults.py) and every front end reads the same one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from typer.testing import CliRunner

from eventlens.cli import app as root_app
from eventlens.collector.analysis import http as analysis_http
from eventlens.collector.config import SETTINGS, CollectorConfig
from eventlens.collector.defaults import DEFAULT_STORE_URL, STORE_ENV, store_url
from eventlens.dashboard import settings as dashboard_settings


def test_the_default_store_is_one_sqlite_file_under_the_working_directory() -> None:
    """The documented default and variable name."""
    assert (DEFAULT_STORE_URL, STORE_ENV) == ("sqlite:///.eventlens/eventlens.db", "EVENTLENS_STORE")


def test_an_explicit_url_beats_the_variable_which_beats_the_default() -> None:
    """`--store`, then `EVENTLENS_STORE` (trimmed; blank is unset), then the default."""
    assert store_url("sqlite:///a.db", {STORE_ENV: "sqlite:///b.db"}) == "sqlite:///a.db"
    assert store_url(None, {STORE_ENV: " sqlite:///b.db "}) == "sqlite:///b.db"
    assert store_url(None, {STORE_ENV: "  "}) == store_url(None, {}) == DEFAULT_STORE_URL


def test_the_collector_config_uses_the_shared_default_and_variable() -> None:
    """The collector writes where the readers look."""
    assert CollectorConfig.from_env({}).store == DEFAULT_STORE_URL
    assert next(s.env for s in SETTINGS if s.field == "store") == STORE_ENV


def test_the_dashboard_reads_the_shared_default_and_variable() -> None:
    """The dashboard's settings are the same constants."""
    assert dashboard_settings.store_url({}) == DEFAULT_STORE_URL
    assert (dashboard_settings.DEFAULT_STORE, dashboard_settings.STORE_ENV) == (DEFAULT_STORE_URL, STORE_ENV)


def test_the_analysis_api_opens_the_shared_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without app.state.store and EVENTLENS_STORE, the analysis routes open the default URL."""
    opened: list[str] = []
    monkeypatch.delenv(STORE_ENV, raising=False)
    monkeypatch.setattr(analysis_http, "_fallback", {})
    monkeypatch.setattr(analysis_http, "open_store", lambda url: opened.append(url) or object())
    analysis_http._store(Request({"type": "http", "app": Starlette(), "headers": []}))
    assert opened == [DEFAULT_STORE_URL]


def test_the_graph_cli_looks_for_the_shared_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without --store and EVENTLENS_STORE, `eventlens graph` reads the default file (and says it is missing)."""
    monkeypatch.delenv(STORE_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    result: Any = CliRunner().invoke(root_app, ["graph", "coupling"])
    assert result.exit_code == 2
    assert DEFAULT_STORE_URL.removeprefix("sqlite:///") in result.output
