"""One role of a tiny instrumented shop, run as its own process (its own service.name) by the integration test.

    ANALYSIS_TOPICS='{"placed": …, "invoices": …, "dlt": …, "requests": …, "replies": …}' \\
        python analysis_shop_service.py ROLE BOOTSTRAP EVENT_ID

orders: sends OrderPlaced (CloudEvents binary headers). billing: consumes it with the iterator; while handling
it dead-letters a copy (`send_context(dead_letter=True)`) and captures its context for the outbox, then its
relay sends InvoiceIssued inside `restore_context`. audit: consumes OrderPlaced with link-only process spans.
mailer: consumes InvoiceIssued with poll() + processing(). checkout-request / pricing / checkout-reply:
request/reply with `reply-to` and `correlation-id` headers. Spans go over OTLP/HTTP to
OTEL_EXPORTER_OTLP_ENDPOINT.
"""

from __future__ import annotations

import json
import os
import sys
import time

from kafka import KafkaConsumer, KafkaProducer
from opentelemetry import trace

from eventlens.instrumentation import capture_context, instrument, processing, restore_context, send_context


def _ce(event_id: str, event_type: str, source: str) -> list[tuple[str, bytes]]:
    return [("ce_id", event_id.encode()), ("ce_type", event_type.encode()), ("ce_source", source.encode()),
            ("ce_specversion", b"1.0"), ("content-type", b"application/json")]


def _consumer(bootstrap: str, topic: str, group: str) -> KafkaConsumer:
    return KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                         consumer_timeout_ms=60_000, enable_auto_commit=True)


def _first(consumer: KafkaConsumer) -> None:
    """Iterate to the first record (its process span stays current until the consumer is closed)."""
    for _ in consumer:
        return


def _billing(bootstrap: str, topics: dict[str, str], event_id: str, producer: KafkaProducer) -> None:
    consumer = _consumer(bootstrap, topics["placed"], "billing")
    outbox_row: dict[str, str] = {}
    for record in consumer:
        with send_context(dead_letter=True, reason="card declined"):
            producer.send(topics["dlt"], key=record.key, value=record.value, headers=list(record.headers or []))
        outbox_row = capture_context()  # stored with the invoice row in a real outbox table
        break
    consumer.close()
    with restore_context(outbox_row):  # the relay, later, outside the handling
        producer.send(topics["invoices"], key=b"order-1", value=json.dumps({"invoice": 1}).encode(),
                      headers=_ce(event_id + "-invoice", "InvoiceIssued", "/billing"))
    producer.flush()


def _request_reply(role: str, bootstrap: str, topics: dict[str, str], producer: KafkaProducer | None) -> None:
    if role == "checkout-request":
        assert producer is not None
        producer.send(topics["requests"], key=b"quote-1", value=b'{"sku": "a"}',
                      headers=[("reply-to", topics["replies"].encode()), ("correlation-id", b"corr-1")])
        producer.flush()
    elif role == "pricing":
        assert producer is not None
        consumer = _consumer(bootstrap, topics["requests"], "pricing")
        for record in consumer:
            correlation = dict(record.headers or []).get("correlation-id", b"")
            producer.send(topics["replies"], key=record.key, value=b'{"price": 3}',
                          headers=[("correlation-id", correlation)])
            producer.flush()
            break
        consumer.close()
    else:
        consumer = _consumer(bootstrap, topics["replies"], "checkout")
        _first(consumer)
        consumer.close()


def main(role: str, bootstrap: str, event_id: str) -> None:
    """Run one role to completion, then flush its spans."""
    topics: dict[str, str] = json.loads(os.environ["ANALYSIS_TOPICS"])
    service = role.split("-", maxsplit=1)[0]
    instrument(service_name=service, process_parent=role != "audit", capture_payload=True)
    producer = KafkaProducer(bootstrap_servers=bootstrap) if role in (
        "orders", "billing", "checkout-request", "pricing") else None
    if role == "orders":
        assert producer is not None
        producer.send(topics["placed"], key=b"order-1", value=json.dumps({"order": 1, "total": 9.5}).encode(),
                      headers=_ce(event_id, "OrderPlaced", "/orders"))
        producer.flush()
    elif role == "billing":
        assert producer is not None
        _billing(bootstrap, topics, event_id, producer)
    elif role == "audit":
        consumer = _consumer(bootstrap, topics["placed"], "audit")
        _first(consumer)
        consumer.close()
    elif role == "mailer":
        consumer = _consumer(bootstrap, topics["invoices"], "mailer")
        deadline = time.monotonic() + 60
        done = False
        while not done and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000).values():
                for record in records:
                    with processing(record, consumer):
                        done = True
        consumer.close()
    else:
        _request_reply(role, bootstrap, topics, producer)
    if producer is not None:
        producer.close()
    provider = trace.get_tracer_provider()
    provider.shutdown()  # type: ignore[attr-defined]  # flushes the batch span processor


if __name__ == "__main__":
    main(*sys.argv[1:4])
