"""What a new user sees before any collector has run: every page explains how to start one."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from eventlens.dashboard.cli import ENTRYPOINT

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


def test_an_unreachable_database_is_reported_without_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """A store that cannot be read shows an error with the URL, its password masked, and no traceback."""
    monkeypatch.setenv("EVENTLENS_STORE", "postgresql://eventlens:s3cret@127.0.0.1:1/eventlens")
    at = AppTest.from_file(str(ENTRYPOINT), default_timeout=60).run()
    assert not at.exception
    assert at.error[0].value == "The store could not be read."
    shown = [t.value for t in (*at.text, *at.sidebar.text)]
    assert any("postgresql://eventlens:***@127.0.0.1:1/eventlens" in text for text in shown)
    assert not any("s3cret" in text for text in shown)
