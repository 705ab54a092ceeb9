"""The storage contract on SQLite, plus what only the embedded backend promises (other processes read)."""

from __future__ import annotations

import multiprocessing
import sqlite3

import pytest
from storage_contract import StoreContract

from eventlens.collector.storage.protocol import StoreError, open_store
from eventlens.collector.storage.sqlite import SCHEMA_VERSION, SQLiteStore
from eventlens.testing import messaging, process_span, send_span, span_record


@pytest.fixture
def make_store(tmp_path):
    """Open SQLite stores on one file in tmp_path; closes them after the test."""
    opened: list[SQLiteStore] = []

    def _make(**options):
        store = SQLiteStore(tmp_path / "store" / "eventlens.db", **options)
        opened.append(store)
        return store

    yield _make
    for store in opened:
        store.close()


class TestSQLiteStore(StoreContract):
    """The contract suite on SQLite."""


def test_open_store_accepts_sqlite_url_and_plain_path(tmp_path):
    """open_store understands `sqlite:///path` and a bare path."""
    a = open_store(f"sqlite:///{tmp_path}/a.db")
    b = open_store(str(tmp_path / "b.db"))
    assert isinstance(a, SQLiteStore) and isinstance(b, SQLiteStore)
    assert a.path == f"{tmp_path}/a.db"
    a.close()
    b.close()


def test_database_is_in_wal_mode(tmp_path):
    """The file is in WAL mode, so readers in other processes do not block the writer."""
    store = SQLiteStore(tmp_path / "x.db")
    store.write_spans([span_record()])
    with sqlite3.connect(tmp_path / "x.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()


def _read_counts(path: str, stop, out) -> None:
    """Child process: read span counts until told to stop; report every count seen."""
    store = SQLiteStore(path)
    seen = []
    while not stop.is_set():
        seen.append(store.span_count())
        assert len(store.find_spans(limit=5)) <= 5
    seen.append(store.span_count())
    store.close()
    out.put(seen)


def test_other_process_reads_while_this_one_writes(tmp_path):
    """A reader process sees a consistent, growing span count while this process writes batches."""
    path = str(tmp_path / "shared.db")
    writer = SQLiteStore(path)
    ctx = multiprocessing.get_context("spawn")
    stop, out = ctx.Event(), ctx.Queue()
    reader = ctx.Process(target=_read_counts, args=(path, stop, out))
    reader.start()
    for _ in range(40):
        writer.write_spans([span_record() for _ in range(50)])
    stop.set()
    seen = out.get(timeout=120)
    reader.join(timeout=60)
    assert reader.exitcode == 0
    assert seen[-1] == 2000
    assert all(n % 50 == 0 for n in seen)
    assert seen == sorted(seen)
    writer.close()


def test_open_store_reads_synchronous_option(tmp_path):
    """`?synchronous=FULL` in a SQLite URL selects FULL durability."""
    store = open_store(f"sqlite:///{tmp_path}/full.db?synchronous=FULL")
    assert isinstance(store, SQLiteStore)
    assert store._conn().execute("PRAGMA synchronous").fetchone()[0] == 2
    store.close()


def test_open_store_rejects_unknown_option(tmp_path):
    """An unknown SQLite URL option is an error, not silently ignored."""
    with pytest.raises(ValueError, match="bogus"):
        open_store(f"sqlite:///{tmp_path}/x.db?bogus=1")


def test_file_of_another_schema_version_is_refused_with_both_versions(tmp_path):
    """A file written by another eventlens schema raises StoreError naming both versions and the remedy."""
    path = tmp_path / "old.db"
    SQLiteStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError) as err:
        SQLiteStore(path)
    message = str(err.value)
    assert "99" in message and f"version {SCHEMA_VERSION}" in message and "delete the file" in message


def test_unversioned_file_with_other_tables_is_refused(tmp_path):
    """A file holding tables but no eventlens schema version is refused, not silently read as empty."""
    path = tmp_path / "foreign.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE spans (x INTEGER)")
    with pytest.raises(StoreError, match="unversioned"):
        SQLiteStore(path)


def test_new_file_records_schema_version_and_reopens(tmp_path):
    """A new file gets `PRAGMA user_version` set and opens again without complaint, keeping its spans."""
    path = tmp_path / "new.db"
    store = SQLiteStore(path)
    store.write_spans([span_record()])
    store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    again = SQLiteStore(path)
    assert again.span_count() == 1
    again.close()


def _staged_rows(store: SQLiteStore) -> int:
    return int(sqlite3.connect(store.path).execute("SELECT count(*) FROM msg_keys_new").fetchone()[0])


def test_lookup_keys_are_staged_and_found_before_any_merge(make_store):
    """New event-id and key rows wait in `msg_keys_new`; find_spans reads them there."""
    store = make_store()
    span = span_record(messaging=messaging(event_id="ev-staged", key="k-staged"))
    store.write_spans([span])
    assert _staged_rows(store) == 2
    assert store.find_spans(event_id="ev-staged") == [span]
    assert store.find_spans(key="k-staged") == [span]


def test_a_full_stage_is_merged_in_the_writing_transaction(make_store):
    """Reaching `key_stage_rows` moves every staged row into `msg_keys`; finds keep working across the merge."""
    store = make_store()
    store.key_stage_rows = 4
    first = [span_record(messaging=messaging(event_id=f"ev-{i}", key="k-shared")) for i in range(2)]
    store.write_spans(first)
    assert _staged_rows(store) == 0
    later = span_record(messaging=messaging(event_id="ev-late", key="k-shared"))
    store.write_spans([later])
    assert _staged_rows(store) == 2
    assert store.find_spans(event_id="ev-1") == [first[1]]
    assert store.find_spans(key="k-shared") == [later, first[1], first[0]]


