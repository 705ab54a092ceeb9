"""The storage contract on PostgreSQL (a fresh database per test on the session's server)."""

from __future__ import annotations

import pytest
from eventlens.collector.storage.api import open_store
from eventlens.collector.storage.postgres import PostgresStore
from storage_contract import StoreContract

from eventlens.testing import producer_consumer_pair

pytestmark = pytest.mark.postgres


@pytest.fixture
def make_store(postgres_dsn):
    """Open PostgreSQL stores on this test's database; closes them after the test."""
    opened: list[PostgresStore] = []

    def _make(**options):
        store = PostgresStore(postgres_dsn, **options)
        opened.append(store)
        return store

    yield _make
    for store in opened:
        store.close()


class TestPostgresStore(StoreContract):
    """The contract suite on PostgreSQL."""


def test_open_store_accepts_postgresql_url(postgres_dsn):
    """open_store returns a PostgresStore for a postgresql:// URL."""
    store = open_store(postgres_dsn)
    assert isinstance(store, PostgresStore)
    store.close()


def test_two_stores_on_one_database_store_a_batch_once(make_store):
    """Two collectors writing the same batch to one database store and count it once."""
    a, b = make_store(), make_store()
    batch = list(producer_consumer_pair(consumer="billing"))
    assert a.write_spans(batch) + b.write_spans(batch) == 2
    assert a.span_count() == 2
    assert sum(r.count for r in b.edge_rollups(0, 2**62) if r.consumer == "billing") == 1
