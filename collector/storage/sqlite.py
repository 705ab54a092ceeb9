"""The embedded default backend: one SQLite file in WAL mode, written by the collector, read concurrently.

Durability: each `write_spans` is one transaction committed before the call returns, with
`synchronous=NORMAL` in WAL mode: a committed batch survives a crash or kill -9 of any process; after a power
loss or OS crash the last transactions before it may be rolled back (the database stays consistent). Pass
`synchronous="FULL"` (URL `sqlite:///path?synchronous=FULL`) to survive those too, at some write cost.
Each thread uses its own connection; writes in this process are serialised by a lock, and across processes
by SQLite's write lock (waiting up to `busy_timeout_s`). Readers in other processes never block the writer.
Checkpoints (copying the WAL into the database file, the only step that waits for the disk) run in a
background thread of the writing process, off the write path; the writer checkpoints itself only when the WAL
passes `wal_max_mib`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path

from eventlens.collector import rollup
from eventlens.collector.storage import _rows
from eventlens.collector.storage._dialect import SQLITE
from eventlens.collector.storage._sql import Cursor, SQLStore, check_schema_version, scalar
from eventlens.collector.storage.protocol import StoreError

SCHEMA_VERSION = 3
_INSERT = (f"INSERT INTO spans ({', '.join(_rows.SPAN_COLUMNS)}) "
           f"VALUES ({SQLITE.marks(len(_rows.SPAN_COLUMNS))})")
# The keys of the rows just appended (rowid > ?) that no stored span has: a stored key means a retried span.
_REGISTER = ("INSERT INTO span_ids_new (trace_k, span_k, rid) SELECT trace_k, span_k, rowid FROM spans "
             "WHERE rowid > ? AND NOT EXISTS (SELECT 1 FROM span_ids o WHERE o.trace_k = spans.trace_k "
             "AND o.span_k = spans.span_k) ORDER BY trace_k, span_k ON CONFLICT DO NOTHING")
# Rows appended (rowid > ?) whose keys were already registered for another row: copies of stored spans.
_UNREGISTERED = ("SELECT rowid FROM spans s WHERE rowid > ? AND NOT EXISTS (SELECT 1 FROM span_ids_new n "
                 "WHERE n.trace_k = s.trace_k AND n.span_k = s.span_k AND n.rid = s.rowid)")


class SQLiteStore(SQLStore):
    """Store protocol on one SQLite file (created with its folder if missing)."""

    dialect = SQLITE

    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL", busy_timeout_s: float = 30.0,
                 cache_mib: int = 64, wal_max_mib: int = 256, checkpoint_interval_s: float = 1.0,
                 pending_ttl_ns: int = rollup.DEFAULT_PENDING_TTL_NS,
                 clock: Callable[[], int] = time.time_ns) -> None:
        super().__init__(pending_ttl_ns=pending_ttl_ns, clock=clock)
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._synchronous = synchronous.upper()
        self._busy_timeout_s = busy_timeout_s
        self._cache_mib = cache_mib
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._lock_fd: int | None = None
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._closed = False
        self._wal_max_pages = wal_max_mib * 256
        self._checkpoint_interval_s = checkpoint_interval_s
        self._checkpointer: threading.Thread | None = None
        self._stop = threading.Event()
        try:
            self._create_schema()
        except StoreError:
            self.close()
            raise
        except sqlite3.Error as exc:
            self.close()
            raise StoreError(f"opening {self.path} failed: {exc}") from exc

    def _create_schema(self) -> None:
        """Create the tables in a new file, or check an existing file's schema version (`PRAGMA user_version`)."""
        conn = self._conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = scalar(conn, "PRAGMA user_version")
                tables = scalar(conn, "SELECT count(*) FROM sqlite_master WHERE type = 'table'")
                if tables:
                    check_schema_version(version or _meta_version(conn), SCHEMA_VERSION, f"SQLite file {self.path}",
                                         "delete the file (or point EVENTLENS_STORE at a new one) and let the "
                                         "collector create it anew")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            for statement in _statements(resources.files("eventlens.collector.storage")
                                         .joinpath("schema_sqlite.sql").read_text()):
                conn.execute(statement)
            conn.execute("INSERT INTO meta (name, value) VALUES ('span_count', 0) ON CONFLICT DO NOTHING")
            conn.execute("INSERT INTO meta (name, value) VALUES ('schema_version', ?) ON CONFLICT DO NOTHING",
                         (SCHEMA_VERSION,))
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")

    # Lookup keys are staged too (schema_sqlite.sql): finds also scan the unindexed `msg_keys_new`.
    _key_tables = ("msg_keys", "msg_keys_new")
    key_stage_rows = 65_536
    """Rows in `msg_keys_new` that trigger their merge into `msg_keys` (in the write transaction reaching it)."""

    def _insert_keys(self, cur: Cursor, keys: list[tuple[int, int, int]]) -> None:
        """Append lookup-key rows to `msg_keys_new`, merging the stage once it is full.

        `msg_keys` is keyed by a hash, so each row lands on a random page of a growing B-tree and every
        transaction dirtied about one page per row; appended rows share pages, and a merge of many sorted rows
        writes each page of `msg_keys` it touches once.
        """
        cur.executemany("INSERT INTO msg_keys_new (h, trace_k, minute) VALUES (?, ?, ?)", keys)
        # rowids restart at 1 once it is emptied
        if scalar(cur, "SELECT coalesce(max(rowid), 0) FROM msg_keys_new") >= self.key_stage_rows:
            self._merge_staged_keys(cur)

    def _merge_staged_keys(self, cur: Cursor) -> None:
        """Move the staged lookup keys into `msg_keys`, in key order, keeping each (value, trace)'s first minute."""
        cur.execute("INSERT INTO msg_keys (h, trace_k, minute) SELECT h, trace_k, min(minute) FROM msg_keys_new "
                    "WHERE true GROUP BY h, trace_k ORDER BY h, trace_k ON CONFLICT DO NOTHING")
        cur.execute("DELETE FROM msg_keys_new")

    def _errors(self) -> tuple[type[BaseException], ...]:
        # OverflowError: an integer beyond 64 bits; UnicodeError: a string that is not valid Unicode text.
        return (sqlite3.Error, OverflowError, UnicodeError)

    def _data_errors(self) -> tuple[type[BaseException], ...]:
        return (OverflowError, UnicodeError, sqlite3.DataError)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise sqlite3.ProgrammingError("store is closed")
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None,
                               check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute(f"PRAGMA cache_size=-{self._cache_mib * 1024}")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute(f"PRAGMA wal_autocheckpoint={self._wal_max_pages}")
        conn.execute("PRAGMA journal_size_limit=67108864")
        self._local.conn = conn
        with self._connections_lock:
            self._connections.append(conn)
        return conn

    def _checkpoint_loop(self) -> None:
        """Background thread: passive checkpoints, so writers rarely wait for the disk themselves."""
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None)
        try:
            while not self._stop.wait(self._checkpoint_interval_s):
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()

    @contextlib.contextmanager
    def _write_cursor(self) -> Iterator[Cursor]:
        if self._checkpointer is None and self._checkpoint_interval_s > 0 and self.path != ":memory:":
            self._checkpointer = threading.Thread(target=self._checkpoint_loop, name="eventlens-sqlite-checkpoint",
                                                  daemon=True)
            self._checkpointer.start()
        conn = self._conn()
        with self._write_lock, self._process_lock():
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn.cursor()
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise

    @contextlib.contextmanager
    def _process_lock(self) -> Iterator[None]:
        """Writer processes on one file (collector ingest workers) queue on a lock file beside it: the kernel
        wakes the next writer when the lock is free, where SQLite's own busy handler would sleep and retry."""
        if self.path == ":memory:":
            yield
            return
        if self._lock_fd is None:
            self._lock_fd = os.open(self.path + "-writelock", os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def _read_cursor(self) -> Iterator[Cursor]:
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield conn.cursor()
        finally:
            conn.execute("COMMIT")

    id_stage_rows = 65_536
    """Keys in `span_ids_new` that trigger their merge into `span_ids` (in the write transaction reaching it)."""

    def _insert_span_rows(self, cur: Cursor, rows: list[tuple[object, ...]]) -> set[tuple[str, str]] | None:
        """Append the rows, then register their keys in `span_ids_new` unless stored before (then the copy goes).

        `spans` has no unique index (see schema_sqlite.sql): the appended rows get rowids above the largest one,
        and their keys are checked against `span_ids` and registered in the small `span_ids_new` in one statement.
        """
        before = scalar(cur, "SELECT coalesce(max(rowid), 0) FROM spans")
        cur.executemany(_INSERT, rows)
        cur.execute(_REGISTER, (before,))
        registered = cur.rowcount
        inserted: set[tuple[str, str]] | None = None
        if registered != len(rows):
            cur.execute(_UNREGISTERED, (before,))
            cur.executemany("DELETE FROM spans WHERE rowid = ?", cur.fetchall())
            cur.execute("SELECT trace_id, span_id FROM spans WHERE rowid > ?", (before,))
            inserted = {(trace_id, span_id) for trace_id, span_id in cur.fetchall()}
        if registered and scalar(cur, "SELECT count(*) FROM span_ids_new") >= self.id_stage_rows:
            self._merge_staged_ids(cur)
        return inserted

    def _merge_staged_ids(self, cur: Cursor) -> None:
        """Move the staged span keys into `span_ids` (read in key order: each page of it is written once)."""
        cur.execute("INSERT INTO span_ids (trace_k, span_k, rid) SELECT trace_k, span_k, rid FROM span_ids_new "
                    "WHERE true ON CONFLICT DO NOTHING")
        cur.execute("DELETE FROM span_ids_new")

    def _by_keys(self, cond: str) -> str:
        """Rows named by the span-key tables (merged and staged, through the `span_keys` view)."""
        return f"rowid IN (SELECT rid FROM span_keys WHERE {cond})"

    def _delete_spans_before(self, cur: Cursor, cut_ns: int) -> int:
        """Delete the expired spans of one chunk together with their keys (in whichever key table they are)."""
        cur.execute("SELECT rowid, trace_k, span_k FROM spans WHERE start_ns < ? LIMIT ?",
                    (cut_ns, self.retention_chunk))
        doomed = cur.fetchall()
        keys = [(tk, sk) for _, tk, sk in doomed]
        for table in ("span_ids", "span_ids_new"):
            cur.executemany(f"DELETE FROM {table} WHERE trace_k = ? AND span_k = ?", keys)
        cur.executemany("DELETE FROM spans WHERE rowid = ?", [(rid,) for rid, _, _ in doomed])
        return len(doomed)

    def close(self) -> None:
        """Stop the checkpointer and close every connection this store opened (in any thread)."""
        self._closed = True
        self._stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join(timeout=30)
        with self._connections_lock:
            for conn in self._connections:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._connections.clear()
        self._local = threading.local()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def _meta_version(conn: sqlite3.Connection) -> int | None:
    """The schema version a file written before `user_version` was set keeps in `meta` (None if absent)."""
    try:
        version = scalar(conn, "SELECT value FROM meta WHERE name = 'schema_version'")
    except sqlite3.OperationalError:  # no meta table: older than schema versions
        return None
    return None if version is None else int(version)


def _statements(script: str) -> list[str]:
    """Split a schema script (no semicolons inside statements) into statements, comments dropped."""
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
