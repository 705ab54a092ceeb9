"""Kafka plumbing shared by the demo services: topic creation, clients, and the poll → process loop.

The loop hands each record to user code inside `processing(record)`, the instrumentation's span for
records obtained from `poll()`. Services are plain kafka-python otherwise.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from eventlens.demo.events import EventError

log = logging.getLogger("eventlens.demo")


def ensure_topics(bootstrap: str, topics: Mapping[str, int], timeout_s: float = 60.0) -> None:
    """Create the topics that do not exist yet (idempotent; every service calls it at start)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="demo-admin")
            try:
                existing = set(admin.list_topics())
                missing = [NewTopic(n, num_partitions=p, replication_factor=1) for n, p in topics.items()
                           if n not in existing]
                if missing:
                    with contextlib.suppress(TopicAlreadyExistsError):
                        admin.create_topics(missing)
                return
            finally:
                admin.close()
        except TopicAlreadyExistsError:
            return
        except (KafkaError, OSError) as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("waiting for the broker to create topics: %s", exc)
            time.sleep(1.0)


def make_producer(bootstrap: str, client_id: str) -> KafkaProducer:
    """A producer with a short linger (small batches, low latency)."""
    return KafkaProducer(bootstrap_servers=bootstrap, client_id=client_id, linger_ms=5, acks=1)


def make_consumer(bootstrap: str, group: str, topics: Iterable[str], client_id: str, *,
                  max_poll_records: int = 100, timeout_s: float = 60.0) -> KafkaConsumer:
    """A consumer in `group` subscribed to `topics`, starting from the earliest offset on first run.

    Offsets are committed by `consume_loop` after each handled batch (at least once), not in the background.
    It subscribes only once its metadata knows every topic's partitions: a group that joins while a topic's
    metadata is missing is assigned nothing for that topic, and kafka-python may not rebalance when it appears.
    """
    names = list(topics)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, client_id=client_id,
                             auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=max_poll_records,
                             # a short rebalance timeout: a join stuck behind a vanished member resolves in 30 s
                             max_poll_interval_ms=30_000, session_timeout_ms=10_000, heartbeat_interval_ms=2_000)
    deadline = time.monotonic() + timeout_s
    missing = names
    while missing:
        missing = [t for t in names if not consumer.partitions_for_topic(t)]
        if missing and time.monotonic() > deadline:
            consumer.close()
            raise KafkaError(f"no partition metadata for {', '.join(missing)} after {timeout_s:.0f} s")
        if missing:
            time.sleep(0.5)
    consumer.subscribe(names)
    return consumer


def stop_event() -> threading.Event:
    """An event set by SIGTERM or SIGINT, so a service finishes its record, closes its clients and flushes."""
    stop = threading.Event()

    def _handler(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)
    return stop


Handler = Callable[[Any], None]
"""User code for one ConsumerRecord."""


def _resume_due(consumer: KafkaConsumer, paused: dict[TopicPartition, float]) -> None:
    now = time.monotonic()
    due = [tp for tp, at in paused.items() if at <= now]
    if due:
        consumer.resume(*due)
        for tp in due:
            del paused[tp]


def consume_loop(consumer: KafkaConsumer, stop: threading.Event, handle: Handler, *,
                 throttle: Callable[[Any], float] | None = None,
                 defer: Callable[[Any], float | None] | None = None,
                 on_idle: Callable[[], None] | None = None, poll_timeout_ms: int = 200) -> None:
    """Poll until `stop`; hand each record to `handle` inside the instrumentation's `processing` span.

    `throttle(record)` returns seconds to wait before handling it (a rate limit); `defer(record)` returns the
    seconds until a record is due (a retry with backoff): its partition is paused and rewound to it until then.
    A record that is not a readable event is logged and skipped (never crashes the service). Offsets are
    committed after each batch and once more at the end; a failed commit (the group rebalanced) is logged and the
    records after the last commit are delivered again.
    """
    from eventlens.instrumentation import processing

    paused: dict[TopicPartition, float] = {}

    def gate(tp: TopicPartition, record: Any) -> bool:
        """False when the record must not be handled now (deferred, or stopping)."""
        wait = defer(record) if defer is not None else None
        if wait is not None and wait > 0:
            consumer.pause(tp)
            paused[tp] = time.monotonic() + wait
            return False
        wait = throttle(record) if throttle is not None else 0.0
        if wait > 0:
            stop.wait(wait)
        return not stop.is_set()

    while not stop.is_set():
        _resume_due(consumer, paused)
        handled = 0
        for tp, records in consumer.poll(timeout_ms=poll_timeout_ms).items():
            for record in records:
                if not gate(tp, record):
                    consumer.seek(tp, record.offset)  # poll() moved past it: rewind, so it is not committed
                    break
                try:
                    with processing(record):
                        handle(record)
                except EventError as exc:
                    log.warning("skipped %s[%d]@%d: %s", record.topic, record.partition, record.offset, exc)
                handled += 1
        if handled:
            commit(consumer)
        if on_idle is not None:
            on_idle()
    commit(consumer)


def commit(consumer: KafkaConsumer) -> bool:
    """Commit the consumed positions; False (logged) when the commit failed, e.g. because the group rebalanced."""
    try:
        consumer.commit()
    except (KafkaError, OSError) as exc:
        log.warning("offset commit failed (records since the last commit will be redelivered): %s", exc)
        return False
    return True


def close_quietly(*clients: KafkaConsumer | KafkaProducer) -> None:
    """Close clients at shutdown (producers flush first); errors are logged, not raised."""
    for client in clients:
        try:
            if isinstance(client, KafkaProducer):
                client.flush(timeout=10)
            client.close()
        except Exception:  # shutting down: report and go on closing the others
            log.exception("closing %s", type(client).__name__)


def flush_telemetry() -> None:
    """Export the spans still buffered before the process exits."""
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    flush = getattr(provider, "force_flush", None)
    if callable(flush):
        flush()


def header_pairs(headers: Iterable[tuple[str, bytes | None]] | None, drop: Iterable[str] = ()) -> list[
        tuple[str, bytes]]:
    """A record's headers as a list to send on, minus the `drop` names (and null values)."""
    dropped = set(drop)
    return [(k, v) for k, v in headers or () if v is not None and k not in dropped]
