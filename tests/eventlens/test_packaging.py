"""Packaging: the folders map into one `eventlens` namespace, and the wheel carries every module."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"eventlens": "eventlens", "instrumentation": "eventlens/instrumentation",
           "collector": "eventlens/collector", "dashboard": "eventlens/dashboard"}


def _expected_modules() -> set[str]:
    expected = set()
    for folder, target in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            if "__pycache__" in path.parts:
                continue
            expected.add(f"{target}/{path.relative_to(ROOT / folder).as_posix()}")
    return expected


@pytest.mark.slow
def test_wheel_contains_every_module_under_its_namespace_path(tmp_path: Path) -> None:
    """Every .py file of the four folders is in the built wheel at its `eventlens/...` path."""
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    wheel = next(tmp_path.glob("eventlens-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = _expected_modules() - names
    assert not missing, f"modules missing from the wheel: {sorted(missing)}"


def test_wheel_declares_the_instrumentor_entry_point(tmp_path: Path) -> None:
    """The installed distribution registers eventlens' instrumentor for `opentelemetry-instrument`."""
    from importlib.metadata import entry_points

    names = {ep.value for ep in entry_points(group="opentelemetry_instrumentor")}
    assert "eventlens.instrumentation:KafkaInstrumentor" in names
    assert "eventlens.instrumentation.confluent_kafka:ConfluentKafkaInstrumentor" in names


def test_cli_prints_version() -> None:
    """`eventlens --version` prints the package version."""
    from eventlens import __version__

    out = subprocess.run([sys.executable, "-m", "eventlens", "--version"], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == __version__
