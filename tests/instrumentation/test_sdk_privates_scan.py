"""Only `instrumentation/_sdk_compat.py` names OpenTelemetry privates: an AST scan of every other module.

Flagged outside `_sdk_compat.py`: an import from an `opentelemetry` module whose path has a private part
(`._internal`, `._shared_internal`, ...), an import of a `_`-named object from any `opentelemetry` module, and
any `obj._name` attribute access on something other than `self`/`cls`. Allowed, each for a stated reason:
`opentelemetry.semconv._incubating` (the semantic conventions' published namespace for incubating names),
the named-tuple API (`_replace`, ...), and `BaseInstrumentor`'s `_instrument`/`_uninstrument` in `_coexist.py`
(the template methods every instrumentor overrides, which the coexistence guard wraps).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

INSTRUMENTATION = Path(__file__).resolve().parents[2] / "instrumentation"
ALLOWED_MODULES = ("opentelemetry.semconv._incubating",)
NAMEDTUPLE_API = {"_replace", "_asdict", "_fields", "_make", "_field_defaults"}
ALLOWED_ATTRIBUTES = {("_coexist.py", "_instrument"), ("_coexist.py", "_uninstrument")}


def _private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def violations(path: Path) -> list[str]:
    """Every OpenTelemetry private `path` names (as `line: what`)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "opentelemetry":
            if node.module.startswith(ALLOWED_MODULES):
                continue
            if any(_private(part) for part in node.module.split(".")):
                found.append(f"{node.lineno}: from {node.module} import ...")
            found.extend(f"{node.lineno}: from {node.module} import {alias.name}"
                         for alias in node.names if _private(alias.name))
        elif isinstance(node, ast.Import):
            found.extend(f"{node.lineno}: import {alias.name}" for alias in node.names
                         if alias.name.startswith("opentelemetry") and not alias.name.startswith(ALLOWED_MODULES)
                         and any(_private(part) for part in alias.name.split(".")))
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            base = node.value
            if isinstance(base, ast.Name) and base.id in {"self", "cls"}:
                continue
            if node.attr in NAMEDTUPLE_API or (path.name, node.attr) in ALLOWED_ATTRIBUTES:
                continue
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


MODULES = sorted(p for p in INSTRUMENTATION.rglob("*.py") if p.name != "_sdk_compat.py")


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(INSTRUMENTATION)) for p in MODULES])
def test_no_module_but_sdk_compat_names_an_opentelemetry_private(path: Path) -> None:
    """Every private OpenTelemetry internal is reached through `_sdk_compat` (probed once, with a fallback)."""
    assert violations(path) == []


def test_the_scan_finds_each_kind_of_private(tmp_path: Path) -> None:
    """The scan flags a private module import, a private name import and a private attribute."""
    sample = tmp_path / "sample.py"
    sample.write_text("from opentelemetry.sdk.metrics._internal.instrument import Histogram\n"
                      "from opentelemetry.sdk.trace import _is_valid_link\n"
                      "def f(span):\n    return span._attributes\n")
    assert [v.split(":")[0] for v in violations(sample)] == ["1", "2", "4"]
