"""A tiny instrumented shop run as separate processes by the dashboard's end-to-end test.

    python e2e_shop.py orders|billing|shipping BOOTSTRAP ORDERS_TOPIC PAYMENTS_TOPIC COUNT

`orders` sends COUNT OrderPlaced CloudEvents; `billing` (group billing-g) consumes them and sends a
PaymentCaptured for each while processing; `shipping`, whose service name is an XSS probe (group shipping-g),
consumes the payments. Spans go over OTLP/HTTP to the collector named by OTEL_EXPORTER_OTLP_ENDPOINT.
"""

from __future__ import annotations

import json
import sys

from kafka import KafkaConsumer, KafkaProducer
from opentelemetry import trace

import eventlens.instrumentation

SERVICE = {"orders": "orders", "billing": "billing", "shipping": "<img src=x onerror=alert(1)>"}


def cloudevent(event_type: str, event_id: str) -> list[tuple[str, bytes]]:
    """Binary-mode CloudEvents headers."""
    return [("ce_specversion", b"1.0"), ("ce_id", event_id.encode()), ("ce_type", event_type.encode()),
            ("ce_source", b"/e2e-shop"), ("content-type", b"application/json")]


def main(role: str, bootstrap: str, orders: str, payments: str, count: int) -> None:
    eventlens.instrumentation.instrument(service_name=SERVICE[role])
    if role == "orders":
        producer = KafkaProducer(bootstrap_servers=bootstrap)
        for i in range(count):
            producer.send(orders, json.dumps({"order": i, "total": 10 + i}).encode(), key=f"order-{i}".encode(),
                          headers=cloudevent("OrderPlaced", f"evt-order-{i}"))
        producer.flush()
        producer.close()
    else:
        consumer = KafkaConsumer(orders if role == "billing" else payments, bootstrap_servers=bootstrap,
                                 group_id=f"{role}-g", auto_offset_reset="earliest", enable_auto_commit=False,
                                 consumer_timeout_ms=120_000)
        producer = KafkaProducer(bootstrap_servers=bootstrap) if role == "billing" else None
        for seen, record in enumerate(consumer, start=1):
            if producer is not None:
                order = json.loads(record.value)["order"]
                producer.send(payments, json.dumps({"order": order, "paid": True}).encode(), key=record.key,
                              headers=cloudevent("PaymentCaptured", f"evt-pay-{order}"))
            if seen >= count:
                break
        if producer is not None:
            producer.flush()
            producer.close()
        consumer.commit()
        consumer.close()
    provider = trace.get_tracer_provider()
    provider.shutdown()  # type: ignore[attr-defined]  # flushes every span to the collector


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
