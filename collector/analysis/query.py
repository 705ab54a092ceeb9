"""The analysis query layer: reads what each analysis needs from a store and hands it to the pure functions.

This is the fixed public API the dashboard, the CLI and the HTTP API use. Topology, coupling and schemas read
rollups (plus a bounded span sample for request/reply pairs); lineage walks spans through the store's
indexes (`find_spans`, `get_trace`, `spans_linking_to`, `get_span`) with a bound on what it loads.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from eventlens.collector.adjusted import SAMPLING_THRESHOLD
from eventlens.collector.analysis.completeness import lineage_hops
from eventlens.collector.analysis.coupling import DEFAULT_REPLY_WINDOW_S, build_coupling
from eventlens.collector.analysis.exports import (
    EXPORT_FORMATS,
    GRAPH_EXPORTERS,
    asyncapi_json,
    asyncapi_yaml,
    build_asyncapi,
)
from eventlens.collector.analysis.lineage import DEFAULT_MAX_NODES, build_lineage, is_event, is_handling
from eventlens.collector.analysis.sampling import EdgeSide, SamplingCheck, check, estimate
from eventlens.collector.analysis.schemas import build_schemas, load_deprecations
from eventlens.collector.analysis.topology import LagByGroupTopic, build_topology
from eventlens.collector.consumed import creation_links
from eventlens.collector.model import (
    NS_PER_MINUTE,
    CouplingReport,
    Deprecation,
    LagSample,
    Lineage,
    LineageHop,
    LineageNodeKind,
    SchemaReport,
    SpanRecord,
    Topology,
)
from eventlens.collector.storage.protocol import Store
from eventlens.instrumentation.attributes import PAYLOAD

__all__ = ["EXPORT_FORMATS", "coupling", "export_graph", "lineage", "sampling_check", "schemas", "topology"]

LAG_LOOKBACK_NS = 10 * NS_PER_MINUTE
"""Topology lag: the latest sample per partition from the last ten minutes of the window."""
REPLY_SPAN_SAMPLE = 5000
"""Coupling: how many of the window's newest spans are scanned for request/reply pairs."""
PAYLOAD_SPAN_SAMPLE = 5000
"""AsyncAPI: how many of the window's newest spans are looked at for opted-in payload samples."""
PAYLOADS_PER_MESSAGE = 20
SEED_LIMIT = 50
MISSING_INPUT_LOOKUPS = 200
"""Lineage completeness: at most this many linked inputs are looked up in the store one by one."""
COMPLETENESS_MARGIN_NS = 10 * NS_PER_MINUTE
"""Lineage completeness: rollups and lag samples this long before and after the lineage are read."""
SAMPLING_SPAN_LIMIT = 200_000
"""Sampling check: how many of the window's newest spans are read for the estimate."""


def latest_lag(samples: Iterable[LagSample]) -> LagByGroupTopic:
    """(group, topic) → (offset lag summed over partitions' latest samples, max lag in seconds)."""
    latest: dict[tuple[str, str, int], LagSample] = {}
    for s in samples:
        k = (s.group, s.topic, s.partition)
        if k not in latest or s.observed_at_ns >= latest[k].observed_at_ns:
            latest[k] = s
    out: dict[tuple[str, str], tuple[int | None, float | None]] = {}
    for (group, topic, _), s in latest.items():
        offsets, seconds = out.get((group, topic), (0, None))
        lag = None if s.committed_offset is None else max(0, s.end_offset - s.committed_offset)
        total = None if offsets is None or lag is None else offsets + lag
        if s.lag_seconds is not None:
            seconds = s.lag_seconds if seconds is None else max(seconds, s.lag_seconds)
        out[(group, topic)] = (total, seconds)
    return out


def topology(store: Store, start_ns: int, end_ns: int) -> Topology:
    """Service → topic → group → service over [start_ns, end_ns) from the edge rollups, with the latest lag."""
    samples = store.lag_samples(since_ns=max(start_ns, end_ns - LAG_LOOKBACK_NS), until_ns=end_ns)
    return build_topology(store.edge_rollups(start_ns, end_ns), start_ns, end_ns, latest_lag(samples))


def _seed_spans(store: Store, *, event_id: str | None, trace_id: str | None, key: str | None, topic: str | None,
                partition: int | None, offset: int | None) -> list[SpanRecord]:
    if event_id is not None:
        return store.find_spans(event_id=event_id, limit=SEED_LIMIT)
    if trace_id is not None:
        return [s for s in store.get_trace(trace_id) if is_event(s) or is_handling(s)]
    if key is not None:
        return store.find_spans(key=key, topic=topic, partition=partition, limit=SEED_LIMIT)
    if topic is not None and offset is not None:
        return store.find_spans(topic=topic, partition=partition, offset=offset, limit=SEED_LIMIT)
    raise ValueError("lineage needs an event id, a trace id, a key, or a topic with an offset")


