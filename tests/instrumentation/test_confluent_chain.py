"""Across clients: a flow from kafka-python through confluent-kafka and back forms one trace."""

from __future__ import annotations

import itertools

import pytest
from confluent_support import consumer, poll_one, produce_sync, producer
from instr_support import consume_each
from kafka import KafkaProducer

pytestmark = pytest.mark.kafka


def test_kafka_python_to_confluent_and_back_is_one_trace(kafka_bootstrap, make_topic, instrument, cinstrument):
    """kafka-python sends, confluent-kafka consumes and produces while handling, kafka-python consumes: one trace."""
    first, second = make_topic(1, "-a"), make_topic(1, "-b")
    instrument()
    otel = cinstrument()
    kp = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    kp.send(first, b"start").get(timeout=60)
    kp.close()
    c = consumer(kafka_bootstrap, first)
    poll_one(c)
    produce_sync(producer(kafka_bootstrap), second, b"next")
    c.close()
    consume_each(kafka_bootstrap, second, 1, lambda _r: None)
    names = [f"send {first}", f"process {first}", f"send {second}", f"process {second}"]
    spans = {name: otel.wait_spans(name, 1)[0] for name in names}
    assert len({s.context.trace_id for s in spans.values()}) == 1
    for parent, child in itertools.pairwise(names):
        assert spans[child].parent is not None and spans[child].parent.span_id == spans[parent].context.span_id
