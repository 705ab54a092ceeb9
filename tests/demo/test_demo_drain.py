"""A drain that times out says what is still behind: each lagging group and the outbox (real broker)."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka import KafkaProducer

from eventlens.demo.runner import drain_status

pytestmark = pytest.mark.kafka


def test_drain_status_names_a_group_that_never_committed_and_its_lag(kafka_bootstrap: str, make_topic,  # type: ignore[no-untyped-def]
                                                                      tmp_path: Path) -> None:
    topic = make_topic(partitions=1)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for _ in range(3):
        producer.send(topic, b"x")
    producer.flush()
    producer.close()
    status = drain_status(kafka_bootstrap, {"idle-group": [topic]}, tmp_path / "no-outbox.db")
    assert status == "idle-group 3 behind"


def test_drain_status_says_nothing_is_behind_when_no_group_lags(kafka_bootstrap: str, make_topic,  # type: ignore[no-untyped-def]
                                                                tmp_path: Path) -> None:
    topic = make_topic(partitions=1)
    assert drain_status(kafka_bootstrap, {"empty-group": [topic]}, tmp_path / "no-outbox.db") == \
        "nothing behind any more"
