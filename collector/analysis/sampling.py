"""Counts estimated from sampled spans, checked against the exact messaging metrics; pure.

Each stored `send` / `process` span stands for its adjusted count of messages (1 / sampling probability,
from its threshold; 1 when it carries none). Per edge side — (service, topic) for sends, (service, topic,
group) for processing — the estimate is the sum of adjusted counts (Horvitz–Thompson), with variance
Σ a·(a − 1) over the kept spans. The exact counts (the instrumentation's `messaging.client.sent.messages` and
`messaging.client.consumed.messages`) stay the source of truth; `check` puts the two side by side.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from eventlens.collector.adjusted import span_adjusted_count
from eventlens.collector.model import SpanKind, SpanRecord

EdgeSide = tuple[str, str, str, str | None]
"""(side `send` or `consume`, service, topic, consumer group or None)."""


@dataclass(frozen=True, slots=True)
class EdgeEstimate:
    """Messages on one edge side estimated from its stored spans."""

    side: str
    service: str
    topic: str
    group: str | None
    spans: int
    estimated: float
    variance: float
    without_threshold: int
    """Spans that carried no threshold (counted as 1: their adjusted count is unknown)."""


@dataclass(frozen=True, slots=True)
class SamplingCheck:
    """One edge side: estimated from sampled spans against the exact metric (ratio = estimated / exact)."""

    side: str
    service: str
    topic: str
    group: str | None
    spans: int
    estimated: float
    stderr: float
    exact: int | None
    ratio: float | None
    within_error: bool | None
    """|estimated − exact| ≤ 3 standard errors (None when there is no exact count)."""


def edge_side(span: SpanRecord) -> EdgeSide | None:
    """The edge side a span counts one message for: sends and per-record process spans (else None)."""
    m = span.messaging
    if m.topic is None:
        return None
    if span.kind is SpanKind.PRODUCER:
        return "send", span.service, m.topic, None
    if span.kind is SpanKind.CONSUMER and span.name.startswith("process"):
        return "consume", span.service, m.topic, m.consumer_group
    return None


def estimate(spans: Iterable[SpanRecord]) -> list[EdgeEstimate]:
    """Per edge side: stored spans, estimated messages and the estimate's variance."""
    acc: dict[EdgeSide, list[float]] = {}
    for span in spans:
        key = edge_side(span)
        if key is None:
            continue
        a = span_adjusted_count(span)
        row = acc.setdefault(key, [0, 0.0, 0.0, 0])
        row[0] += 1
        if a is None:
            row[3] += 1
            a = 1.0
        row[1] += a
        row[2] += a * (a - 1.0)
    return [EdgeEstimate(k[0], k[1], k[2], k[3], int(v[0]), v[1], v[2], int(v[3]))
            for k, v in sorted(acc.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2], kv[0][3] or ""))]


def check(estimates: Iterable[EdgeEstimate], exact: Mapping[EdgeSide, int]) -> list[SamplingCheck]:
    """Each estimate beside its exact count (edge sides only one of them knows are listed too)."""
    out: list[SamplingCheck] = []
    seen: set[EdgeSide] = set()
    for e in estimates:
        key = (e.side, e.service, e.topic, e.group)
        seen.add(key)
        out.append(_check(key, e.spans, e.estimated, math.sqrt(e.variance), exact.get(key)))
    for key, count in sorted(exact.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2], kv[0][3] or "")):
        if key not in seen:
            out.append(_check(key, 0, 0.0, 0.0, count))
    return out


def _check(key: EdgeSide, spans: int, estimated: float, stderr: float, exact: int | None) -> SamplingCheck:
    ratio = estimated / exact if exact else None
    within = None if exact is None else abs(estimated - exact) <= 3 * max(stderr, 1.0)
    return SamplingCheck(key[0], key[1], key[2], key[3], spans, estimated, stderr, exact, ratio, within)