def _produced_under(handling: SpanRecord, trace: list[SpanRecord]) -> bool:
    """True when a send in the handling's trace descends from it (the handling produced something)."""
    parents = {s.span_id: s.parent_span_id for s in trace}
    for span in trace:
        if not is_event(span):
            continue
        cursor, seen = span.parent_span_id, set()
        while cursor is not None and cursor not in seen:
            if cursor == handling.span_id:
                return True
            seen.add(cursor)
            cursor = parents.get(cursor)
    return False


def gather_lineage_spans(store: Store, seeds: list[SpanRecord], max_spans: int) -> list[SpanRecord]:
    """Spans around the seeds: their traces, the consumers linking to each send, the spans each send or
    handling links to, and their traces in turn — breadth first, until `max_spans` are loaded. A handling's
    links are followed only when it is a seed or produced something: the other records of a poll batch are
    not loaded (the lineage does not walk to them, see `lineage.build_lineage`)."""
    spans: dict[tuple[str, str], SpanRecord] = {}
    traces: dict[str, list[SpanRecord]] = {}
    seed_keys = {(s.trace_id, s.span_id) for s in seeds}
    todo: deque[SpanRecord] = deque()

    def add(span: SpanRecord) -> None:
        k = (span.trace_id, span.span_id)
        if k not in spans and len(spans) < max_spans:
            spans[k] = span
            if is_event(span) or is_handling(span):
                todo.append(span)

    def load_trace(trace_id: str) -> None:
        if trace_id not in traces and len(spans) < max_spans:
            traces[trace_id] = store.get_trace(trace_id)
            for span in traces[trace_id]:
                add(span)

    def follows_links(span: SpanRecord) -> bool:
        if is_event(span) or (span.trace_id, span.span_id) in seed_keys:
            return True
        return _produced_under(span, traces.get(span.trace_id, []))

    for seed in seeds:
        add(seed)
        load_trace(seed.trace_id)
    while todo and len(spans) < max_spans:
        span = todo.popleft()
        if is_event(span):
            for consumer in store.spans_linking_to(span.trace_id, span.span_id):
                add(consumer)
                load_trace(consumer.trace_id)
        if not follows_links(span):
            continue
        for link in span.links:
            if (link.trace_id, link.span_id) in spans:
                continue
            target = store.get_span(link.trace_id, link.span_id)
            if target is not None:
                add(target)
                load_trace(target.trace_id)
    return list(spans.values())


def lineage(store: Store, *, event_id: str | None = None, trace_id: str | None = None, key: str | None = None,
            topic: str | None = None, partition: int | None = None, offset: int | None = None,
            max_nodes: int = DEFAULT_MAX_NODES) -> Lineage:
    """The causal DAG of the event(s) found by event id, trace id, key (optionally on a topic) or
    topic/partition/offset, across services and traces; at most `max_nodes` nodes (`truncated` says so)."""
    seeds = _seed_spans(store, event_id=event_id, trace_id=trace_id, key=key, topic=topic, partition=partition,
                        offset=offset)
    if not seeds:
        return Lineage()
    spans = gather_lineage_spans(store, seeds, max_spans=max(100, 20 * max_nodes))
    built = build_lineage(spans, [(s.trace_id, s.span_id) for s in seeds], max_nodes=max_nodes)
    return replace(built, hops=_hops(store, built, spans)) if built.nodes else built


def _hops(store: Store, built: Lineage, spans: list[SpanRecord]) -> tuple[LineageHop, ...]:
    """The lineage's hops with their completeness, from the store's spans, rollups and lag samples around it."""
    missing, contextless, sampled = _node_facts(store, built, {(s.trace_id, s.span_id): s for s in spans})
    start = min(n.start_ns for n in built.nodes) - COMPLETENESS_MARGIN_NS
    end = max(n.start_ns for n in built.nodes) + COMPLETENESS_MARGIN_NS
    rollups = store.edge_rollups(start, end)
    span_groups: dict[str, set[str]] = {}
    for r in rollups:
        if r.consumer_group is not None:
            span_groups.setdefault(r.topic, set()).add(r.consumer_group)
    broker_groups: dict[str, set[str]] = {}
    for sample in store.lag_samples(since_ns=start, until_ns=end):
        broker_groups.setdefault(sample.topic, set()).add(sample.group)
    return lineage_hops(built, missing_inputs=missing, contextless=contextless, sampled_events=sampled,
                        producer_topics={r.topic for r in rollups if r.producer is not None},
                        span_groups=span_groups, broker_groups=broker_groups)


