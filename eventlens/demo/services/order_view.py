"""order-view: the CQRS read model. Projects orders, payments, reservations, stock levels and shipments into
one SQLite table per view; its consumer lag is the read model's eventual-consistency window.

Each update costs a fixed time (a denormalising write; by default what keeps the projection half busy at the
steady rate), so it falls behind during order bursts and catches up afterwards.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eventlens.demo.config import ServiceConfig
from eventlens.demo.events import (
    INVENTORY_RESERVED,
    LABEL_CREATED,
    ORDER_PLACED,
    PAYMENT_CAPTURED,
    PAYMENT_DECLINED,
    STOCK_LEVEL,
    Received,
    parse_order,
    read_event,
)
from eventlens.demo.kafka_io import close_quietly, consume_loop, make_consumer
from eventlens.demo.services._base import now_ms, run_service

NAME = "order-view"
log = logging.getLogger("eventlens.demo")

SCHEMA = """
CREATE TABLE IF NOT EXISTS order_view (
    order_id TEXT PRIMARY KEY,
    customer_id TEXT,
    total_cents INTEGER,
    currency TEXT,
    status TEXT NOT NULL,
    schema_version INTEGER,
    shipment_id TEXT,
    updated_at_ms INTEGER NOT NULL,
    staleness_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS stock_view (
    sku TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    available INTEGER NOT NULL,
    reserved INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
"""

STATUS_BY_TYPE = {PAYMENT_CAPTURED: "paid", PAYMENT_DECLINED: "payment declined", INVENTORY_RESERVED: "reserved",
                  LABEL_CREATED: "shipped"}


def connect(path: Path) -> sqlite3.Connection:
    """Open the read-model database."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(SCHEMA)
    return conn


def project(conn: sqlite3.Connection, event: Received, event_time_ms: int, at_ms: int) -> None:
    """Apply one event to the read model (idempotent: re-applying it leaves the same rows)."""
    staleness = max(0, at_ms - event_time_ms)
    if event.type == ORDER_PLACED:
        order = parse_order(event)
        conn.execute(
            "INSERT INTO order_view (order_id, customer_id, total_cents, currency, status, schema_version, "
            "updated_at_ms, staleness_ms) VALUES (?, ?, ?, ?, 'placed', ?, ?, ?) ON CONFLICT(order_id) DO UPDATE SET "
            "customer_id=excluded.customer_id, total_cents=excluded.total_cents, currency=excluded.currency, "
            "schema_version=excluded.schema_version",
            (order.order_id, order.customer_id, order.total_cents, order.currency, event.version, at_ms, staleness))
    elif event.type == STOCK_LEVEL:
        d = event.data
        conn.execute(
            "INSERT INTO stock_view (sku, name, available, reserved, updated_at_ms) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(sku) DO UPDATE SET name=excluded.name, available=excluded.available, "
            "reserved=excluded.reserved, updated_at_ms=excluded.updated_at_ms",
            (str(d["sku"]), str(d["name"]), int(d["available"]), int(d["reserved"]), at_ms))
    elif event.type in STATUS_BY_TYPE:
        order_id = str(event.data["order_id"])
        conn.execute(
            "INSERT INTO order_view (order_id, status, updated_at_ms, staleness_ms) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(order_id) DO UPDATE SET status=excluded.status, updated_at_ms=excluded.updated_at_ms, "
            "staleness_ms=excluded.staleness_ms",
            (order_id, STATUS_BY_TYPE[event.type], at_ms, staleness))
        if event.type == LABEL_CREATED:
            conn.execute("UPDATE order_view SET shipment_id=? WHERE order_id=?",
                         (str(event.data["shipment_id"]), order_id))
    conn.commit()


def body(cfg: ServiceConfig, stop: threading.Event) -> None:
    """Project events until stopped."""
    topics = cfg.topics
    conn = connect(cfg.workdir / "order-view.db")
    consumer = make_consumer(cfg.bootstrap, topics.group(NAME), topics.subscriptions()[NAME], NAME,
                             max_poll_records=50)
    cost_s = cfg.effective_projection_cost_s

    def handle(record: Any) -> None:
        event = read_event(record.headers, record.value)
        project(conn, event, int(record.timestamp), now_ms())
        if cost_s > 0:
            stop.wait(cost_s)

    try:
        consume_loop(consumer, stop, handle)
    finally:
        close_quietly(consumer)
        conn.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the read-model projection."""
    return run_service(NAME, argv, body)


if __name__ == "__main__":
    sys.exit(main())
