"""The basic query layer: pure functions over the Store protocol, the one source for the API, CLI and dashboard.

Analyses (topology, lineage, coupling, schemas, exports) live in `eventlens.collector.analysis`; this module
holds the lookups they and the front ends share.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from eventlens.collector.model import NS_PER_S, EdgeRollup, SpanRecord
from eventlens.collector.storage.api import RollupReader, SpanReader

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_NS = {"ms": 1_000_000, "s": NS_PER_S, "m": 60 * NS_PER_S, "h": 3600 * NS_PER_S, "d": 86400 * NS_PER_S,
            "w": 7 * 86400 * NS_PER_S}


def parse_duration(text: str) -> int:
    """Nanoseconds of a duration like `15m`, `2h`, `30s`, `7d`, `500ms` (a bare number means seconds)."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 15m, 2h, 7d)")
    number, unit = match.groups()
    return int(float(number) * _UNIT_NS[unit or "s"])


def window(now_ns: int, duration_ns: int) -> tuple[int, int]:
    """The window [now − duration, now) as (start_ns, end_ns)."""
    return now_ns - duration_ns, now_ns


def normalise_id(value: str) -> str:
    """An id as stored: lowercase hex without surrounding space or dashes (UUID-style input accepted)."""
    return value.strip().lower().replace("-", "")


def trace(store: SpanReader, trace_id: str) -> list[SpanRecord]:
    """Every span of a trace, by start time (the id may be upper case or dashed)."""
    return store.get_trace(normalise_id(trace_id))


TRACE_PAGE_DEFAULT = 1000
"""Spans per `/api/traces/{id}` page when the client names no limit."""
TRACE_PAGE_MAX = 10_000
"""Most spans one trace page may hold (bounds one answer's memory)."""
INT64_MAX = (1 << 63) - 1


@dataclass(frozen=True, slots=True)
class TracePage:
    """One page of a trace's spans by (start time, span id); `next_cursor` fetches the rest (None: no more)."""

    spans: list[SpanRecord]
    next_cursor: str | None


def parse_cursor(cursor: str) -> tuple[int, str]:
    """The (start_ns, span_id) key a trace page cursor names; ValueError for anything else."""
    start, sep, span_id = cursor.partition(":")
    if not sep or not re.fullmatch(r"-?\d{1,19}", start) or not re.fullmatch(r"[0-9a-f]{16}", span_id):
        raise ValueError(f"cursor {cursor!r} is not one this API returned")
    value = int(start)
    if not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise ValueError(f"cursor {cursor!r} is not one this API returned")
    return value, span_id


def trace_page(store: SpanReader, trace_id: str, *, cursor: str | None = None,
               limit: int = TRACE_PAGE_DEFAULT) -> TracePage:
    """A page of a trace's spans (the first, or the one after `cursor`), at most `limit` spans."""
    after = parse_cursor(cursor) if cursor else None
    found = store.get_trace_page(normalise_id(trace_id), after=after, limit=limit + 1)
    spans, more = found[:limit], len(found) > limit
    last = spans[-1] if spans else None
    return TracePage(spans, f"{last.start_ns}:{last.span_id}" if more and last else None)


def span(store: SpanReader, trace_id: str, span_id: str) -> SpanRecord | None:
    """One span, or None."""
    return store.get_span(normalise_id(trace_id), normalise_id(span_id))


def spans_by_event(store: SpanReader, event_id: str, *, limit: int = 1000) -> list[SpanRecord]:
    """Spans of one event (CloudEvents id or message id recorded as event id), newest first."""
    return store.find_spans(event_id=event_id, limit=limit)


def spans_by_key(store: SpanReader, key: str, *, topic: str | None = None, limit: int = 1000) -> list[SpanRecord]:
    """Spans of messages with one key (optionally on one topic), newest first."""
    return store.find_spans(key=key, topic=topic, limit=limit)


def spans_by_record(store: SpanReader, topic: str, partition: int, offset: int) -> list[SpanRecord]:
    """Spans of the record at (topic, partition, offset): its send span (once acknowledged) and its consumers."""
    return store.find_spans(topic=topic, partition=partition, offset=offset)


def consumers_of(store: SpanReader, trace_id: str, span_id: str) -> list[SpanRecord]:
    """Spans that consumed the message sent by a span (children and spans linking to it)."""
    return store.spans_linking_to(normalise_id(trace_id), normalise_id(span_id))


def services(store: SpanReader) -> list[str]:
    """Every service name seen, sorted."""
    return store.services()


def edge_rollups(store: RollupReader, start_ns: int, end_ns: int, *, topic: str | None = None,
                 producer: str | None = None, consumer: str | None = None) -> list[EdgeRollup]:
    """Per-minute edge rollups in [start_ns, end_ns), optionally for one topic, producer or consumer service."""
    return [r for r in store.edge_rollups(start_ns, end_ns)
            if (topic is None or r.topic == topic) and (producer is None or r.producer == producer)
            and (consumer is None or r.consumer == consumer)]


def merge_edges(rows: Iterable[EdgeRollup]) -> list[EdgeRollup]:
    """Sum per-minute rollups per edge over the whole window (`minute` is the first minute seen), sorted."""
    out: dict[tuple[str | None, str, str | None, str | None], EdgeRollup] = {}
    for r in rows:
        key = (r.producer, r.topic, r.consumer_group, r.consumer)
        prev = out.get(key)
        out[key] = r if prev is None else EdgeRollup(
            min(prev.minute, r.minute), r.producer, r.topic, r.consumer_group, r.consumer, prev.count + r.count,
            prev.errors + r.errors, prev.bytes + r.bytes, prev.latency_sum_s + r.latency_sum_s,
            tuple(a + b for a, b in zip(prev.latency_buckets, r.latency_buckets, strict=True)))
    return sorted(out.values(), key=lambda e: (e.topic, e.producer or "", e.consumer_group or "", e.consumer or ""))


def edge_totals(store: RollupReader, start_ns: int, end_ns: int) -> list[EdgeRollup]:
    """One aggregate per edge over [start_ns, end_ns): what a topology or a table of edges shows."""
    return merge_edges(store.edge_rollups(start_ns, end_ns))


def mean_latency_s(edge: EdgeRollup) -> float | None:
    """Mean end-to-end latency of an edge rollup (None when it recorded no latency)."""
    n = sum(edge.latency_buckets)
    return edge.latency_sum_s / n if n else None
