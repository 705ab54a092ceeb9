"""Builders of crafted model objects (spans, rollups, sightings) for the analysis tests."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

from eventlens.collector.model import (
    LATENCY_BUCKETS_S,
    NS_PER_MINUTE,
    AttrValue,
    EdgeRollup,
    Messaging,
    Operation,
    Role,
    SchemaSighting,
    SpanKind,
    SpanLink,
    SpanRecord,
    StatusCode,
)

T0 = 1_800_000_000 * 1_000_000_000  # a fixed epoch in ns
MS = 1_000_000
_ids = itertools.count(1)


def new_id(length: int = 16) -> str:
    """A fresh lowercase hex id."""
    return f"{next(_ids):0{length}x}"


def send(service: str, topic: str, *, trace: str | None = None, parent: str | None = None, at_ms: float = 0,
         event_type: str | None = None, event_id: str | None = None, key: str | None = None,
         partition: int | None = 0, offset: int | None = None, attrs: Mapping[str, AttrValue] | None = None,
         links: tuple[SpanLink, ...] = (), error: bool = False, payload_size: int | None = None) -> SpanRecord:
    """A `send {topic}` PRODUCER span."""
    return SpanRecord(
        trace_id=trace or new_id(32), span_id=new_id(), parent_span_id=parent, name=f"send {topic}",
        kind=SpanKind.PRODUCER, service=service, start_ns=T0 + int(at_ms * MS), end_ns=T0 + int((at_ms + 1) * MS),
        status=StatusCode.ERROR if error else StatusCode.UNSET, links=links,
        messaging=Messaging(system="kafka", operation=Operation.SEND, topic=topic, partition=partition,
                            offset=offset, key=key, event_id=event_id, event_type=event_type,
                            body_size=payload_size),
        attributes=dict(attrs or {}),
    )


def process(service: str, record: SpanRecord | None, *, group: str | None = None, at_ms: float = 0,
            took_ms: float = 1, linked: tuple[SpanRecord, ...] = (), parented: bool = True,
            trace: str | None = None, error: bool = False, attrs: Mapping[str, AttrValue] | None = None,
            topic: str | None = None) -> SpanRecord:
    """A `process {topic}` CONSUMER span: parented on `record` (or only linked to it), linking to `linked`."""
    the_topic = topic or (record.messaging.topic if record else None) or "unknown"
    links = tuple(SpanLink(r.trace_id, r.span_id) for r in linked)
    if record is not None and not parented:
        links = (SpanLink(record.trace_id, record.span_id), *links)
    return SpanRecord(
        trace_id=record.trace_id if record is not None and parented else (trace or new_id(32)),
        span_id=new_id(), parent_span_id=record.span_id if record is not None and parented else None,
        name=f"process {the_topic}", kind=SpanKind.CONSUMER, service=service,
        start_ns=T0 + int(at_ms * MS), end_ns=T0 + int((at_ms + took_ms) * MS),
        status=StatusCode.ERROR if error else StatusCode.UNSET, links=links,
        messaging=Messaging(system="kafka", operation=Operation.PROCESS, topic=the_topic, consumer_group=group,
                            event_type=record.messaging.event_type if record else None,
                            event_id=record.messaging.event_id if record else None,
                            key=record.messaging.key if record else None),
        attributes=dict(attrs or {}),
    )


def internal(service: str, parent: SpanRecord, *, at_ms: float = 0, name: str = "work") -> SpanRecord:
    """An INTERNAL span under `parent` (user code between consume and send)."""
    return SpanRecord(trace_id=parent.trace_id, span_id=new_id(), parent_span_id=parent.span_id, name=name,
                      kind=SpanKind.INTERNAL, service=service, start_ns=T0 + int(at_ms * MS),
                      end_ns=T0 + int((at_ms + 1) * MS))


def buckets(*latencies_s: float) -> tuple[int, ...]:
    """A latency histogram (LATENCY_BUCKETS_S plus overflow) holding the given latencies."""
    out = [0] * (len(LATENCY_BUCKETS_S) + 1)
    for value in latencies_s:
        index = next((i for i, bound in enumerate(LATENCY_BUCKETS_S) if value <= bound), len(LATENCY_BUCKETS_S))
        out[index] += 1
    return tuple(out)


def produced(producer: str, topic: str, count: int, *, minute: int = 0, errors: int = 0,
             size: int = 100) -> EdgeRollup:
    """The produce-side rollup of a topic for one minute."""
    return EdgeRollup(minute=T0 + minute * NS_PER_MINUTE, producer=producer, topic=topic, consumer_group=None,
                      consumer=None, count=count, errors=errors, bytes=count * size, latency_sum_s=0.0,
                      latency_buckets=buckets())


def consumed(producer: str | None, topic: str, group: str | None, consumer: str | None, count: int, *,
             minute: int = 0, errors: int = 0, latency_s: float = 0.02, size: int = 100) -> EdgeRollup:
    """A consume-side rollup: `count` messages paired with their producer, each `latency_s` end to end."""
    return EdgeRollup(minute=T0 + minute * NS_PER_MINUTE, producer=producer, topic=topic, consumer_group=group,
                      consumer=consumer, count=count, errors=errors, bytes=count * size,
                      latency_sum_s=latency_s * count, latency_buckets=buckets(*([latency_s] * count)))


def sighting(event_type: str, fingerprint: str, service: str, role: Role, topic: str, *, first_ms: float = 0,
             last_ms: float = 1000, count: int = 10, errors: int = 0) -> SchemaSighting:
    """A schema sighting aggregate."""
    return SchemaSighting(event_type=event_type, fingerprint=fingerprint, service=service, role=role, topic=topic,
                          first_seen_ns=T0 + int(first_ms * MS), last_seen_ns=T0 + int(last_ms * MS), count=count,
                          errors=errors)
