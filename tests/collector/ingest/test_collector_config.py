"""Collector configuration: EVENTLENS_* variables, CLI flags over them, one documented list."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eventlens.cli import app as root_app
from eventlens.collector.config import SETTINGS, CollectorConfig, ConfigError

DOCS = Path(__file__).resolve().parents[3] / "docs" / "collector.md"


def test_defaults_bind_loopback_and_use_sqlite():
    """With no variables the collector binds 127.0.0.1 on 4318/4317 and stores in the default SQLite file."""
    c = CollectorConfig.from_env({})
    assert (c.host, c.http_port, c.grpc_port) == ("127.0.0.1", 4318, 4317)
    assert c.store == "sqlite:///.eventlens/eventlens.db" and c.token_value is None


def test_environment_variables_are_read_and_typed():
    """EVENTLENS_* values are parsed to the field's type."""
    c = CollectorConfig.from_env({"EVENTLENS_HTTP_PORT": "9000", "EVENTLENS_LAG_INTERVAL_S": "2.5",
                                  "EVENTLENS_KAFKA_BOOTSTRAP": "b:9092", "EVENTLENS_TOKEN": "x"})
    assert (c.http_port, c.lag_interval_s, c.kafka_bootstrap, c.token_value) == (9000, 2.5, "b:9092", "x")


def test_flags_override_environment():
    """A CLI value (override) wins over the variable; None leaves the variable in force."""
    c = CollectorConfig.from_env({"EVENTLENS_HTTP_PORT": "9000", "EVENTLENS_GRPC_PORT": "9001"},
                                 http_port=9100, grpc_port=None)
    assert (c.http_port, c.grpc_port) == (9100, 9001)


def test_bad_values_name_the_variable():
    """An unparsable value raises ConfigError naming the variable."""
    with pytest.raises(ConfigError, match="EVENTLENS_QUEUE_SPANS"):
        CollectorConfig.from_env({"EVENTLENS_QUEUE_SPANS": "lots"})
    with pytest.raises(ConfigError, match="http_port"):
        CollectorConfig.from_env({"EVENTLENS_HTTP_PORT": "70000"})


def test_every_field_has_one_setting():
    """SETTINGS documents every config field exactly once, with an EVENTLENS_ variable and a flag."""
    fields = [f.name for f in dataclasses.fields(CollectorConfig)]
    assert sorted(s.field for s in SETTINGS) == sorted(fields)
    assert all(s.env.startswith("EVENTLENS_") and s.flag.startswith("--") and s.help for s in SETTINGS)


def test_help_lists_every_flag_and_variable():
    """`eventlens collector --help` names every flag and its variable."""
    result = CliRunner().invoke(root_app, ["collector", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for s in SETTINGS:
        assert s.flag in result.output and s.env in result.output


def test_docs_list_every_variable():
    """docs/collector.md documents every EVENTLENS_* variable."""
    text = DOCS.read_text()
    assert all(s.env in text for s in SETTINGS)


def test_cli_rejects_bad_value_with_exit_2():
    """A bad flag value stops with exit code 2 and a message."""
    result = CliRunner().invoke(root_app, ["collector", "--http-port", "99999"])
    assert result.exit_code == 2
