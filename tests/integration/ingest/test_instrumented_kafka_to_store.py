"""Across parts: eventlens-instrumented kafka-python → OTLP/HTTP exporter → collector → store, normalised."""

from __future__ import annotations

import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from eventlens.collector.config import CollectorConfig
from eventlens.collector.model import Operation
from eventlens.collector.service import Collector
from eventlens.collector.storage.protocol import open_store
from eventlens.instrumentation import KafkaInstrumentor


@pytest.mark.kafka
def test_eventlens_send_and_process_spans_arrive_normalised(kafka_bootstrap, make_topic, tmp_path):
    """The send and process spans of one record are stored with topic, partition, offset, key, group and the
    process span parented on the send span."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    collector = Collector(CollectorConfig.from_env({}, store=url, http_port=0, grpc_port=-1)).start()
    provider = TracerProvider(resource=Resource.create({"service.name": "orders-svc"}))
    provider.add_span_processor(SimpleSpanProcessor(
        OTLPSpanExporter(endpoint=f"http://127.0.0.1:{collector.http_port}/v1/traces")))
    instrumentor = KafkaInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    topic, group = make_topic(1), f"g-{uuid.uuid4().hex[:6]}"
    try:
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
        meta = producer.send(topic, b'{"id": 1}', key=b"order-1").get(timeout=60)
        producer.close()
        consumer = KafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, group_id=group,
                                 auto_offset_reset="earliest", consumer_timeout_ms=30_000)
        for _record in consumer:
            break
        consumer.close()
        provider.force_flush(30_000)
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
        collector.stop()
    store = open_store(url)
    try:
        spans = {s.name: s for s in store.find_spans(topic=topic)}
    finally:
        store.close()
    send, process = spans[f"send {topic}"], spans[f"process {topic}"]
    assert (send.messaging.operation, send.messaging.partition, send.messaging.offset, send.messaging.key) == (
        Operation.SEND, meta.partition, meta.offset, "order-1")
    assert (process.messaging.operation, process.messaging.consumer_group, process.messaging.offset) == (
        Operation.PROCESS, group, meta.offset)
    assert process.parent_span_id == send.span_id and process.trace_id == send.trace_id
    assert send.service == process.service == "orders-svc"
