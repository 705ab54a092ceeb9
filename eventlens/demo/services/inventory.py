"""inventory: reserves stock for each order and asks shipping to schedule a pickup.

Per order it publishes a thin notification (`inventory.reserved`: ids only) and, per product touched, a fat
state-transfer event (`inventory.stock-level`: the whole stock item). The pickup is an asynchronous command
with request/reply: `reply-to` names its replies topic, `correlation-id` matches the reply to the request.
"""

from __future__ import annotations

import hashlib
import logging
import random
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from eventlens.demo.config import ServiceConfig
from eventlens.demo.correlation import PendingRequests
from eventlens.demo.events import (
    StockItem,
    header,
    inventory_reserved,
    parse_order,
    read_event,
    schedule_pickup,
    stock_level,
)
from eventlens.demo.kafka_io import close_quietly, consume_loop, make_consumer, make_producer
from eventlens.demo.services._base import now_ms, run_service
from eventlens.demo.traffic import CATALOG

NAME = "inventory"
WAREHOUSES = ("AMS-1", "BER-2", "MAD-1")
RESTOCK_BELOW = 20
log = logging.getLogger("eventlens.demo")


def initial_stock(seed: int) -> dict[str, StockItem]:
    """The catalog's stock items with seeded levels and long descriptions (what makes stock events fat)."""
    rng = random.Random(seed)
    items = {}
    for sku, name, price in CATALOG:
        words = " ".join(rng.choice(["durable", "hand-made", "fair-trade", "compact", "classic", "award-winning",
                                     "dishwasher-safe", "organic", "precise", "elegant"]) for _ in range(120))
        items[sku] = StockItem(
            sku=sku, name=name, description=f"{name}: {words}.", unit_price_cents=price,
            warehouses={w: rng.randint(200, 800) for w in WAREHOUSES}, reserved=0,
            attributes={"origin": rng.choice(["NL", "DE", "JP", "ET", "CO"]), "weight_g": str(rng.randint(80, 2500)),
                        "color": rng.choice(["black", "white", "sand", "green"]), "hazmat": "no"},
        )
    return items


def reserve(item: StockItem, quantity: int, warehouse: str) -> StockItem:
    """Take `quantity` from a warehouse (restocking it when it runs low) and count it as reserved."""
    level = item.warehouses[warehouse] - quantity
    if level < RESTOCK_BELOW:
        level += 500
    return replace(item, warehouses={**item.warehouses, warehouse: level}, reserved=item.reserved + quantity)


def warehouse_for(order_id: str) -> str:
    """The warehouse that serves an order (stable per order id)."""
    return WAREHOUSES[int(hashlib.sha256(order_id.encode()).hexdigest(), 16) % len(WAREHOUSES)]


def body(cfg: ServiceConfig, stop: threading.Event) -> None:
    """Handle orders and pickup replies until stopped."""
    topics = cfg.topics
    stock = initial_stock(cfg.seed)
    pending = PendingRequests(timeout_s=60.0)
    producer = make_producer(cfg.bootstrap, NAME)
    consumer = make_consumer(cfg.bootstrap, topics.group(NAME), topics.subscriptions()[NAME], NAME)
    answered = 0

    def handle(record: Any) -> None:
        nonlocal answered
        if record.topic == topics.inventory_replies:
            cid = header(record.headers, "correlation-id")
            outcome = pending.answered(cid, time.monotonic()) if cid else None
            if outcome is None:
                log.info("reply with unknown correlation id %s (late or duplicate)", cid)
            else:
                answered += 1
            return
        order = parse_order(read_event(record.headers, record.value))
        warehouse = warehouse_for(order.order_id)
        at = now_ms()
        for line in order.lines:
            if line.sku in stock:
                stock[line.sku] = reserve(stock[line.sku], line.quantity, warehouse)
                fat = stock_level(stock[line.sku], event_id=f"{order.order_id}-{line.sku}", now_ms=at)
                producer.send(topics.stock, key=line.sku.encode(), value=fat.value(), headers=list(fat.headers()))
        thin = inventory_reserved(order.order_id, f"res-{order.order_id}", event_id=f"{order.order_id}-res", now_ms=at)
        producer.send(topics.inventory, key=order.order_id.encode(), value=thin.value(), headers=list(thin.headers()))
        correlation_id = f"cid-{order.order_id}"
        command = schedule_pickup(order.order_id, warehouse, parcels=len(order.lines),
                                  event_id=f"{order.order_id}-pickup", now_ms=at)
        producer.send(topics.shipping_commands, key=order.order_id.encode(), value=command.value(),
                      headers=list(command.headers([("reply-to", topics.inventory_replies.encode()),
                                                    ("correlation-id", correlation_id.encode())])))
        pending.sent(correlation_id, time.monotonic())

    def on_idle() -> None:
        for outcome in pending.expire(time.monotonic()):
            log.warning("pickup request %s got no reply in %.0f s", outcome.correlation_id, outcome.latency_s)

    try:
        consume_loop(consumer, stop, handle, on_idle=on_idle)
    finally:
        close_quietly(consumer, producer)
        log.info("%d pickup replies matched, %d still pending", answered, len(pending))


def main(argv: Sequence[str] | None = None) -> int:
    """Run inventory."""
    return run_service(NAME, argv, body)


if __name__ == "__main__":
    sys.exit(main())