def test_retention_drops_staged_lookup_keys_with_their_spans(make_store):
    """Staged rows older than the span retention go with the spans."""
    store = make_store()
    old = span_record(messaging=messaging(event_id="ev-old"))
    store.write_spans([old])
    store.apply_retention(old.start_ns + 10 * 60 * 10**9, spans_max_age_ns=60 * 10**9, rollups_max_age_ns=10**15)
    assert _staged_rows(store) == 0
    assert store.find_spans(event_id="ev-old") == []


def _scalar(store: SQLiteStore, sql: str) -> object:
    return sqlite3.connect(store.path).execute(sql).fetchone()[0]


def test_spans_sharing_attribute_keys_store_the_sequence_once(make_store):
    """Each row keeps its attribute values; the key sequence is one `attr_keys` row per distinct sequence."""
    store = make_store()
    same = [span_record(attributes={"app.step": i, "app.name": f"n{i}"}) for i in range(3)]
    other = span_record(attributes={"app.name": "x"})
    store.write_spans([*same, other])
    assert _scalar(store, "SELECT count(*) FROM attr_keys") == 2
    assert _scalar(store, f"SELECT attributes FROM spans WHERE span_id = '{same[2].span_id}'") == '[2,"n2"]'


def test_attribute_keys_are_read_back_by_a_store_that_did_not_write_them(make_store):
    """A fresh store (another collector or the dashboard) finds the key sequences in the file."""
    span = span_record(attributes={"app.step": 1, "app.tags": ("a", "b")})
    make_store().write_spans([span])
    assert make_store().get_span(span.trace_id, span.span_id) == span


def _keys_in(store: SQLiteStore, table: str) -> int:
    return int(sqlite3.connect(store.path).execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_new_span_keys_are_staged_and_traces_found_before_any_merge(make_store):
    """A span's key waits in `span_ids_new`; trace and span lookups read it there."""
    store = make_store()
    span = span_record()
    store.write_spans([span])
    assert (_keys_in(store, "span_ids_new"), _keys_in(store, "span_ids")) == (1, 0)
    assert store.get_trace(span.trace_id) == [span]
    assert store.get_span(span.trace_id, span.span_id) == span


def test_a_full_id_stage_is_merged_and_lookups_span_both_tables(make_store):
    """Reaching `id_stage_rows` moves the staged keys into `span_ids`; a trace split across both is found whole."""
    store = make_store()
    store.id_stage_rows = 2
    send = send_span()
    store.write_spans([send, span_record()])
    assert (_keys_in(store, "span_ids_new"), _keys_in(store, "span_ids")) == (0, 2)
    consumer = process_span(send, link_only=True, trace_id=send.trace_id)
    store.write_spans([consumer])
    assert _keys_in(store, "span_ids_new") == 1
    assert store.get_trace(send.trace_id) == [send, consumer]
    assert store.spans_linking_to(send.trace_id, send.span_id) == [consumer]


def test_a_retried_span_is_stored_once_whether_its_key_is_staged_or_merged(make_store):
    """Idempotence holds against both key tables, and the retried copy leaves no row behind."""
    store = make_store()
    store.id_stage_rows = 2
    merged, staged = [span_record(), span_record()], span_record()
    store.write_spans(merged)
    store.write_spans([staged])
    assert store.write_spans([*merged, staged, fresh := span_record()]) == 1
    assert int(sqlite3.connect(store.path).execute("SELECT count(*) FROM spans").fetchone()[0]) == 4
    assert store.get_trace(fresh.trace_id) == [fresh]
    assert store.span_count() == 4


def test_retention_drops_span_keys_from_both_tables_with_their_spans(make_store):
    """Expired spans take their keys along, staged or merged; a newer span keeps its key."""
    store = make_store()
    store.id_stage_rows = 2
    merged_old, staged_old = span_record(start_ns=1_000), span_record(start_ns=2_000)
    young = span_record(start_ns=10**15)
    store.write_spans([merged_old, young])
    store.write_spans([staged_old])
    assert (_keys_in(store, "span_ids"), _keys_in(store, "span_ids_new")) == (2, 1)
    store.apply_retention(10**15, spans_max_age_ns=10**9, rollups_max_age_ns=10**16)
    assert (_keys_in(store, "span_ids"), _keys_in(store, "span_ids_new")) == (1, 0)
    assert store.get_trace(young.trace_id) == [young]
    assert store.get_trace(merged_old.trace_id) == store.get_trace(staged_old.trace_id) == []


def test_a_schema_3_file_made_before_the_alerting_tables_opens_and_gets_them(tmp_path):
    """A file of the current schema version without the alerting tables (made before they existed) opens,
    keeps its spans and gains the tables, without a version change."""
    path = tmp_path / "before-alerts.db"
    store = SQLiteStore(path)
    span = span_record()
    store.write_spans([span])
    store.close()
    with sqlite3.connect(path) as conn:
        for table in ("alert_transitions", "alert_states", "notifications", "leases"):
            conn.execute(f"DROP TABLE {table}")
    again = SQLiteStore(path)
    assert again.get_span(span.trace_id, span.span_id) == span
    assert again.try_acquire_lease("evaluator", "a", 0, 10) is True
    assert again.alert_states() == [] and again.due_notifications(0) == []
    again.close()