def _node_facts(store: Store, built: Lineage, loaded: dict[tuple[str, str], SpanRecord]
                ) -> tuple[dict[str, list[tuple[str, str]]], set[str], set[str]]:
    """(handling → its inputs not in the store, handlings whose record had no context, events kept by a
    probability sampler)."""
    missing: dict[str, list[tuple[str, str]]] = {}
    contextless: set[str] = set()
    sampled: set[str] = set()
    lookups = [MISSING_INPUT_LOOKUPS]
    for node in built.nodes:
        span = loaded.get((node.trace_id, node.span_id))
        if span is None:
            continue
        if node.kind is LineageNodeKind.EVENT:
            th = span.attributes.get(SAMPLING_THRESHOLD)
            if isinstance(th, str) and th != "0":
                sampled.add(node.id)
            continue
        refs = list(creation_links(span))
        if span.parent_span_id is not None:
            refs.append((span.trace_id, span.parent_span_id))
        if not refs:
            contextless.add(node.id)
        absent = [ref for ref in refs if ref not in loaded and not _stored(store, ref, span.trace_id, lookups)]
        if absent:
            missing[node.id] = absent
    return missing, contextless, sampled


def _stored(store: Store, ref: tuple[str, str], own_trace: str, lookups: list[int]) -> bool:
    """Whether a referenced span not loaded is in the store (a linked record; its own trace is fully loaded).
    Past the lookup budget, assume it is (never report a hop missing without looking)."""
    if ref[0] == own_trace:
        return False
    if lookups[0] <= 0:
        return True
    lookups[0] -= 1
    return store.get_span(*ref) is not None


def coupling(store: Store, start_ns: int, end_ns: int, *, reply_window_s: float = DEFAULT_REPLY_WINDOW_S,
             span_sample: int = REPLY_SPAN_SAMPLE) -> CouplingReport:
    """Coupling over [start_ns, end_ns): from rollups and schema sightings; request/reply pairs from the
    window's newest `span_sample` spans."""
    topo = build_topology(store.edge_rollups(start_ns, end_ns), start_ns, end_ns)
    spans = store.find_spans(start_ns=start_ns, end_ns=end_ns, limit=span_sample) if span_sample > 0 else []
    return build_coupling(topo, store.schema_sightings(start_ns, end_ns), spans, reply_window_s=reply_window_s)


def schemas(store: Store, start_ns: int, end_ns: int,
            deprecations: Iterable[Deprecation] | str | Path = ()) -> SchemaReport:
    """Schema versions, drift and deprecation violations over [start_ns, end_ns); `deprecations` are parsed
    entries or the path of a deprecations YAML file."""
    deps = load_deprecations(deprecations) if isinstance(deprecations, str | Path) else tuple(deprecations)
    return build_schemas(store.schema_sightings(start_ns, end_ns), start_ns, end_ns, deps)


def payload_samples(store: Store, start_ns: int, end_ns: int,
                    span_sample: int = PAYLOAD_SPAN_SAMPLE) -> dict[tuple[str, str], list[str]]:
    """(topic, event type) → opted-in payloads (`eventlens.payload`) of send spans among the window's newest
    `span_sample` spans (one bounded read; at most PAYLOADS_PER_MESSAGE per message)."""
    out: dict[tuple[str, str], list[str]] = {}
    for span in store.find_spans(start_ns=start_ns, end_ns=end_ns, limit=span_sample):
        payload = span.attributes.get(PAYLOAD)
        if is_event(span) and isinstance(payload, str) and span.messaging.topic:
            samples = out.setdefault((span.messaging.topic, span.messaging.event_type or ""), [])
            if len(samples) < PAYLOADS_PER_MESSAGE:
                samples.append(payload)
    return out


def export_graph(store: Store, fmt: str, start_ns: int, end_ns: int) -> str:
    """The window's topology in one of `EXPORT_FORMATS` (AsyncAPI also uses schema sightings and payloads)."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; one of {', '.join(EXPORT_FORMATS)}")
    topo = topology(store, start_ns, end_ns)
    if fmt in GRAPH_EXPORTERS:
        return GRAPH_EXPORTERS[fmt](topo)
    document = build_asyncapi(topo, store.schema_sightings(start_ns, end_ns),
                              payload_samples(store, start_ns, end_ns))
    return asyncapi_json(document) if fmt == "asyncapi-json" else asyncapi_yaml(document)


def sampling_check(store: Store, start_ns: int, end_ns: int,
                   exact: Mapping[EdgeSide, int]) -> list[SamplingCheck]:
    """Per edge side: messages estimated from the window's sampled spans (adjusted counts) against `exact`
    (the instrumentation's counters over the same window), with the ratio."""
    spans = store.find_spans(start_ns=start_ns, end_ns=end_ns, limit=SAMPLING_SPAN_LIMIT)
    return check(estimate(spans), exact)
