"""One of each: the ideas issue #20 folded into one place are defined once across the source tree, in the module
docs/architecture.md names, and the copies stay deleted."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("instrumentation", "collector", "dashboard", "eventlens")


def _definitions() -> dict[str, list[str]]:
    """Every top-level function and class name → the source files (relative paths) that define it."""
    found: dict[str, list[str]] = {}
    for folder in SOURCE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in tree.body:
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    found.setdefault(node.name, []).append(path.relative_to(ROOT).as_posix())
    return found


DEFINITIONS = _definitions()

ONE_PLACE = {
    "quantile": "collector/analysis/histogram.py",
    "EdgeAcc": "collector/edge_acc.py",
    "lineage_graph": "dashboard/graphs.py",
}
"""The one definition of each folded idea (the DOT quoting, defined as `quote`, is checked below)."""

DELETED = ("latency_quantile", "_dot_quote", "_Acc")
"""The copies that disagreed or duplicated: they must not come back."""


@pytest.mark.parametrize(("name", "module"), ONE_PLACE.items())
def test_each_folded_idea_is_defined_once(name: str, module: str) -> None:
    """Exactly one module defines it, the one the architecture page names."""
    assert DEFINITIONS.get(name) == [module]


@pytest.mark.parametrize("name", DELETED)
def test_the_copies_stay_deleted(name: str) -> None:
    """No module defines the old copy again."""
    assert name not in DEFINITIONS


def test_dot_quoting_is_defined_once() -> None:
    """Of the modules that define a `quote`, the DOT one is collector/analysis/dot.py alone."""
    dot_quotes = [m for m in DEFINITIONS.get("quote", []) if "dot" in Path(m).stem]
    assert dot_quotes == ["collector/analysis/dot.py"]
