"""The four semconv v1.44 messaging metrics, recorded for every message even when traces are unsampled."""

from __future__ import annotations

import pytest
from instr_support import Otel, consume_each, new_consumer, poll_all
from kafka import KafkaProducer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from eventlens.instrumentation import KafkaInstrumentor

pytestmark = pytest.mark.kafka


def _points(otel: Otel, name: str, topic: str) -> list:
    data = otel.reader.get_metrics_data()
    points = []
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == name:
                    points += [p for p in metric.data.data_points
                               if p.attributes.get("messaging.destination.name") == topic]
    return points


def _total(otel: Otel, name: str, topic: str) -> float:
    return sum(getattr(p, "value", None) if hasattr(p, "value") else p.count for p in _points(otel, name, topic))


def test_unsampled_traces_still_count_every_message(kafka_bootstrap, topic_name, otel: Otel, instrument):
    """With traces sampled off, sent/consumed counters and duration histograms still see every message."""
    instrument()
    KafkaInstrumentor().uninstrument()
    KafkaInstrumentor().instrument(tracer_provider=TracerProvider(sampler=ALWAYS_OFF),
                                   meter_provider=otel.meter_provider)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for _ in range(5):
        producer.send(topic_name, b"v")
    producer.flush(timeout=60)
    producer.close()
    consume_each(kafka_bootstrap, topic_name, 5, lambda _r: None)
    assert _total(otel, "messaging.client.sent.messages", topic_name) == 5
    assert _total(otel, "messaging.client.consumed.messages", topic_name) == 5
    assert _total(otel, "messaging.client.operation.duration", topic_name) == 5
    assert _total(otel, "messaging.process.duration", topic_name) == 5


def test_poll_metrics_count_batches(kafka_bootstrap, topic_name, instrumented: Otel):
    """poll() records consumed messages per record and one receive duration per non-empty poll."""
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for _ in range(3):
        producer.send(topic_name, b"v")
    producer.flush(timeout=60)
    producer.close()
    consumer = new_consumer(kafka_bootstrap, topic_name)
    batches = poll_all(consumer, 3)
    consumer.close()
    assert _total(instrumented, "messaging.client.consumed.messages", topic_name) == 3
    polls = [p for p in _points(instrumented, "messaging.client.operation.duration", topic_name)
             if p.attributes.get("messaging.operation.name") == "poll"]
    assert sum(p.count for p in polls) == len(batches)
