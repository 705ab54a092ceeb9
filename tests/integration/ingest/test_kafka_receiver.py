"""The Kafka receiver on a real broker: OTLP records from `otlp_spans` → store, offsets committed after it."""

from __future__ import annotations

import os
import time
import uuid

import pytest
from collector_proc import CollectorProcess
from kafka import KafkaAdminClient, KafkaProducer
from otlp_builders import body, span

from eventlens.collector.config import CollectorConfig
from eventlens.collector.service import Collector
from eventlens.collector.storage.protocol import open_store


def wait_until(cond, timeout=120.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"{what} not met in {timeout} s"
        time.sleep(0.1)


def produce(bootstrap: str, topic: str, records: list[bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for value in records:
        producer.send(topic, value)
    producer.flush()
    producer.close()


def committed(bootstrap: str, group: str) -> dict[int, int]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets(group)
    finally:
        admin.close()
    by_group = offsets.get(group, offsets) if isinstance(offsets, dict) else offsets
    return {tp.partition: meta.offset for tp, meta in by_group.items()}


@pytest.mark.kafka
@pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "2-ingest-workers"])
def test_records_are_stored_and_offsets_committed_and_garbage_skipped(kafka_bootstrap, make_topic, tmp_path,
                                                                      workers):
    """Valid OTLP records are stored; malformed and empty ones are skipped and counted; all offsets commit (in
    process, and with the records decoded and stored by ingest workers)."""
    topic = make_topic(partitions=1)
    group = f"g-{uuid.uuid4().hex[:8]}"
    batches = [[span(f"k{i}", trace_id=os.urandom(16)) for _ in range(20)] for i in range(5)]
    records = [body(b) for b in batches[:2]] + [b"\x0a\xff\xff garbage", b""] + [body(b) for b in batches[2:]]
    produce(kafka_bootstrap, topic, records)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    config = CollectorConfig.from_env({}, store=url, http_port=-1, grpc_port=-1, kafka_bootstrap=kafka_bootstrap,
                                      kafka_topic=topic, kafka_group=group, ingest_workers=workers)
    collector = Collector(config).start()
    try:
        wait_until(lambda: collector.store.span_count() == 100, what="100 spans stored")
        wait_until(lambda: committed(kafka_bootstrap, group).get(0) == len(records), what="offsets committed")
        assert collector.metrics.spans_received.labels("kafka")._value.get() == 100
        assert collector.metrics.kafka_records_skipped._value.get() == 2
    finally:
        collector.stop()
    store = open_store(url)
    try:
        assert all(store.get_span(s.trace_id.hex(), s.span_id.hex()) for b in batches for s in b)
    finally:
        store.close()


@pytest.mark.kafka
@pytest.mark.postgres
@pytest.mark.slow
def test_two_collectors_in_one_group_store_every_span_once_through_a_kill(
        kafka_bootstrap, make_topic, postgres_dsn, tmp_path):
    """Two collectors share `otlp_spans`' partitions into one PostgreSQL; one is SIGKILLed mid-way; every span
    ends up stored exactly once."""
    topic = make_topic(partitions=4)
    group = f"g-{uuid.uuid4().hex[:8]}"
    batches = [[span(f"r{i}", trace_id=os.urandom(16)) for _ in range(25)] for i in range(400)]
    expected = {(s.trace_id.hex(), s.span_id.hex()) for b in batches for s in b}
    args = ("--store", postgres_dsn, "--http-port", "-1", "--grpc-port", "-1", "--kafka-bootstrap",
            kafka_bootstrap, "--kafka-topic", topic, "--kafka-group", group, "--batch-spans", "200")
    first = CollectorProcess(*args, log=tmp_path / "c1.log").wait_ready()
    second = CollectorProcess(*args, log=tmp_path / "c2.log").wait_ready()
    store = open_store(postgres_dsn)
    try:
        produce(kafka_bootstrap, topic, [body(b) for b in batches[:200]])
        wait_until(lambda: store.span_count() >= 1000, what="ingest under way")
        first.kill9()  # mid-way: its uncommitted records go to the survivor after the rebalance
        produce(kafka_bootstrap, topic, [body(b) for b in batches[200:]])
        wait_until(lambda: store.span_count() >= len(expected), timeout=300, what="every span stored")
        assert store.span_count() == len(expected)
        stored = {(s.trace_id, s.span_id) for tid in {t for t, _ in expected} for s in store.get_trace(tid)}
        assert stored == expected
    finally:
        store.close()
        second.terminate()
        if first.proc.poll() is None:
            first.kill9()
