"""The collector's background loops on real parts: retention on SQLite, the lag poller wired to the broker."""

from __future__ import annotations

import time

import pytest

from eventlens.collector.config import CollectorConfig
from eventlens.collector.model import NS_PER_S, SpanKind, SpanRecord
from eventlens.collector.service import Collector, RetentionLoop
from eventlens.collector.storage.protocol import open_store

HOUR = 3600 * NS_PER_S


def record(span_id: int, start_ns: int) -> SpanRecord:
    return SpanRecord("ab" * 16, f"{span_id:016x}", None, "s", SpanKind.INTERNAL, "svc", start_ns, start_ns + 1)


def test_retention_deletes_spans_past_their_age(tmp_path):
    """A retention run removes spans older than the configured hours and keeps recent ones."""
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    now = time.time_ns()
    store.write_spans([record(1, now - 5 * HOUR), record(2, now - HOUR // 2)])
    loop = RetentionLoop(store, CollectorConfig.from_env({}, span_retention_h=1.0))
    assert loop.run_once(now) >= 1
    assert store.get_span("ab" * 16, f"{1:016x}") is None and store.get_span("ab" * 16, f"{2:016x}") is not None
    store.close()


def test_zero_retention_keeps_everything(tmp_path):
    """Retention 0 means keep forever: a run deletes nothing."""
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    now = time.time_ns()
    store.write_spans([record(1, now - 1000 * HOUR)])
    loop = RetentionLoop(store, CollectorConfig.from_env({}, span_retention_h=0.0, rollup_retention_h=0.0))
    assert loop.run_once(now) == 0 and store.span_count() == 1
    store.close()


@pytest.mark.kafka
def test_lag_poller_is_started_when_a_lag_bootstrap_is_given(kafka_bootstrap, tmp_path):
    """With --lag-bootstrap the collector runs the lag part's LagPoller against the broker."""
    from eventlens.collector.lag.poller import LagPoller

    config = CollectorConfig.from_env({}, store=f"sqlite:///{tmp_path / 's.db'}", http_port=-1, grpc_port=-1,
                                      lag_bootstrap=kafka_bootstrap, lag_interval_s=1.0)
    collector = Collector(config).start()
    try:
        assert isinstance(collector.lag, LagPoller)
    finally:
        collector.stop()
