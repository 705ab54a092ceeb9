"""Pure builders from the collector's model types to what the pages render: networkx graphs (drawn via
`eventlens.dashboard.dot`), and row lists for tables and charts. No Streamlit, no store: tested alone."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import networkx as nx
from eventlens.collector.model import NS_PER_S, GroupStatus, LagSample, LagStatus, SpanKind, SpanRecord

Row = dict[str, object]
"""One table or chart row: column name → value (pages turn lists of these into data frames)."""


# --- traces ---------------------------------------------------------------------------------------------


def span_label(span: SpanRecord) -> tuple[str, ...]:
    """The lines shown on a span's node: service, span name, and the event type or id when known."""
    msg = span.messaging
    event = msg.event_type or msg.event_id or ""
    return tuple(line for line in (span.service, span.name, event) if line)


def trace_graph(spans: Sequence[SpanRecord]) -> nx.DiGraph:
    """A DAG of spans: parent → child edges, and dashed link edges from a linked span to the linking one.

    Spans are keyed `(trace_id, span_id)`; parents or linked spans not among `spans` are left out.
    """
    graph = nx.DiGraph()
    for span in spans:
        kind = "event" if span.kind is SpanKind.PRODUCER else "handling"
        graph.add_node((span.trace_id, span.span_id), label=span_label(span), kind=kind, error=span.is_error)
    for span in spans:
        node = (span.trace_id, span.span_id)
        parent = (span.trace_id, span.parent_span_id) if span.parent_span_id else None
        if parent is not None and parent in graph:
            graph.add_edge(parent, node)
        for link in span.links:
            linked = (link.trace_id, link.span_id)
            if linked in graph and not graph.has_edge(linked, node):
                graph.add_edge(linked, node, partial=True, label="link")
    return graph


def recent_events(spans: Iterable[SpanRecord], limit: int = 15) -> list[SpanRecord]:
    """The newest producer span of each of the most recent traces: one entry per recent event flow."""
    seen: set[str] = set()
    picked: list[SpanRecord] = []
    for span in sorted(spans, key=lambda s: -s.start_ns):
        if span.kind is SpanKind.PRODUCER and span.trace_id not in seen:
            seen.add(span.trace_id)
            picked.append(span)
    return picked[:limit]


def event_title(span: SpanRecord) -> str:
    """A one-line description of a produced event: type (or span name), producer, topic."""
    msg = span.messaging
    what = msg.event_type or span.name
    where = f" → {msg.topic}" if msg.topic else ""
    return f"{what} from {span.service}{where}"


def span_choice(span: SpanRecord) -> str:
    """The label of a span in the inspect selector: start order is given by the caller's list."""
    return f"{span.service} · {span.name} ({span.kind.name.lower()})"


def span_rows(spans: Iterable[SpanRecord]) -> list[Row]:
    """One row per span for the selectable spans table, oldest first."""
    rows: list[Row] = []
    for span in sorted(spans, key=lambda s: (s.start_ns, s.span_id)):
        msg = span.messaging
        rows.append({
            "service": span.service,
            "span": span.name,
            "kind": span.kind.name.lower(),
            "start": _iso(span.start_ns),
            "duration_ms": round(span.duration_ns / 1e6, 3),
            "topic": msg.topic,
            "partition": msg.partition,
            "offset": msg.offset,
            "event_type": msg.event_type,
            "event_id": msg.event_id,
            "error": span.is_error,
            "trace_id": span.trace_id,
            "span_id": span.span_id,
        })
    return rows


def timeline_rows(spans: Iterable[SpanRecord]) -> list[Row]:
    """Gantt rows (one bar per span), times in milliseconds since the first span started."""
    ordered = sorted(spans, key=lambda s: (s.start_ns, s.span_id))
    if not ordered:
        return []
    origin = ordered[0].start_ns
    return [
        {
            "hop": f"{i + 1:02d} {span.service} · {span.name}",
            "service": span.service,
            "start_ms": (span.start_ns - origin) / 1e6,
            "end_ms": max(span.end_ns - origin, span.start_ns - origin + 1000) / 1e6,
            "kind": span.kind.name.lower(),
            "error": span.is_error,
        }
        for i, span in enumerate(ordered)
    ]


