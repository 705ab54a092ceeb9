"""The same pages on a PostgreSQL store (several collectors writing to one database)."""

from __future__ import annotations

import time

import pytest
from dashboard_seed import ORDERS, XSS, seed
from streamlit.testing.v1 import AppTest

from eventlens.collector.storage.protocol import open_store
from eventlens.dashboard.cli import ENTRYPOINT

pytestmark = pytest.mark.postgres


def test_pages_read_a_postgresql_store(postgres_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Overview, topology, lineage and lag show the seeded flow from PostgreSQL as from SQLite."""
    store = open_store(postgres_dsn)
    try:
        written = seed(store, time.time_ns())
    finally:
        store.close()
    monkeypatch.setenv("EVENTLENS_STORE", postgres_dsn)
    at = AppTest.from_file(str(ENTRYPOINT), default_timeout=60).run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Spans stored"] == f"{written.spans:,}"
    at.switch_page("app_pages/topology.py").run()
    edges = at.dataframe[0].value
    assert edges[(edges["from"] == "orders") & (edges["to"] == "orders")]["messages"].tolist() == [ORDERS]
    at.switch_page("app_pages/lineage.py")
    at.query_params["trace"] = written.trace_ids[0]
    at.run()
    assert at.dataframe[0].value["service"].tolist() == ["orders", "billing", "billing", XSS]
    at.switch_page("app_pages/lag.py").run()
    assert not at.exception
    assert set(at.dataframe[0].value["group"]) == {"billing-g", "shipping-g"}


def test_queries_from_many_threads_share_a_fixed_number_of_connections(postgres_dsn: str) -> None:
    """Streamlit runs every rerun on a new thread; the dashboard's queries still use at most QUERY_THREADS
    database connections, so a live dashboard cannot exhaust PostgreSQL's connection slots."""
    import threading

    import psycopg

    from eventlens.dashboard import data

    open_store(postgres_dsn).close()
    threads = [threading.Thread(target=data._with_store, args=(postgres_dsn, lambda s: s.services()))
               for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    database = postgres_dsn.rsplit("/", 1)[1]
    with psycopg.connect(postgres_dsn) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                           (database,)).fetchone()
    assert row is not None
    assert 1 <= row[0] <= data.QUERY_THREADS
