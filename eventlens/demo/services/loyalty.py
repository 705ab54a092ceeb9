"""loyalty: awards points for captured payments. Some awards fail: transient failures are retried with
exponential backoff through a retry topic, the rest go to a dead-letter topic.

Retries are sent inside `send_context(retry_attempt=n)`, dead letters inside `send_context(dead_letter=True,
reason=...)`, so the instrumentation records them as such. A retry record waits for its not-before time by
pausing its partition (no sleeping in the poll loop).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from eventlens.demo.config import ServiceConfig
from eventlens.demo.events import PAYMENT_CAPTURED, header, read_event
from eventlens.demo.kafka_io import close_quietly, consume_loop, header_pairs, make_consumer, make_producer
from eventlens.demo.retry import (
    HEADER_ATTEMPT,
    HEADER_ERROR,
    HEADER_NOT_BEFORE,
    DeadLetter,
    RetryPolicy,
    simulated_failure,
)
from eventlens.demo.services._base import now_ms, run_service

NAME = "loyalty"
TRACE_HEADERS = ("traceparent", "tracestate", "baggage")
log = logging.getLogger("eventlens.demo")


def retries_of(record: Any) -> int:
    """How many retries a record already had (0 for the original, unreadable counts as 0)."""
    try:
        return max(0, int(header(record.headers, HEADER_ATTEMPT) or 0))
    except ValueError:
        return 0


def body(cfg: ServiceConfig, stop: threading.Event) -> None:
    """Award points until stopped."""
    from eventlens.instrumentation import send_context

    topics = cfg.topics
    policy = RetryPolicy()
    points: dict[str, int] = {}
    producer = make_producer(cfg.bootstrap, NAME)
    consumer = make_consumer(cfg.bootstrap, topics.group(NAME), topics.subscriptions()[NAME], NAME)
    counts = {"awarded": 0, "retried": 0, "dead_lettered": 0}

    def defer(record: Any) -> float | None:
        if record.topic != topics.loyalty_retry:
            return None
        try:
            not_before = int(header(record.headers, HEADER_NOT_BEFORE) or 0)
        except ValueError:
            return None
        return max(0.0, (not_before - now_ms()) / 1000.0)

    def handle(record: Any) -> None:
        event = read_event(record.headers, record.value)
        if event.type != PAYMENT_CAPTURED:
            return
        customer = str(event.data["customer_id"])
        retries = retries_of(record) if record.topic == topics.loyalty_retry else 0
        failure = simulated_failure(str(event.data["order_id"]), retries)
        if failure is None:
            points[customer] = points.get(customer, 0) + int(event.data["amount_cents"]) // 100
            counts["awarded"] += 1
            return
        span = trace.get_current_span()
        span.record_exception(failure)
        span.set_status(Status(StatusCode.ERROR, str(failure)))
        decision = policy.decide(retries, retryable=failure.retryable, error=str(failure), now_ms=now_ms())
        base = header_pairs(record.headers, drop=(*TRACE_HEADERS, HEADER_ATTEMPT, HEADER_NOT_BEFORE, HEADER_ERROR))
        if isinstance(decision, DeadLetter):
            headers = [*base, ("dlq-reason", decision.reason.encode()), ("dlq-original-topic", record.topic.encode())]
            with send_context(dead_letter=True, reason=decision.reason):
                producer.send(topics.loyalty_dlq, key=record.key, value=record.value, headers=headers)
            counts["dead_lettered"] += 1
            return
        headers = [*base, (HEADER_ATTEMPT, str(decision.attempt).encode()),
                   (HEADER_NOT_BEFORE, str(decision.not_before_ms).encode()), (HEADER_ERROR, str(failure).encode())]
        with send_context(retry_attempt=decision.attempt):
            producer.send(topics.loyalty_retry, key=record.key, value=record.value, headers=headers)
        counts["retried"] += 1

    try:
        consume_loop(consumer, stop, handle, defer=defer)
    finally:
        close_quietly(consumer, producer)
        log.info("loyalty: %s", counts)
        log.debug("points of %d customers", len(points))


def main(argv: Sequence[str] | None = None) -> int:
    """Run loyalty."""
    return run_service(NAME, argv, body)


if __name__ == "__main__":
    sys.exit(main())
