"""The basic query layer over a real (SQLite) store."""

from __future__ import annotations

import pytest

from eventlens.collector import query
from eventlens.collector.model import LATENCY_BUCKETS_S, NS_PER_S, EdgeRollup
from eventlens.collector.storage.sqlite import SQLiteStore
from eventlens.testing import T0_NS, messaging, producer_consumer_pair, span_record

HOUR = 3600 * NS_PER_S


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore(tmp_path / "q.db")
    yield s
    s.close()


def edge(**kw) -> EdgeRollup:
    fields = {"minute": 0, "producer": "p", "topic": "t", "consumer_group": "g", "consumer": "c", "count": 1,
              "errors": 0, "bytes": 10, "latency_sum_s": 0.5,
              "latency_buckets": tuple([0] * len(LATENCY_BUCKETS_S) + [1])}
    fields.update(kw)
    return EdgeRollup(**fields)


@pytest.mark.parametrize(("text", "ns"), [("15m", 900 * NS_PER_S), ("2h", 2 * HOUR), ("30", 30 * NS_PER_S),
                                          ("500ms", 500_000_000), ("1.5s", 1_500_000_000), ("7d", 168 * HOUR)])
def test_parse_duration_reads_units(text, ns):
    """Durations with ms/s/m/h/d units (bare numbers are seconds) parse to nanoseconds."""
    assert query.parse_duration(text) == ns


def test_parse_duration_rejects_garbage():
    """A malformed duration is a ValueError naming it."""
    with pytest.raises(ValueError, match="15x"):
        query.parse_duration("15x")


def test_trace_accepts_upper_case_id(store):
    """trace() finds a trace given its id in upper case."""
    s = span_record()
    store.write_spans([s])
    assert query.trace(store, s.trace_id.upper()) == [s]


def test_spans_by_event_key_and_record(store):
    """The message lookups return the spans of that event, key and record."""
    send, proc = producer_consumer_pair(offset=5)
    ev = span_record(messaging=messaging(event_id="e1"))
    store.write_spans([send, proc, ev])
    assert query.spans_by_event(store, "e1") == [ev]
    assert {s.span_id for s in query.spans_by_key(store, "k5")} == {send.span_id, proc.span_id}
    assert {s.span_id for s in query.spans_by_record(store, "orders", 0, 5)} == {send.span_id, proc.span_id}
    assert query.consumers_of(store, send.trace_id, send.span_id) == [proc]


def test_edge_rollups_filter_by_consumer(store):
    """edge_rollups(consumer=) keeps only that consumer's edges."""
    store.write_spans(list(producer_consumer_pair(consumer="billing")))
    rows = query.edge_rollups(store, T0_NS - HOUR, T0_NS + HOUR, consumer="billing")
    assert [(r.consumer, r.count) for r in rows] == [("billing", 1)]


def test_merge_edges_sums_minutes_of_one_edge():
    """merge_edges adds counts, bytes, latency and buckets of the same edge across minutes."""
    merged = query.merge_edges([edge(minute=60), edge(minute=0), edge(consumer="other")])
    assert [(e.consumer, e.count, e.bytes, e.minute) for e in merged] == [("c", 2, 20, 0), ("other", 1, 10, 0)]
    assert merged[0].latency_buckets[-1] == 2


def test_mean_latency_of_edge():
    """mean_latency_s divides the latency sum by the messages with a latency."""
    assert query.mean_latency_s(edge(latency_sum_s=3.0, count=3,
                                     latency_buckets=(3,) + (0,) * len(LATENCY_BUCKETS_S))) == 1.0
    assert query.mean_latency_s(edge(latency_buckets=(0,) * (len(LATENCY_BUCKETS_S) + 1))) is None
