"""The SQL each backend's Dialect writes, and that its database runs it with the meaning the shared SQL expects."""

from __future__ import annotations

import dataclasses
import sqlite3

import psycopg
import pytest

from eventlens.collector.storage._dialect import POSTGRES, SQLITE, Dialect
from eventlens.collector.storage.postgres import PostgresStore
from eventlens.collector.storage.sqlite import SQLiteStore


def test_each_backend_builds_its_sql_from_its_own_dialect():
    assert SQLiteStore.dialect is SQLITE
    assert PostgresStore.dialect is POSTGRES


def test_a_dialect_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SQLITE.placeholder = "%s"  # type: ignore[misc]


@pytest.mark.parametrize(("dialect", "expected"), [(SQLITE, "?, ?, ?"), (POSTGRES, "%s, %s, %s")])
def test_marks_are_the_drivers_placeholders(dialect: Dialect, expected: str):
    assert dialect.marks(3) == expected


@pytest.mark.parametrize("dialect", [SQLITE, POSTGRES])
def test_one_mark_is_the_placeholder(dialect: Dialect):
    assert dialect.marks(1) == dialect.placeholder


@pytest.mark.parametrize(("dialect", "least", "greatest"), [
    (SQLITE, "min(a.x, excluded.x)", "max(a.x, excluded.x)"),
    (POSTGRES, "LEAST(a.x, excluded.x)", "GREATEST(a.x, excluded.x)"),
])
def test_two_argument_minimum_and_maximum(dialect: Dialect, least: str, greatest: str):
    assert dialect.least("a.x", "excluded.x") == least
    assert dialect.greatest("a.x", "excluded.x") == greatest


@pytest.mark.parametrize(("dialect", "expected"), [(SQLITE, "+start_ns"), (POSTGRES, "start_ns")])
def test_unindexed_column(dialect: Dialect, expected: str):
    assert dialect.unindexed("start_ns") == expected


@pytest.mark.parametrize(("dialect", "expected"), [(SQLITE, " INDEXED BY spans_start"), (POSTGRES, "")])
def test_index_hint(dialect: Dialect, expected: str):
    assert dialect.indexed_by("spans_start") == expected


@pytest.mark.parametrize(("dialect", "address", "serial"), [(SQLITE, "rowid", "rowid"), (POSTGRES, "ctid", "id")])
def test_row_address_and_serial_key(dialect: Dialect, address: str, serial: str):
    assert (dialect.row_address, dialect.serial_key) == (address, serial)


def _sqlite_value(sql: str, params: tuple[object, ...] = ()) -> object:
    with sqlite3.connect(":memory:") as conn:
        return conn.execute(sql, params).fetchone()[0]


def test_sqlite_runs_its_dialects_sql_with_the_expected_meaning():
    """Scalar min/max of two values, a bound parameter, and `+column` keeping the column's value."""
    d = SQLITE
    assert _sqlite_value(f"SELECT {d.least(d.placeholder, d.placeholder)}", (7, 3)) == 3
    assert _sqlite_value(f"SELECT {d.greatest(d.placeholder, d.placeholder)}", (7, 3)) == 7
    assert _sqlite_value(f"SELECT {d.unindexed('x')} FROM (SELECT 5 AS x)") == 5


def test_sqlite_accepts_the_index_hint_on_the_spans_table(tmp_path):
    store = SQLiteStore(tmp_path / "hint.db")
    try:
        count = store._conn().execute(f"SELECT count(*) FROM spans{SQLITE.indexed_by('spans_start')}").fetchone()
        assert count == (0,)
    finally:
        store.close()


@pytest.mark.postgres
def test_postgresql_runs_its_dialects_sql_with_the_expected_meaning(postgres_server):
    d = POSTGRES
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        row = conn.execute(f"SELECT {d.least(d.placeholder, d.placeholder)}, "
                           f"{d.greatest(d.placeholder, d.placeholder)}, {d.unindexed('x')} "
                           f"FROM (SELECT 5 AS x) t{d.indexed_by('t_x')}", (7, 3, 7, 3)).fetchone()
    assert row == (3, 7, 5)
