"""shipping: creates a shipment for each captured payment and answers pickup commands.

The shipping label (about 96 KiB, larger than the claim-check threshold) is stored aside in the claim-check
folder; `shipment.label-created` carries only the reference. Pickup commands are answered on the topic named
by their `reply-to` header, with their `correlation-id` copied onto the reply.

It is the demo's confluent-kafka service (the others run kafka-python, notifications aiokafka).
"""

from __future__ import annotations

import hashlib
import logging
import random
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eventlens.demo.claimcheck import ClaimCheckStore, purge
from eventlens.demo.config import ServiceConfig
from eventlens.demo.confluent_io import close_quietly, consume_loop, make_consumer, make_producer
from eventlens.demo.events import (
    PAYMENT_CAPTURED,
    SCHEDULE_PICKUP,
    header,
    label_created,
    pickup_scheduled,
    read_event,
)
from eventlens.demo.services._base import now_ms, run_service

NAME = "shipping"
CARRIERS = ("DHL", "PostNL", "UPS")
CLAIM_RETENTION_S = 900.0
log = logging.getLogger("eventlens.demo")


def claims_folder(workdir: Path) -> Path:
    """Where labels are stored aside (shared with notifications)."""
    return workdir / "claims"


def make_label(order_id: str, size: int = 96 * 1024) -> bytes:
    """A deterministic stand-in for a label PDF of about `size` bytes."""
    rng = random.Random(order_id)
    head = f"%PDF-1.7\n% shipping label for {order_id}\n".encode()
    return head + rng.randbytes(size - len(head))


def body(cfg: ServiceConfig, stop: threading.Event) -> None:
    """Handle captured payments and pickup commands until stopped."""
    topics = cfg.topics
    claims = ClaimCheckStore(claims_folder(cfg.workdir))
    producer = make_producer(cfg.bootstrap, NAME)
    consumer = make_consumer(cfg.bootstrap, topics.group(NAME), topics.subscriptions()[NAME], NAME)
    last_purge = time.monotonic()

    def handle(record: Any) -> None:
        headers = record.headers()
        event = read_event(headers, record.value())
        if event.type == SCHEDULE_PICKUP:
            reply_to, cid = header(headers, "reply-to"), header(headers, "correlation-id")
            if not reply_to or not cid:
                log.warning("pickup command %s without reply-to or correlation-id: not answered", event.id)
                return
            order_id = str(event.data.get("order_id", ""))
            reply = pickup_scheduled(order_id, now_ms() + 86_400_000, event_id=f"{event.id}-reply", now_ms=now_ms())
            producer.produce(reply_to, key=record.key(), value=reply.value(),
                             headers=list(reply.headers([("correlation-id", cid.encode())])))
            return
        if event.type != PAYMENT_CAPTURED:
            return
        order_id = str(event.data["order_id"])
        label = make_label(order_id, size=max(96 * 1024, cfg.claim_threshold_bytes + 1))
        reference = claims.put(label, media_type="application/pdf")
        shipment_id = "shp-" + hashlib.sha256(order_id.encode()).hexdigest()[:10]
        carrier = CARRIERS[len(order_id) % len(CARRIERS)]
        created = label_created(order_id, shipment_id, carrier, reference.to_json(), event_id=f"{shipment_id}-label",
                                now_ms=now_ms())
        producer.produce(topics.shipments, key=order_id.encode(), value=created.value(),
                         headers=list(created.headers()))

    def on_idle() -> None:
        nonlocal last_purge
        if time.monotonic() - last_purge > 60:
            last_purge = time.monotonic()
            removed = purge(claims, older_than_s=CLAIM_RETENTION_S, now_s=time.time())
            if removed:
                log.info("%d expired labels removed from the claim-check store", removed)

    try:
        consume_loop(consumer, producer, stop, handle, on_idle=on_idle)
    finally:
        close_quietly(consumer, producer)


def main(argv: Sequence[str] | None = None) -> int:
    """Run shipping."""
    return run_service(NAME, argv, body)


if __name__ == "__main__":
    sys.exit(main())
