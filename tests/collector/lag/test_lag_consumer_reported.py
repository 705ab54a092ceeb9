"""Consumer-side lag: what instrumented consumers reported on their process spans, read from the real store."""

from __future__ import annotations

from pathlib import Path

from eventlens.collector.lag.query import consumer_reported_lag
from eventlens.collector.model import NS_PER_S, ConsumerLag, Messaging, Operation, SpanKind, SpanRecord
from eventlens.collector.storage.protocol import open_store

NOW = 1_700_000_000 * NS_PER_S


def _span(n: int, start_ns: int, *, operation: Operation = Operation.PROCESS, partition: int | None = 0,
          lag: int | None = 5, seconds: float | None = 1.5, group: str | None = "g") -> SpanRecord:
    messaging = Messaging(system="kafka", operation=operation, topic="orders", partition=partition,
                          consumer_group=group, lag_offsets=lag, lag_seconds=seconds)
    return SpanRecord(f"{n:032x}", f"{n:016x}", None, "process orders", SpanKind.CONSUMER, "billing",
                      start_ns, start_ns + 1000, messaging=messaging)


def test_latest_process_span_per_partition_wins(tmp_path: Path) -> None:
    """Each (group, topic, partition) shows the lag of its newest process span in the window."""
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    try:
        store.write_spans([
            _span(1, NOW - 20 * NS_PER_S, lag=9, seconds=4.0),
            _span(2, NOW - 10 * NS_PER_S, lag=3, seconds=0.5),
            _span(3, NOW - 5 * NS_PER_S, partition=1, lag=0, seconds=0.0, group=None),
        ])
        found = consumer_reported_lag(store, NOW)
    finally:
        store.close()
    assert found == [
        ConsumerLag("", "orders", 1, "billing", 0, 0.0, NOW - 5 * NS_PER_S),
        ConsumerLag("g", "orders", 0, "billing", 3, 0.5, NOW - 10 * NS_PER_S),
    ]


def test_spans_without_lag_or_not_process_or_outside_window_are_ignored(tmp_path: Path) -> None:
    """Send spans, process spans without lag fields and old spans say nothing about consumer lag."""
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    try:
        store.write_spans([
            _span(1, NOW - NS_PER_S, operation=Operation.SEND),
            _span(2, NOW - NS_PER_S, lag=None, seconds=None),
            _span(3, NOW - 3600 * NS_PER_S),
        ])
        assert consumer_reported_lag(store, NOW, window_ns=600 * NS_PER_S) == []
    finally:
        store.close()
