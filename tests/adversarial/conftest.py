"""The adversarial tier: a real collector process, on SQLite and on PostgreSQL, fed what a careless or hostile
sender would send. Fixtures: the backend's store, a running collector per test module (helpers in
adversarial_support.py)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from adversarial_support import Running, start_collector

from eventlens.collector.storage.protocol import open_store


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh store of each backend for the test module."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('store') / 'store.db'}"
        return
    import psycopg

    server: str = request.getfixturevalue("postgres_server")
    name = f"adv_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{server.rpartition('/')[0]}/{name}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def collector(store_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """A collector with the default limits on a fresh store of each backend, shared by a test module."""
    proc = start_collector(store_url, tmp_path_factory.mktemp("collector"))
    store = open_store(store_url)
    try:
        yield Running(proc, store)
    finally:
        store.close()
        proc.terminate()
