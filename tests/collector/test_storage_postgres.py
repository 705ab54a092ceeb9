"""The storage contract on PostgreSQL (a fresh database per test on the session's server)."""

from __future__ import annotations

import psycopg
import pytest
from storage_contract import StoreContract

from eventlens.collector.storage.postgres import SCHEMA_VERSION, PostgresStore
from eventlens.collector.storage.protocol import StoreError, open_store
from eventlens.testing import producer_consumer_pair, span_record

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


def test_database_of_another_schema_version_is_refused_with_both_versions(postgres_dsn):
    """A database written by another eventlens schema raises StoreError naming both versions and the remedy."""
    PostgresStore(postgres_dsn).close()
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("UPDATE meta SET value = 99 WHERE name = 'schema_version'")
    with pytest.raises(StoreError) as err:
        PostgresStore(postgres_dsn)
    message = str(err.value)
    assert "99" in message and f"version {SCHEMA_VERSION}" in message and "new, empty database" in message


def test_new_database_records_schema_version_and_reopens(postgres_dsn):
    """A new database gets its schema version row and opens again without complaint."""
    PostgresStore(postgres_dsn).close()
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        row = conn.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
    assert row is not None and row[0] == SCHEMA_VERSION
    PostgresStore(postgres_dsn).close()


def test_a_schema_3_database_made_before_the_alerting_tables_opens_and_gets_them(postgres_dsn):
    """A database of the current schema version without the alerting tables (made before they existed) opens,
    keeps its spans and gains the tables, without a version change."""
    store = PostgresStore(postgres_dsn)
    span = span_record()
    store.write_spans([span])
    store.close()
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE alert_transitions, alert_states, notifications, leases")
    again = PostgresStore(postgres_dsn)
    assert again.get_span(span.trace_id, span.span_id) == span
    assert again.try_acquire_lease("evaluator", "a", 0, 10) is True
    assert again.alert_states() == [] and again.due_notifications(0) == []
    again.close()
