"""notifications: e-mails customers about shipments (with the label fetched through its claim check) and
declined payments, limited to a fixed number of e-mails per second by a token bucket (the mail provider's
quota), so it falls behind during order bursts and catches up afterwards.

It is the demo's asyncio service, on aiokafka (the other services run kafka-python, shipping confluent-kafka).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from eventlens.demo.aio_io import consume_loop, make_consumer
from eventlens.demo.claimcheck import ClaimCheckError, ClaimCheckStore
from eventlens.demo.config import ServiceConfig
from eventlens.demo.events import LABEL_CREATED, PAYMENT_DECLINED, header, read_event
from eventlens.demo.ratelimit import TokenBucket
from eventlens.demo.services._base import run_service
from eventlens.demo.services.shipping import claims_folder

NAME = "notifications"
EMAIL_TYPES = (LABEL_CREATED, PAYMENT_DECLINED)
log = logging.getLogger("eventlens.demo")


def body(cfg: ServiceConfig, stop: threading.Event) -> None:
    """Send e-mails until stopped, at most `effective_notify_rate` per second."""
    topics = cfg.topics
    claims = ClaimCheckStore(claims_folder(cfg.workdir))
    rate = cfg.effective_notify_rate
    bucket = TokenBucket(rate=rate, capacity=max(1.0, rate))
    sent = 0

    def throttle(record: Any) -> float:
        return bucket.take(time.monotonic()) if header(record.headers, "ce_type") in EMAIL_TYPES else 0.0

    def handle(record: Any) -> None:
        nonlocal sent
        event = read_event(record.headers, record.value)
        if event.type == LABEL_CREATED:
            label = event.data.get("label", {})
            try:
                pdf = claims.get(str(label.get("claim_check", "")) if isinstance(label, dict) else "")
            except ClaimCheckError as exc:
                span = trace.get_current_span()
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, str(exc)))
                log.warning("shipment e-mail for %s sent without its label: %s", event.data.get("order_id"), exc)
                pdf = b""
            log.debug("e-mail: order %s shipped, label %d bytes", event.data.get("order_id"), len(pdf))
            sent += 1
        elif event.type == PAYMENT_DECLINED:
            log.debug("e-mail: payment for order %s declined", event.data.get("order_id"))
            sent += 1

    async def run() -> None:
        consumer = make_consumer(cfg.bootstrap, topics.group(NAME), topics.subscriptions()[NAME], NAME)
        await consumer.start()
        try:
            await consume_loop(consumer, stop, handle, throttle=throttle)
        finally:
            await consumer.stop()

    try:
        asyncio.run(run())
    finally:
        log.info("%d e-mails sent", sent)


def main(argv: Sequence[str] | None = None) -> int:
    """Run notifications."""
    return run_service(NAME, argv, body)


if __name__ == "__main__":
    sys.exit(main())
