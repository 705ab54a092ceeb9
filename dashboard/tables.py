"""Pure builders from the collector's model types to table and chart rows, and labels for people.

No Streamlit, no store: tested alone. Pages turn the row lists into data frames; every value is plain data
(shown as text by tables and charts, never as HTML).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from eventlens.collector.model import (
    NS_PER_S,
    CouplingReport,
    GroupStatus,
    HopStatus,
    LagSample,
    LagStatus,
    Lineage,
    LineageNode,
    NodeKind,
    SchemaReport,
    SpanKind,
    SpanRecord,
    Topology,
)

Row = dict[str, object]
"""One table or chart row: column name → value."""


# --- traces ---------------------------------------------------------------------------------------------


def recent_events(spans: Iterable[SpanRecord], limit: int = 15) -> list[SpanRecord]:
    """The event that started each recent flow: the earliest producer span of each trace, newest flow first."""
    first: dict[str, SpanRecord] = {}
    for span in spans:
        if span.kind is SpanKind.PRODUCER:
            seen = first.get(span.trace_id)
            if seen is None or (span.start_ns, span.span_id) < (seen.start_ns, seen.span_id):
                first[span.trace_id] = span
    return sorted(first.values(), key=lambda s: (-s.start_ns, s.span_id))[:limit]


def event_title(span: SpanRecord) -> str:
    """A one-line description of a produced event: type (when known), producer, topic and key."""
    msg = span.messaging
    where = f" → {msg.topic}" if msg.topic else ""
    key = f" (key {msg.key})" if msg.key else ""
    return f"{msg.event_type or 'event'} from {span.service}{where}{key}"


def attribute_rows(span: SpanRecord) -> list[Row]:
    """The span's attributes, then its resource attributes, as (scope, key, value) rows; values as text."""
    rows: list[Row] = [{"scope": "span", "key": k, "value": _text(v)} for k, v in sorted(span.attributes.items())]
    rows += [{"scope": "resource", "key": k, "value": _text(v)} for k, v in sorted(span.resource.items())]
    rows += [{"scope": "link", "key": f"link {i + 1}", "value": f"{link.trace_id}/{link.span_id}"}
             for i, link in enumerate(span.links)]
    if span.status_message:
        rows.append({"scope": "status", "key": "message", "value": span.status_message})
    return rows


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


# --- topology -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Traffic:
    """Headline traffic over a window: topics seen, messages produced per second, share of failed messages."""

    topics: int
    messages: int
    produced_per_s: float
    error_rate: float | None


def traffic(topology: Topology) -> Traffic:
    """Totals over a topology: produce edges (service → topic) count messages; errors over every edge's traffic."""
    produce = [e for e in topology.edges if e.source.startswith("service:") and e.target.startswith("topic:")]
    seen = sum(e.messages for e in topology.edges)
    return Traffic(
        topics=sum(1 for n in topology.nodes if n.kind is NodeKind.TOPIC),
        messages=sum(e.messages for e in produce),
        produced_per_s=sum(e.rate_per_s for e in produce),
        error_rate=(sum(e.errors for e in topology.edges) / seen) if seen else None,
    )


def topology_edge_rows(topology: Topology, keep: Iterable[tuple[str, str]] | None = None) -> list[Row]:
    """One row per edge (only those in `keep`, when given): names, traffic, latency percentiles, lag, partial."""
    names = {n.id: n.name for n in topology.nodes}
    wanted = set(keep) if keep is not None else None
    rows: list[Row] = []
    for e in topology.edges:
        if wanted is not None and (e.source, e.target) not in wanted:
            continue
        rows.append({
            "from": names.get(e.source, e.source),
            "to": names.get(e.target, e.target),
            "topic": e.topic,
            "messages": e.messages,
            "per_s": round(e.rate_per_s, 3),
            "errors": e.errors,
            "bytes": e.bytes,
            "p50": str(Duration(e.latency.p50_s)),
            "p95": str(Duration(e.latency.p95_s)),
            "lag_offsets": e.lag_offsets,
            "lag": str(Duration(e.lag_seconds)),
            "partial": e.partial_reason if e.partial else "",
        })
    return rows


# --- lineage ------------------------------------------------------------------------------------------------


def _ordered(lineage: Lineage) -> list[LineageNode]:
    return sorted(lineage.nodes, key=lambda n: (n.start_ns, n.id))


def lineage_node_rows(lineage: Lineage) -> list[Row]:
    """One row per lineage node (event or handling), by start time, with its message coordinates and the
    language of the service's SDK (lineage crosses Python, Java and Node services); then one row per missing
    hop. The `spans` column says whether the hop's spans are present, or why they are missing."""
    return [*_present_rows(lineage), *_missing_rows(lineage)]


def lineage_completeness(lineage: Lineage) -> str:
    """One line for the lineage page: how many hops are present and how many are missing, by reason."""
    counts: dict[HopStatus, int] = {}
    for h in lineage.hops:
        counts[h.status] = counts.get(h.status, 0) + 1
    present = counts.pop(HopStatus.PRESENT, len(lineage.nodes))
    if not counts:
        return f"Complete: all {present} hops' spans are present."
    missing = ", ".join(f"{n} {status.value.removeprefix('missing: ')}" for status, n in counts.items())
    return f"{present} hops present; {sum(counts.values())} missing ({missing}): see the `spans` column."


