"""Helpers for the confluent-kafka instrumentation tests (their fixtures `cinstrument`/`cinstrumented` are in conftest).

Clients are always looked up through the `confluent_kafka` module at call time, as user code that imports the
module (not the class) does, so they are the traced classes while instrumented.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import confluent_kafka
from opentelemetry.instrumentation.utils import suppress_instrumentation

TIMEOUT_S = 60.0


def producer(bootstrap: str, **conf: Any) -> Any:
    """A confluent-kafka producer (traced when instrumented)."""
    return confluent_kafka.Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, **conf})


def consumer(bootstrap: str, *topics: str, group: str | None = None, **conf: Any) -> Any:
    """A confluent-kafka consumer subscribed to `topics`, reading from the beginning."""
    c = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": group or f"g-{uuid.uuid4().hex[:8]}",
                                  "auto.offset.reset": "earliest", "enable.auto.commit": False, **conf})
    if topics:
        c.subscribe(list(topics))
    return c


def produce_sync(p: Any, topic: str, value: Any = b"v", **kwargs: Any) -> Any:
    """Produce one record and wait for its delivery report; returns the delivered message."""
    got: list[tuple[Any, Any]] = []
    p.produce(topic, value, on_delivery=lambda err, msg: got.append((err, msg)), **kwargs)
    p.flush(TIMEOUT_S)
    assert len(got) == 1 and got[0][0] is None, got
    return got[0][1]


def raw_produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, list[tuple[str, bytes | None]]]],
                key: bytes | None = b"k") -> None:
    """Put records with these exact values and header lists on `topic`, with instrumentation suppressed."""
    p = producer(bootstrap)
    with suppress_instrumentation():
        for value, headers in records:
            p.produce(topic, value, key, headers=headers)
        assert p.flush(TIMEOUT_S) == 0


def poll_one(c: Any, timeout: float = TIMEOUT_S) -> Any:
    """Poll until a record (not an event such as partition EOF) arrives."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = c.poll(0.5)
        if msg is not None and msg.error() is None:
            return msg
    raise AssertionError("no record polled")


def consume_n(c: Any, n: int, timeout: float = TIMEOUT_S) -> list[list[Any]]:
    """Call `consume` until `n` records arrived; returns the non-empty batches."""
    batches: list[list[Any]] = []
    got = 0
    deadline = time.monotonic() + timeout
    while got < n:
        assert time.monotonic() < deadline, f"consumed {got} of {n}"
        batch = [m for m in c.consume(num_messages=n - got, timeout=0.5) if m.error() is None]
        if batch:
            batches.append(batch)
            got += len(batch)
    return batches
