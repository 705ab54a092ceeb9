"""`eventlens rules check`: exit 0 with a summary for a valid file, exit 2 with each error for an invalid one."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from eventlens.cli import app

RUNNER = CliRunner()


def write(tmp_path: Path, rules: list[dict]) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"rules": rules}))
    return path


def test_a_valid_file_exits_0_with_a_summary_of_its_kinds(tmp_path: Path):
    path = write(tmp_path, [{"name": "a", "kind": "lag_status"}, {"name": "b", "kind": "lag_status"},
                            {"name": "c", "kind": "edge_partial"}])
    result = RUNNER.invoke(app, ["rules", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{path}: OK, 3 rules (lag_status 2, edge_partial 1)"


def test_an_invalid_file_exits_2_listing_each_error_with_rule_and_field(tmp_path: Path):
    path = write(tmp_path, [{"name": "behind", "kind": "lag_seconds", "params": {"above": "5x"}},
                            {"name": "slow", "kind": "edge_latency", "params": {"quantile": "p50", "above": "1s"}}])
    result = RUNNER.invoke(app, ["rules", "check", str(path)])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{path}: rules[1] 'slow': params.quantile: 'p50' is not one of")
    assert lines[-1] == f"{path}: 1 error"


def test_duration_errors_surface_once_the_schema_passes(tmp_path: Path):
    path = write(tmp_path, [{"name": "behind", "kind": "lag_seconds", "params": {"above": "5x"}, "for": "later"}])
    result = RUNNER.invoke(app, ["rules", "check", str(path)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{path}: rules[0] 'behind': params.above='5x' is not a duration like 500ms, 30s, 15m, 2h, 7d "
        "(a bare number is seconds)",
        f"{path}: rules[0] 'behind': for='later' is not a duration like 500ms, 30s, 15m, 2h, 7d "
        "(a bare number is seconds)",
        f"{path}: 2 errors",
    ]


def test_a_missing_file_exits_2_saying_it_cannot_be_read(tmp_path: Path):
    result = RUNNER.invoke(app, ["rules", "check", str(tmp_path / "absent.yaml")])
    assert result.exit_code == 2
    assert "cannot read" in result.stderr


def test_the_built_in_defaults_check_clean():
    result = RUNNER.invoke(app, ["rules", "check", "--defaults"])
    assert result.exit_code == 0
    assert result.stdout.startswith("defaults.yaml: OK, ")


def test_neither_file_nor_defaults_is_a_usage_error():
    result = RUNNER.invoke(app, ["rules", "check"])
    assert result.exit_code == 2
    assert "give a FILE or --defaults" in result.stderr