def _missing_rows(lineage: Lineage) -> list[Row]:
    """A row per hop whose spans are missing: a handling's input or a consumer group that did not handle."""
    return [
        {
            "spans": h.status.value,
            "kind": "consumer" if h.consumer_group is not None else "input",
            "topic": h.topic,
            "group": h.consumer_group,
            "trace_id": h.trace_id,
            "span_id": h.span_id,
        }
        for h in lineage.hops if h.status is not HopStatus.PRESENT
    ]


def _present_rows(lineage: Lineage) -> list[Row]:
    return [
        {
            "spans": HopStatus.PRESENT.value,
            "service": n.service,
            "language": n.language,
            "kind": n.kind.value,
            "start": _iso(n.start_ns),
            "duration_ms": round(n.duration_ns / 1e6, 3),
            "topic": n.topic,
            "partition": n.partition,
            "offset": n.offset,
            "key": n.key,
            "event_type": n.event_type,
            "event_id": n.event_id,
            "group": n.consumer_group,
            "error": n.error,
            "trace_id": n.trace_id,
            "span_id": n.span_id,
        }
        for n in _ordered(lineage)
    ]


def lineage_timeline_rows(lineage: Lineage) -> list[Row]:
    """Gantt rows for a lineage: one bar per hop in ms since the first, waiting time included in the gaps."""
    nodes = _ordered(lineage)
    if not nodes:
        return []
    origin = nodes[0].start_ns
    return [
        {
            "hop": f"{i + 1:02d} {n.service} · {n.kind.value} {n.event_type or n.topic or ''}".rstrip(),
            "service": n.service,
            "start_ms": (n.start_ns - origin) / 1e6,
            "end_ms": (n.start_ns - origin + max(n.duration_ns, 1000)) / 1e6,
            "kind": n.kind.value,
            "error": n.error,
        }
        for i, n in enumerate(nodes)
    ]


def lineage_choice(node: LineageNode) -> str:
    """The label of a lineage node in the inspect selector."""
    what = node.event_type or node.topic or ""
    return f"{node.service} · {node.kind.value} {what}".rstrip()


# --- coupling -----------------------------------------------------------------------------------------------


def coupling_matrix_rows(report: CouplingReport) -> list[Row]:
    """The service × service matrix in long form (producer, consumer, messages), zeros included."""
    names = report.matrix_services
    return [
        {"producer": src, "consumer": dst, "messages": report.matrix[i][j]}
        for i, src in enumerate(names)
        for j, dst in enumerate(names)
        if i < len(report.matrix) and j < len(report.matrix[i])
    ]


def coupling_metric_rows(report: CouplingReport) -> list[Row]:
    """One row per service: fan-in/out, afferent/efferent coupling, instability, topics."""
    return [
        {
            "service": s.service,
            "fan_in": s.fan_in,
            "fan_out": s.fan_out,
            "afferent": s.afferent,
            "efferent": s.efferent,
            "instability": None if s.instability is None else round(s.instability, 2),
            "produces": ", ".join(s.topics_produced),
            "consumes": ", ".join(s.topics_consumed),
        }
        for s in sorted(report.services, key=lambda s: s.service)
    ]


def blast_radius_rows(report: CouplingReport, event_type: str) -> list[Row]:
    """Who a change to `event_type` reaches: producers, direct consumers, then transitive downstream services."""
    radius = next((b for b in report.blast_radius if b.event_type == event_type), None)
    if radius is None:
        return []
    reach = [("producer", radius.producers), ("direct consumer", radius.direct), ("downstream", radius.transitive)]
    return [{"service": service, "reach": how} for how, services in reach for service in services]


def temporal_rows(report: CouplingReport) -> list[Row]:
    """Request/reply pairs acting like synchronous calls."""
    return [
        {"requester": t.requester, "replier": t.replier, "request_topic": t.request_topic,
         "reply_topic": t.reply_topic, "pairs": t.pairs, "median_round_trip": str(Duration(t.median_round_trip_s)),
         "max_round_trip": str(Duration(t.max_round_trip_s))}
        for t in report.temporal
    ]


# --- schemas ------------------------------------------------------------------------------------------------


def schema_rows(report: SchemaReport) -> list[Row]:
    """One row per (event type, version): fingerprint, first/last seen, producers, consumers, counts."""
    return [
        {
            "event_type": v.event_type,
            "version": v.label,
            "fingerprint": v.fingerprint,
            "first_seen": _iso(v.first_seen_ns),
            "last_seen": _iso(v.last_seen_ns),
            "producers": ", ".join(v.producers),
            "consumers": ", ".join(v.consumers),
            "messages": v.count,
            "consumer_errors": v.consumer_errors,
        }
        for t in report.event_types
        for v in t.versions
    ]


def drift_rows(report: SchemaReport) -> list[Row]:
    """Schema drift, newest first: who started sending which new fingerprint, and who fails on it."""
    return [
        {"at": _iso(d.at_ns), "event_type": d.event_type, "producer": d.producer, "from": d.previous_fingerprint,
         "to": d.new_fingerprint, "consumer_errors": d.consumer_errors,
         "failing_consumers": ", ".join(d.failing_consumers)}
        for d in sorted(report.drifts, key=lambda d: -d.at_ns)
    ]


def violation_rows(report: SchemaReport) -> list[Row]:
    """Deprecated versions still in use after their date."""
    return [
        {"event_type": v.deprecation.event_type, "version": v.deprecation.version, "fingerprint": v.fingerprint,
         "deprecated_after": _iso(v.deprecation.deprecated_after_ns), "last_seen": _iso(v.last_seen_ns),
         "producers": ", ".join(v.producers), "consumers": ", ".join(v.consumers)}
        for v in report.violations
    ]
