"""confluent-kafka plumbing for the demo services that run on it (shipping): clients and the poll loop.

The loop is what a confluent-kafka user writes: `poll()` one message, handle it, commit now and then. The
instrumentation's `process` span is current from the `poll` that returned the message until the next call on
the consumer, so the handler's sends are its children without any code of ours. Clients are made from the classes
on the module (`confluent_kafka.Producer`), which are the traced ones once the service called `instrument()`,
although this module is imported before that.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import confluent_kafka
from confluent_kafka import Consumer, KafkaException, Producer

from eventlens.demo.events import EventError

log = logging.getLogger("eventlens.demo")
COMMIT_EVERY_S = 1.0


def make_producer(bootstrap: str, client_id: str) -> Producer:
    """A producer with a short linger, as `kafka_io.make_producer`."""
    return confluent_kafka.Producer({"bootstrap.servers": bootstrap, "client.id": client_id, "linger.ms": 5, "acks": 1})


def make_consumer(bootstrap: str, group: str, topics: Iterable[str], client_id: str) -> Consumer:
    """A consumer in `group` subscribed to `topics` from the earliest offset, committing by hand (at least once)."""
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": group, "client.id": client_id,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "session.timeout.ms": 10_000, "max.poll.interval.ms": 30_000,
                         "topic.metadata.refresh.interval.ms": 5_000})
    consumer.subscribe(list(topics))
    return consumer


def consume_loop(consumer: Consumer, producer: Producer, stop: threading.Event, handle: Callable[[Any], None], *,
                 on_idle: Callable[[], None] | None = None, poll_timeout_s: float = 0.2) -> None:
    """Poll until `stop`, handing each message to `handle`; commit at most every COMMIT_EVERY_S and at the end.

    A message that is not a readable event is logged and skipped. The producer is polled on every turn so its
    delivery reports (and the send spans they end) are served.
    """
    pending = False
    last_commit = time.monotonic()
    while not stop.is_set():
        message = consumer.poll(poll_timeout_s)
        producer.poll(0)
        if message is not None and message.error() is None:
            try:
                handle(message)
            except EventError as exc:
                log.warning("skipped %s[%d]@%d: %s", message.topic(), message.partition(), message.offset(), exc)
            pending = True
        if pending and time.monotonic() - last_commit >= COMMIT_EVERY_S:
            pending = not commit(consumer)
            last_commit = time.monotonic()
        if on_idle is not None:
            on_idle()
    if pending:
        commit(consumer)


def commit(consumer: Consumer) -> bool:
    """Commit the consumed positions synchronously; False (logged) when it failed (e.g. a rebalance)."""
    try:
        consumer.commit(asynchronous=False)
    except KafkaException as exc:
        log.warning("offset commit failed (messages since the last commit will be redelivered): %s", exc)
        return False
    return True


def close_quietly(consumer: Consumer, producer: Producer) -> None:
    """Close the consumer and flush the producer at shutdown; errors are logged, not raised."""
    try:
        consumer.close()
    except Exception:  # shutting down: report and go on with the producer
        log.exception("closing the consumer")
    remaining = producer.flush(10)
    if remaining:
        log.warning("%d messages not delivered at shutdown", remaining)
