"""The interop build helper: clear errors for missing tools, and rebuilds only when inputs change."""

from __future__ import annotations

from pathlib import Path

import pytest

from interop import build


def test_missing_tool_is_named_with_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tool absent from PATH raises InteropBuildError naming it and how to install it."""
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(build.InteropBuildError, match=r"`mvn` is not on PATH.*apt-get install maven"):
        build.require("mvn")


def test_content_hash_changes_with_any_input_byte(tmp_path: Path) -> None:
    """Editing one input file changes the hash; the same contents give the same hash."""
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("one")
    b.write_text("two")
    first = build.content_hash([a, b], tmp_path)
    assert build.content_hash([b, a], tmp_path) == first
    b.write_text("two!")
    assert build.content_hash([a, b], tmp_path) != first


def test_failed_build_reports_the_command_and_its_output(tmp_path: Path) -> None:
    """A failing build command raises with the command line, exit code and output tail."""
    with pytest.raises(build.InteropBuildError, match=r"(?s)exit 3.*boom"):
        build._run(["sh", "-c", "echo boom; exit 3"], tmp_path, timeout_s=30)


def test_unchanged_node_install_is_not_repeated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With a stamp matching package.json + package-lock.json, `npm ci` is not run again."""
    (tmp_path / "package.json").write_text("{}")
    (tmp_path / "package-lock.json").write_text("{}")
    (tmp_path / "node_modules").mkdir()
    monkeypatch.setattr(build, "NODE_DIR", tmp_path)
    calls: list[list[str]] = []
    monkeypatch.setattr(build, "_run", lambda cmd, cwd, timeout_s: calls.append(cmd))
    build.build_node()
    assert len(calls) == 1
    build.build_node()
    assert len(calls) == 1
    (tmp_path / "package-lock.json").write_text('{"changed": true}')
    build.build_node()
    assert len(calls) == 2
