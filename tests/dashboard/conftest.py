"""Fixtures for the dashboard tests: a real SQLite store, empty or seeded with the shop flow."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard_seed import Seeded, seed
from eventlens.collector.storage.api import open_store


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
