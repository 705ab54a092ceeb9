"""docs/alerts.md stays in step with the code: every rule kind and every built-in rule is described."""

from __future__ import annotations

from pathlib import Path

from eventlens.collector.alerts.rules import RuleKind, default_rules

DOC = (Path(__file__).resolve().parents[3] / "docs" / "alerts.md").read_text()


def test_every_rule_kind_has_a_row():
    assert [k.value for k in RuleKind if f"| `{k.value}` |" not in DOC] == []


def test_every_built_in_rule_is_listed_under_defaults():
    defaults = DOC.split("## Defaults", 1)[1].split("\n## ", 1)[0]
    assert [r.name for r in default_rules() if f"| `{r.name}` |" not in defaults] == []
