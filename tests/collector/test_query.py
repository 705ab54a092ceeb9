"""The trace and service lookups of the HTTP API over a real (SQLite) store."""

from __future__ import annotations

import pytest

from eventlens.collector import query
from eventlens.collector.storage.sqlite import SQLiteStore
from eventlens.testing import messaging, producer_consumer_pair, span_record


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore(tmp_path / "q.db")
    yield s
    s.close()


def test_trace_accepts_upper_case_id(store):
    """trace_page() finds a trace given its id in upper case."""
    s = span_record()
    store.write_spans([s])
    assert query.trace_page(store, s.trace_id.upper()).spans == [s]


def test_services_lists_each_service_once_sorted(store):
    """services() names every service seen, once, in order."""
    store.write_spans([span_record(service="b"), span_record(service="a"), span_record(service="b")])
    assert query.services(store) == ["a", "b"]


def test_spans_by_event_key_and_record(store):
    """The store's message lookups (by event id, key, record; consumers of a send) return those spans."""
    send, proc = producer_consumer_pair(offset=5)
    ev = span_record(messaging=messaging(event_id="e1"))
    store.write_spans([send, proc, ev])
    assert store.find_spans(event_id="e1") == [ev]
    assert {s.span_id for s in store.find_spans(key="k5")} == {send.span_id, proc.span_id}
    assert {s.span_id for s in store.find_spans(topic="orders", partition=0, offset=5)} == {send.span_id,
                                                                                             proc.span_id}
    assert store.spans_linking_to(send.trace_id, send.span_id) == [proc]
