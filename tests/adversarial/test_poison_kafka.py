"""A poison pill on the Kafka receiver, with the real broker, on SQLite and PostgreSQL: the good records around
bad ones are all stored, the bad ones are parked in `dead_letters` with their raw bytes, the partition moves on."""

from __future__ import annotations

import os
import time
import urllib.request
import uuid

import pytest
from adversarial_support import Running, start_collector
from kafka import KafkaAdminClient, KafkaProducer
from otlp_builders import body, span

from eventlens.collector.storage.protocol import open_store

GARBAGE = b"\x0a\xff\xff not OTLP at all"


def wait_until(cond, timeout: float = 90.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"{what} not met in {timeout} s"
        time.sleep(0.2)


def committed(bootstrap: str, group: str) -> int | None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets(group)
    except Exception:  # the group does not exist yet
        return None
    finally:
        admin.close()
    by_group = offsets.get(group, offsets) if isinstance(offsets, dict) else offsets
    return next((meta.offset for tp, meta in by_group.items() if tp.partition == 0), None)


@pytest.mark.kafka
def test_bad_records_are_parked_and_the_good_ones_around_them_stored(kafka_bootstrap, make_topic, store_url,
                                                                     tmp_path):
    """[good, garbage, good with a beyond-int64 partition, empty, good]: 3 good records stored (the partition
    field dropped), 2 records parked with their bytes, the committed offset past all 5."""
    topic = make_topic(partitions=1)
    group = f"g-{uuid.uuid4().hex[:8]}"
    goods = [[span(f"send t{i}", 4, {"messaging.system": "kafka", "messaging.destination.name": "t",
                                      "messaging.destination.partition.id": "9" * 20 if i == 1 else "0"},
                   trace_id=os.urandom(16)) for _ in range(10)] for i in range(3)]
    values = [body(goods[0]), GARBAGE, body(goods[1]), b"", body(goods[2])]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for value in values:
        producer.send(topic, value)
    producer.flush()
    producer.close()
    proc = start_collector(store_url, tmp_path, "--kafka-bootstrap", kafka_bootstrap, "--kafka-topic", topic,
                           "--kafka-group", group)
    store = open_store(store_url)
    try:
        running = Running(proc, store)
        last = goods[2][-1]
        wait_until(lambda: store.get_span(last.trace_id.hex(), last.span_id.hex()) is not None, what="good stored")
        wait_until(lambda: committed(kafka_bootstrap, group) == len(values), what="offsets committed")
        assert all(store.get_span(s.trace_id.hex(), s.span_id.hex()) for batch in goods for s in batch)
        assert store.get_span(goods[1][0].trace_id.hex(), goods[1][0].span_id.hex()).messaging.partition is None
        letters = sorted(store.dead_letters(), key=lambda d: d.offset or 0)  # type: ignore[attr-defined]
        assert [(d.topic, d.partition, d.offset, d.payload) for d in letters] == [(topic, 0, 1, GARBAGE),
                                                                                 (topic, 0, 3, b"")]
        assert all(d.source == "kafka" and d.reason for d in letters)
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{running.port}/metrics", timeout=30).read().decode()
        assert 'eventlens_collector_dead_letters_total{receiver="kafka"} 2.0' in metrics
        assert running.good_request_is_stored()
    finally:
        store.close()
        proc.terminate()
