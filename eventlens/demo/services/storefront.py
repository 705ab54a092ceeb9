"""storefront: places orders as `order.placed` CloudEvents in binary mode (ce_* headers) on the orders topic.

Traffic follows `TrafficPlan` (a steady rate with bursts); from `schema_switch_s` on it sends version 2, while
the legacy mobile app keeps sending the deprecated version 1 for a share of the orders.
"""

from __future__ import annotations

import logging
import random
import sys
import threading
import time
from collections.abc import Sequence

from opentelemetry import trace

from eventlens.demo.config import ServiceConfig
from eventlens.demo.events import order_placed_v1, order_placed_v2
from eventlens.demo.kafka_io import close_quietly, make_producer
from eventlens.demo.services._base import now_ms, run_service
from eventlens.demo.traffic import TrafficPlan, make_order, make_uuid

NAME = "storefront"
log = logging.getLogger("eventlens.demo")


def body(cfg: ServiceConfig, stop: threading.Event) -> None:
    """Send orders until the duration ends or the service is stopped."""
    plan = TrafficPlan(rate=cfg.rate, burst_every_s=cfg.burst_every_s, burst_s=cfg.burst_s,
                       burst_factor=cfg.burst_factor, schema_switch_s=cfg.schema_switch_s)
    rng = random.Random(cfg.seed)
    tracer = trace.get_tracer("eventlens.demo.storefront")
    producer = make_producer(cfg.bootstrap, NAME)
    started = time.monotonic()
    sent = 0
    try:
        while not stop.is_set():
            elapsed = time.monotonic() - started
            if cfg.duration_s and elapsed >= cfg.duration_s:
                break
            while sent < plan.expected_count(elapsed) and not stop.is_set():
                order = make_order(rng, sent, now_ms())
                version, source = plan.version_for(elapsed, rng)
                build = order_placed_v1 if version == 1 else order_placed_v2
                event = build(order, event_id=make_uuid(rng), source=source)
                with tracer.start_as_current_span("POST /orders", kind=trace.SpanKind.SERVER,
                                                  attributes={"http.request.method": "POST", "http.route": "/orders",
                                                              "shop.order.id": order.order_id}):
                    producer.send(cfg.topics.orders, key=order.order_id.encode(), value=event.value(),
                                  headers=list(event.headers()))
                sent += 1
                if sent % 500 == 0:
                    log.info("%d orders placed", sent)
            stop.wait(0.02)
    finally:
        close_quietly(producer)
        log.info("%d orders placed in total", sent)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the storefront."""
    return run_service(NAME, argv, body)


if __name__ == "__main__":
    sys.exit(main())
