"""aiokafka plumbing for the demo services that run on asyncio (notifications): the consumer and its loop.

The loop fetches batches with `getmany` and handles each record inside `processing(record)`, the
instrumentation's process span, current in this task only. It commits the offsets of handled records after each
batch, so a record not handled when the service stops (or waits for its rate limit) is delivered again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from eventlens.demo.events import EventError

log = logging.getLogger("eventlens.demo")


def make_consumer(bootstrap: str, group: str, topics: Iterable[str], client_id: str, *,
                  max_poll_records: int = 10) -> AIOKafkaConsumer:
    """A consumer in `group` subscribed to `topics` from the earliest offset, committing by hand (start it)."""
    return AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=group, client_id=client_id,
                            auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=max_poll_records,
                            session_timeout_ms=10_000, heartbeat_interval_ms=2_000, max_poll_interval_ms=30_000,
                            metadata_max_age_ms=5_000)


async def consume_loop(consumer: AIOKafkaConsumer, stop: threading.Event, handle: Callable[[Any], None], *,
                       throttle: Callable[[Any], float] | None = None, timeout_ms: int = 200) -> None:
    """Fetch batches until `stop`; wait `throttle(record)` seconds before handling each (a rate limit)."""
    from eventlens.instrumentation import processing

    while not stop.is_set():
        batch = await consumer.getmany(timeout_ms=timeout_ms)
        handled: dict[TopicPartition, int] = {}
        for tp, records in batch.items():
            for record in records:
                wait = throttle(record) if throttle is not None else 0.0
                if wait > 0:
                    await _sleep_unless(stop, wait)
                if stop.is_set():
                    break
                try:
                    with processing(record, consumer):
                        handle(record)
                except EventError as exc:
                    log.warning("skipped %s[%d]@%d: %s", record.topic, record.partition, record.offset, exc)
                handled[tp] = record.offset + 1
            if stop.is_set():
                break
        for tp, records in batch.items():  # rewind what was fetched but not handled
            if records and handled.get(tp, records[0].offset) <= records[-1].offset:
                consumer.seek(tp, handled.get(tp, records[0].offset))
        if handled:
            await commit(consumer, handled)


async def _sleep_unless(stop: threading.Event, seconds: float) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not stop.is_set() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(min(0.1, deadline - asyncio.get_running_loop().time()))


async def commit(consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> bool:
    """Commit `offsets`; False (logged) when the commit failed, e.g. because the group rebalanced."""
    try:
        await consumer.commit(offsets)
    except KafkaError as exc:
        log.warning("offset commit failed (records since the last commit will be redelivered): %s", exc)
        return False
    return True

