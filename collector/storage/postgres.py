"""The PostgreSQL backend (psycopg 3): several collectors can write to one database.

A batch is COPied into a per-connection temporary table, then moved with `INSERT … ON CONFLICT DO NOTHING
RETURNING`, so only spans actually inserted reach the rollups, even when two collectors race on a retried
batch. Each call commits before it returns (PostgreSQL's own durability settings apply). Each thread uses its
own connection.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

import psycopg

from eventlens.collector import rollup
from eventlens.collector.storage import _rows
from eventlens.collector.storage._dialect import POSTGRES
from eventlens.collector.storage._sql import Cursor, SQLStore, check_schema_version, scalar
from eventlens.collector.storage.protocol import StoreError

SCHEMA_VERSION = 3
_SCHEMA_LOCK = 0x6576656E746C656E  # "eventlen": serialises schema creation between collectors
_COLS = ", ".join(_rows.SPAN_COLUMNS)


class PostgresStore(SQLStore):
    """Store protocol on a PostgreSQL database given by a libpq DSN/URL (tables created if missing)."""

    dialect = POSTGRES

    def __init__(self, dsn: str, *, pending_ttl_ns: int = rollup.DEFAULT_PENDING_TTL_NS,
                 clock: Callable[[], int] = time.time_ns, connect_timeout_s: int = 30) -> None:
        super().__init__(pending_ttl_ns=pending_ttl_ns, clock=clock)
        self.dsn = dsn
        self._connect_timeout_s = connect_timeout_s
        self._local = threading.local()
        self._connections: list[psycopg.Connection[Any]] = []
        self._connections_lock = threading.Lock()
        self._closed = False
        schema = resources.files("eventlens.collector.storage").joinpath("schema_postgres.sql").read_text()
        try:
            self._create_schema(schema)
        except StoreError:
            self.close()
            raise

    def _create_schema(self, schema: str) -> None:
        """Create the tables in a new database, or check an existing one's schema version (row in `meta`)."""
        with self._guard("schema creation"):
            conn = self._conn()
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                if scalar(conn, "SELECT to_regclass('spans') IS NOT NULL"):
                    found = None
                    if scalar(conn, "SELECT to_regclass('meta') IS NOT NULL"):
                        version = scalar(conn, "SELECT value FROM meta WHERE name = 'schema_version'")
                        found = None if version is None else int(version)
                    check_schema_version(found, SCHEMA_VERSION, "PostgreSQL database",
                                         "use a new, empty database (or drop this one's eventlens tables) and "
                                         "let the collector create them")
                conn.execute(schema)
                conn.execute("INSERT INTO meta (name, value) VALUES ('span_count', 0) ON CONFLICT DO NOTHING")
                conn.execute("INSERT INTO meta (name, value) VALUES ('schema_version', %s) ON CONFLICT DO NOTHING",
                             (SCHEMA_VERSION,))

    def _errors(self) -> tuple[type[BaseException], ...]:
        return (psycopg.Error, OverflowError, UnicodeError)

    def _data_errors(self) -> tuple[type[BaseException], ...]:
        # DataError: e.g. a NUL character in text, a number out of a column's range.
        return (OverflowError, UnicodeError, psycopg.DataError)

    def _conn(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is not None and not conn.closed:
            return conn
        if self._closed:
            raise psycopg.InterfaceError("store is closed")
        conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=self._connect_timeout_s)
        self._local.conn = conn
        self._local.temp_ready = False
        with self._connections_lock:
            self._connections.append(conn)
        return conn

    @contextlib.contextmanager
    def _write_cursor(self) -> Iterator[Cursor]:
        conn = self._conn()
        try:
            with conn.transaction(), conn.cursor() as cur:
                yield cur
        except BaseException:
            self._local.temp_ready = False  # a temp table created in the failed transaction is gone
            raise

    @contextlib.contextmanager
    def _read_cursor(self) -> Iterator[Cursor]:
        conn = self._conn()
        with conn.transaction(), conn.cursor() as cur:
            yield cur

    def _insert_span_rows(self, cur: Cursor, rows: list[tuple[object, ...]]) -> set[tuple[str, str]] | None:
        pg_cur: psycopg.Cursor[Any] = cur  # type: ignore[assignment]
        if not getattr(self._local, "temp_ready", False):
            pg_cur.execute("CREATE TEMP TABLE IF NOT EXISTS spans_in (LIKE spans) ON COMMIT DELETE ROWS")
            self._local.temp_ready = True
        with pg_cur.copy(f"COPY spans_in ({_COLS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        pg_cur.execute(f"INSERT INTO spans ({_COLS}) SELECT {_COLS} FROM spans_in "
                       "ON CONFLICT (trace_k, span_k) DO NOTHING RETURNING trace_id, span_id")
        inserted = {(trace_id, span_id) for trace_id, span_id in pg_cur.fetchall()}
        return None if len(inserted) == len(rows) else inserted

    def close(self) -> None:
        """Close every connection this store opened (in any thread)."""
        self._closed = True
        with self._connections_lock:
            for conn in self._connections:
                with contextlib.suppress(psycopg.Error):
                    conn.close()
            self._connections.clear()
        self._local = threading.local()