def attribute_rows(span: SpanRecord) -> list[Row]:
    """The span's attributes, then its resource attributes, as (scope, key, value) rows; values as text."""
    rows: list[Row] = [{"scope": "span", "key": k, "value": _text(v)} for k, v in sorted(span.attributes.items())]
    rows += [{"scope": "resource", "key": k, "value": _text(v)} for k, v in sorted(span.resource.items())]
    rows += [{"scope": "link", "key": f"link {i + 1}", "value": f"{link.trace_id}/{link.span_id}"}
             for i, link in enumerate(span.links)]
    if span.status_message:
        rows.append({"scope": "status", "key": "message", "value": span.status_message})
    return rows


def business_story(spans: Iterable[SpanRecord]) -> tuple[str, ...]:
    """Event types in the order they were first produced (falls back to consumed ones), without repeats."""
    story: list[str] = []
    for span in sorted(spans, key=lambda s: (s.kind is not SpanKind.PRODUCER, s.start_ns)):
        event_type = span.messaging.event_type
        if event_type and event_type not in story:
            story.append(event_type)
    return tuple(story)


# --- lag ------------------------------------------------------------------------------------------------


def lag_rows(samples: Iterable[LagSample], *, topic: str | None = None) -> list[Row]:
    """One row per sample for the lag-over-time charts: time, `topic[partition]`, lag in offsets and seconds.

    A partition the group never committed on counts its whole end offset as lag.
    """
    rows: list[Row] = []
    for s in samples:
        if topic is not None and s.topic != topic:
            continue
        committed = s.committed_offset if s.committed_offset is not None else 0
        rows.append({
            "time": _iso(s.observed_at_ns),
            "partition": f"{s.topic}[{s.partition}]",
            "lag_offsets": max(0, s.end_offset - committed),
            "lag_seconds": s.lag_seconds,
        })
    return rows


def group_rows(statuses: Iterable[GroupStatus]) -> list[Row]:
    """One row per consumer group, worst status first: status, total lag, worst lag in seconds, completeness."""
    ordered = sorted(statuses, key=lambda g: (-int(g.status), g.group))
    return [
        {
            "group": g.group,
            "status": g.status.name,
            "total_lag": g.total_lag,
            "max_lag": str(Duration(g.max_lag_seconds)),
            "partitions": len(g.partitions),
            "time_to_drain": str(Duration(drain_seconds(g))),
            "complete": round(g.complete, 2),
        }
        for g in ordered
    ]


def partition_rows(group: GroupStatus) -> list[Row]:
    """One row per partition of a group: status, lag in offsets and seconds (`~` when estimated), drain time."""
    return [
        {
            "topic": p.topic,
            "partition": p.partition,
            "status": p.status.name,
            "lag_offsets": p.lag_offsets,
            "lag": _approx(p.lag_seconds_estimated and p.lag_seconds is not None) + str(Duration(p.lag_seconds)),
            "time_to_drain": str(Duration(p.time_to_drain_s)),
        }
        for p in sorted(group.partitions, key=lambda p: (p.topic, p.partition))
    ]


def drain_seconds(group: GroupStatus) -> float | None:
    """When the group will have caught up: its slowest partition's time to drain (None if unknown or none lag)."""
    known = [p.time_to_drain_s for p in group.partitions if p.time_to_drain_s is not None and p.lag_offsets > 0]
    return max(known) if known else None


def worst_group(statuses: Iterable[GroupStatus]) -> GroupStatus | None:
    """The group in the worst state (then with the most lag), or None when there are no groups."""
    candidates = [g for g in statuses if g.status is not LagStatus.NOTFOUND]
    return max(candidates, key=lambda g: (int(g.status), g.total_lag), default=None)


@dataclass(frozen=True, slots=True)
class Duration:
    """A duration rendered for people: `4 s`, `2 min 5 s`, `3 h 10 min`, or `—` when unknown."""

    seconds: float | None

    def __str__(self) -> str:
        if self.seconds is None:
            return "—"
        s = max(0.0, self.seconds)
        if s < 1:
            return f"{s * 1000:.0f} ms"
        if s < 60:
            return f"{s:.0f} s" if s >= 10 else f"{s:.1f} s"
        if s < 3600:
            return f"{int(s // 60)} min {int(s % 60)} s"
        if s < 86400:
            return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"
        return f"{int(s // 86400)} d {int(s % 86400 // 3600)} h"


def _approx(estimated: bool) -> str:
    return "~" if estimated else ""


def _iso(ns: int) -> str:
    import datetime as dt

    stamp = dt.datetime.fromtimestamp(ns / NS_PER_S, tz=dt.UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text(value: object) -> str:
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    return str(value)
