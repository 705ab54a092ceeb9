"""What a new user sees before any collector has run: every page explains how to start one."""

from __future__ import annotations

from pathlib import Path

import pytest
from eventlens.dashboard.cli import ENTRYPOINT
from streamlit.testing.v1 import AppTest

PAGES = ("overview", "topology", "lineage", "lag", "coupling", "schemas", "export")


@pytest.mark.parametrize("page", PAGES)
def test_every_page_tells_how_to_start_the_collector_when_the_store_file_is_absent(
        page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing SQLite file is not created; the page shows the collector command for that store instead."""
    store = tmp_path / "absent.db"
    monkeypatch.setenv("EVENTLENS_STORE", f"sqlite:///{store}")
    at = AppTest.from_file(str(ENTRYPOINT), default_timeout=60).run()
    at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception
    assert "No eventlens store here yet" in at.info[0].value
    assert any(f"eventlens collector --store sqlite:///{store}" in c.value for c in at.code)
    assert not store.exists()
