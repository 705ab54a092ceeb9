"""Builders of collector model objects for tests: realistic defaults, override what the test is about.

    span = span_record(service="billing", messaging=messaging(topic="orders", offset=7))
    send, process = producer_consumer_pair(topic="orders")
"""

from __future__ import annotations

import itertools
import os
from typing import Any

from eventlens.collector.model import (
    Messaging,
    Operation,
    SpanKind,
    SpanLink,
    SpanRecord,
)

T0_NS = 1_780_000_000 * 1_000_000_000
"""A fixed, round start time (2026-05-28T20:26:40Z) for tests that do not care about the clock."""

_counter = itertools.count(1)


def new_trace_id() -> str:
    """A random 128-bit trace id as 32 lowercase hex digits."""
    return os.urandom(16).hex()


def new_span_id() -> str:
    """A random 64-bit span id as 16 lowercase hex digits."""
    return os.urandom(8).hex()


def messaging(**overrides: Any) -> Messaging:
    """Kafka messaging fields with defaults (`topic="orders"`, partition 0, system kafka)."""
    fields: dict[str, Any] = {"system": "kafka", "topic": "orders", "partition": 0}
    fields.update(overrides)
    return Messaging(**fields)


def span_record(**overrides: Any) -> SpanRecord:
    """A span with fresh ids and sensible defaults (an INTERNAL span of service "svc" lasting 1 ms)."""
    n = next(_counter)
    start = overrides.pop("start_ns", T0_NS + n * 1_000)
    fields: dict[str, Any] = {
        "trace_id": new_trace_id(), "span_id": new_span_id(), "parent_span_id": None, "name": f"span-{n}",
        "kind": SpanKind.INTERNAL, "service": "svc", "start_ns": start, "end_ns": start + 1_000_000,
        "resource": {"service.name": overrides.get("service", "svc"), "telemetry.sdk.language": "python"},
        "scope": "eventlens.test",
    }
    fields.update(overrides)
    return SpanRecord(**fields)


def send_span(*, topic: str = "orders", service: str = "producer", **overrides: Any) -> SpanRecord:
    """A `send {topic}` PRODUCER span."""
    m = overrides.pop("messaging", None) or messaging(topic=topic, operation=Operation.SEND,
                                                      operation_name="send", body_size=100)
    return span_record(name=f"send {topic}", kind=SpanKind.PRODUCER, service=service, messaging=m, **overrides)


def process_span(send: SpanRecord, *, service: str = "consumer", group: str = "g1", link_only: bool = False,
                 delay_ns: int = 5_000_000, **overrides: Any) -> SpanRecord:
    """A `process {topic}` CONSUMER span for the message of `send`: parented on it, or linked when `link_only`."""
    topic = send.messaging.topic or "orders"
    m = overrides.pop("messaging", None) or messaging(
        topic=topic, operation=Operation.PROCESS, operation_name="process", consumer_group=group,
        partition=send.messaging.partition, offset=send.messaging.offset, key=send.messaging.key,
        event_id=send.messaging.event_id, body_size=send.messaging.body_size)
    if link_only:
        overrides.setdefault("links", (SpanLink(send.trace_id, send.span_id),))
    else:
        overrides.setdefault("trace_id", send.trace_id)
        overrides.setdefault("parent_span_id", send.span_id)
    return span_record(name=f"process {topic}", kind=SpanKind.CONSUMER, service=service, messaging=m,
                       start_ns=overrides.pop("start_ns", send.start_ns + delay_ns), **overrides)


def poll_span(sends: list[SpanRecord], *, service: str = "consumer", group: str = "g1",
              **overrides: Any) -> SpanRecord:
    """A `poll {topic}` CLIENT span with one link per record fetched (the sends)."""
    topic = sends[0].messaging.topic if sends else "orders"
    m = overrides.pop("messaging", None) or messaging(
        topic=topic, operation=Operation.RECEIVE, operation_name="poll", consumer_group=group,
        batch_count=len(sends))
    start = overrides.pop("start_ns", max((s.start_ns for s in sends), default=T0_NS) + 1_000_000)
    return span_record(name=f"poll {topic}", kind=SpanKind.CLIENT, service=service, messaging=m,
                       links=tuple(SpanLink(s.trace_id, s.span_id) for s in sends), start_ns=start,
                       end_ns=overrides.pop("end_ns", start + 2_000_000), **overrides)


def producer_consumer_pair(*, topic: str = "orders", producer: str = "producer", consumer: str = "consumer",
                           group: str = "g1", offset: int = 0, delay_ns: int = 5_000_000,
                           link_only: bool = False) -> tuple[SpanRecord, SpanRecord]:
    """A send span and the process span that consumed its message `delay_ns` later."""
    send = send_span(topic=topic, service=producer,
                     messaging=messaging(topic=topic, operation=Operation.SEND, operation_name="send",
                                         offset=offset, key=f"k{offset}", body_size=100))
    return send, process_span(send, service=consumer, group=group, delay_ns=delay_ns, link_only=link_only)
