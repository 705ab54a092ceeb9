"""payments: charges each order and publishes the outcome through a transactional outbox.

The payment row and the outbox row are written in one SQLite transaction; the outbox row keeps the trace
context captured inside the `process` span (`capture_context()`), so the relay's send continues this trace.
About 6 % of orders are declined (deterministic per order id).
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eventlens.demo import outbox
from eventlens.demo.config import ServiceConfig
from eventlens.demo.events import Order, parse_order, payment_event, read_event
from eventlens.demo.kafka_io import close_quietly, consume_loop, make_consumer
from eventlens.demo.services._base import now_ms, run_service

NAME = "payments"
log = logging.getLogger("eventlens.demo")

PAYMENTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS payments (
    order_id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL,
    status TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);
"""


def database(workdir: Path) -> Path:
    """The payments database (payments table + outbox), shared with the relay process."""
    return workdir / "payments.db"


def declined(order: Order) -> str | None:
    """The decline reason for an order, or None when the charge goes through (about 6 % decline)."""
    bucket = int.from_bytes(hashlib.sha256(order.order_id.encode()).digest()[:2], "big") % 100
    if bucket < 4:
        return "insufficient funds"
    if bucket < 6:
        return "card expired"
    return None


def charge(conn: sqlite3.Connection, order: Order, topic: str, trace_context: dict[str, str], at_ms: int) -> bool:
    """Record the payment and its outbox message atomically; False when the order was already charged."""
    reason = declined(order)
    payment_id = "pay-" + hashlib.sha256(order.order_id.encode()).hexdigest()[:12]
    event = payment_event(order, event_id=f"{payment_id}-evt", payment_id=payment_id, captured=reason is None,
                          now_ms=at_ms, reason=reason)
    conn.execute("BEGIN IMMEDIATE")
    try:
        cur = conn.execute(
            "INSERT OR IGNORE INTO payments (order_id, payment_id, status, amount_cents, currency, created_at_ms) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (order.order_id, payment_id, "declined" if reason else "captured", order.total_cents, order.currency,
             at_ms),
        )
        if cur.rowcount == 0:
            conn.execute("ROLLBACK")
            return False
        message = outbox.OutboxMessage(topic=topic, key=order.order_id.encode(), value=event.value(),
                                       headers=event.headers())
        outbox.enqueue(conn, message, trace_context, at_ms)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return True


def body(cfg: ServiceConfig, stop: threading.Event) -> None:
    """Consume orders and charge them until stopped."""
    from eventlens.instrumentation import capture_context

    conn = outbox.connect(database(cfg.workdir))
    conn.executescript(PAYMENTS_SCHEMA)
    consumer = make_consumer(cfg.bootstrap, cfg.topics.group(NAME), cfg.topics.subscriptions()[NAME], NAME)

    def handle(record: Any) -> None:
        order = parse_order(read_event(record.headers, record.value))
        if not charge(conn, order, cfg.topics.payments, capture_context(), now_ms()):
            log.info("order %s was already charged (redelivery)", order.order_id)

    try:
        consume_loop(consumer, stop, handle)
    finally:
        close_quietly(consumer)
        conn.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Run payments."""
    return run_service(NAME, argv, body)


if __name__ == "__main__":
    sys.exit(main())
