"""Fixtures for the dashboard tests: a real SQLite store, empty or seeded with the shop flow."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard_browser import CHROMIUM_ARGS, TIMEOUT_MS
from dashboard_seed import Seeded, seed
from playwright.sync_api import Browser, Page, sync_playwright

from eventlens.collector.storage.protocol import open_store


@pytest.fixture
def empty_store_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A created but empty SQLite store, set as the dashboard's store."""
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    open_store(url).close()
    monkeypatch.setenv("EVENTLENS_STORE", url)
    yield url


@pytest.fixture
def seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Seeded]]:
    """A SQLite store holding the shop flow of the last few minutes, set as the dashboard's store."""
    url = f"sqlite:///{tmp_path / 'seeded.db'}"
    store = open_store(url)
    try:
        written = seed(store, time.time_ns())
    finally:
        store.close()
    monkeypatch.setenv("EVENTLENS_STORE", url)
    yield url, written


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright."""
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser, artifacts_dir: Path, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh page that fails the test if anything opens a dialog (alert, confirm, prompt); its final state
    is kept as a screenshot (`dashboard-end-<test>.png`) to explain failures."""
    dialogs: list[str] = []
    tab = browser.new_page(viewport={"width": 1400, "height": 1000})
    tab.set_default_timeout(TIMEOUT_MS)
    tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    yield tab
    tab.screenshot(path=str(artifacts_dir / f"dashboard-end-{request.node.name}.png"), full_page=True)
    tab.close()
    assert dialogs == [], f"a dialog opened: {dialogs}"
