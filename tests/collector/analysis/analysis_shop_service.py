"""One role of a tiny instrumented shop, run as its own process (its own service.name) by the integration test.

    python analysis_shop_service.py ROLE BOOTSTRAP PLACED_TOPIC INVOICE_TOPIC EVENT_ID

orders: sends OrderPlaced (CloudEvents binary headers); billing: consumes it with the iterator and, while
handling it, sends InvoiceIssued; audit: consumes OrderPlaced with link-only process spans; mailer: consumes
InvoiceIssued with poll() + processing(). Spans go over OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT.
"""

from __future__ import annotations

import json
import sys
import time

from eventlens.instrumentation import instrument, processing
from kafka import KafkaConsumer, KafkaProducer
from opentelemetry import trace


def _ce(event_id: str, event_type: str, source: str) -> list[tuple[str, bytes]]:
    return [("ce_id", event_id.encode()), ("ce_type", event_type.encode()), ("ce_source", source.encode()),
            ("ce_specversion", b"1.0"), ("content-type", b"application/json")]


def _consumer(bootstrap: str, topic: str, group: str) -> KafkaConsumer:
    return KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                         consumer_timeout_ms=60_000, enable_auto_commit=True)


def main(role: str, bootstrap: str, placed: str, invoices: str, event_id: str) -> None:
    """Run one role to completion, then flush its spans."""
    instrument(service_name=role, process_parent=role != "audit", capture_payload=True)
    producer = KafkaProducer(bootstrap_servers=bootstrap) if role in ("orders", "billing") else None
    if role == "orders":
        assert producer is not None
        producer.send(placed, key=b"order-1", value=json.dumps({"order": 1, "total": 9.5}).encode(),
                      headers=_ce(event_id, "OrderPlaced", "/orders"))
        producer.flush()
    elif role in ("billing", "audit"):
        consumer = _consumer(bootstrap, placed, role)
        for record in consumer:
            if producer is not None:
                producer.send(invoices, key=record.key, value=json.dumps({"invoice": 1}).encode(),
                              headers=_ce(event_id + "-invoice", "InvoiceIssued", "/billing"))
                producer.flush()
            break
        consumer.close()
    elif role == "mailer":
        consumer = _consumer(bootstrap, invoices, role)
        deadline = time.monotonic() + 60
        done = False
        while not done and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000).values():
                for record in records:
                    with processing(record, consumer):
                        done = True
        consumer.close()
    if producer is not None:
        producer.close()
    provider = trace.get_tracer_provider()
    provider.shutdown()  # type: ignore[attr-defined]  # flushes the batch span processor


if __name__ == "__main__":
    main(*sys.argv[1:6])
