"""Rollup rules kept at ingest: per-minute edge aggregates, producer/consumer pairing, schema sightings.

Pure logic, no I/O: a storage backend hands in the newly stored spans and a way to look up spans it already
holds, and writes back what `plan` returns, inside the transaction that stored the spans. The rules:

- A PRODUCER span with a topic adds one message to the produce-side row (producer, topic, None, None) of the
  minute it started; its latency there is the send duration (send until acknowledged).
- A consumed message pairs with its producer span through its creation context (`consumed.py`): the consumer
  span's parent when that is a PRODUCER span, and every link naming a consumed record. A consumer span counts
  one message per creation context, or `messaging.batch.message_count` when larger (the records without a
  context count as partial), and at least one: a batch `process` span with no parent and three links to
  three producers is three messages, one per producer edge. `process` spans (and untyped CONSUMER spans) are
  always counted; a `receive`/`poll` span only for a (service, group) never seen emitting process spans, so
  a message is counted once. Latency is consume time − produce start, where consume time is a process span's
  start and a receive/poll span's end (its start is when waiting began). When a (service, group) emits its
  first process span, what its receive/poll spans stored within the pending TTL before it counted is
  retracted (`recount_receives`): those messages are now counted by their process spans.
- When the producer span is not stored yet, the consumption waits in `pending`; it pairs when the producer
  arrives, or becomes a partial edge (producer None) once older than the TTL. A message with no creation
  context at all (uninstrumented producer) is a partial edge at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from eventlens.collector.consumed import consumes_nothing, creation_links, message_count

# re-exported: the storage backends and the tests read these as rollup.*, where they lived before edge_acc.py
from eventlens.collector.edge_acc import N_BUCKETS as N_BUCKETS  # noqa: PLC0414
from eventlens.collector.edge_acc import EdgeAcc as EdgeAcc  # noqa: PLC0414
from eventlens.collector.edge_acc import bucket_index as bucket_index  # noqa: PLC0414
from eventlens.collector.model import (
    NS_PER_MINUTE,
    NS_PER_S,
    EdgeRollup,
    Operation,
    Role,
    SchemaSighting,
    SpanKind,
    SpanRecord,
    StatusCode,
)

DEFAULT_PENDING_TTL_NS = 5 * NS_PER_MINUTE
"""How long a consumption waits for its producer span before it is counted as a partial edge."""

EdgeKey = tuple[int, str | None, str, str | None, str | None]
"""(minute, producer service, topic, consumer group, consumer service)."""
SightingKey = tuple[int, str, str, str, Role, str]
"""(minute, event type, fingerprint, service, role, topic)."""
Emitter = tuple[str, str]
"""(consumer service, consumer group or "") known to emit process spans."""


def minute_of(ns: int) -> int:
    """Start of the minute holding `ns` (nanoseconds)."""
    return ns - ns % NS_PER_MINUTE


@dataclass(frozen=True, slots=True)
class SpanInfo:
    """What pairing needs to know about a span that may be a producer."""

    trace_id: str
    span_id: str
    kind: SpanKind
    service: str
    topic: str | None
    start_ns: int
    body_size: int | None


def info_of(span: SpanRecord) -> SpanInfo:
    """The pairing view of a span."""
    return SpanInfo(span.trace_id, span.span_id, span.kind, span.service, span.messaging.topic, span.start_ns,
                    span.messaging.body_size)


@dataclass(frozen=True, slots=True)
class Consumption:
    """One consumed message, waiting for (or paired with) the producer span named by its creation context."""

    producer_trace_id: str
    producer_span_id: str
    consumer: str
    consumer_group: str | None
    topic: str | None
    consumed_ns: int
    error: bool
    body_size: int | None
    seen_ns: int


@dataclass(slots=True)
class SightingAcc:
    """Mutable per-minute schema sighting accumulator."""

    first_seen_ns: int
    last_seen_ns: int
    count: int = 0
    errors: int = 0


@dataclass(slots=True)
class RollupBatch:
    """What one ingest batch adds: edge minutes, schema sightings, new pending consumptions, new emitters."""

    edges: dict[EdgeKey, EdgeAcc] = field(default_factory=dict)
    sightings: dict[SightingKey, SightingAcc] = field(default_factory=dict)
    pending: list[Consumption] = field(default_factory=list)
    new_emitters: set[Emitter] = field(default_factory=set)
    counted_receives: list[SpanRecord] = field(default_factory=list)
    """Receive/poll spans counted message by message here (their (service, group) emits no process spans yet)."""

    def edge(self, key: EdgeKey) -> EdgeAcc:
        """The accumulator of one edge minute (created empty)."""
        acc = self.edges.get(key)
        if acc is None:
            acc = self.edges[key] = EdgeAcc()
        return acc

    def paired(self, c: Consumption, producer: SpanInfo) -> None:
        """Count a consumption whose producer span is known."""
        topic = c.topic if c.topic is not None else (producer.topic or "")
        key = (minute_of(c.consumed_ns), producer.service, topic, c.consumer_group, c.consumer)
        nbytes = c.body_size if c.body_size is not None else producer.body_size
        self.edge(key).add(c.error, nbytes, (c.consumed_ns - producer.start_ns) / NS_PER_S)

    def partial(self, c: Consumption, n: int = 1) -> None:
        """Count a consumption whose producer is unknown (uninstrumented, or never arrived)."""
        key = (minute_of(c.consumed_ns), None, c.topic or "", c.consumer_group, c.consumer)
        self.edge(key).add(c.error, c.body_size, None, n)

    def resolve(self, c: Consumption, arrived: SpanInfo) -> None:
        """A pending consumption's creation-context span arrived: pair it, or count it partial if not a producer."""
        if arrived.kind is SpanKind.PRODUCER:
            self.paired(c, arrived)
        else:
            self.partial(c)

    def retract(self, counted: RollupBatch) -> None:
        """Subtract the edge counts of `counted` (what earlier batches added and that turned out double)."""
        for key, acc in counted.edges.items():
            target = self.edge(key)
            target.count -= acc.count
            target.errors -= acc.errors
            target.bytes -= acc.bytes
            target.latency_sum_s -= acc.latency_sum_s
            target.buckets = [a - b for a, b in zip(target.buckets, acc.buckets, strict=True)]

    def edge_rollups(self) -> list[EdgeRollup]:
        """The accumulated edge minutes as model objects."""
        return [acc.freeze(key) for key, acc in self.edges.items()]

    def schema_sightings(self) -> list[SchemaSighting]:
        """The accumulated sightings as model objects (one per minute and key)."""
        return [SchemaSighting(et, fp, svc, role, topic, a.first_seen_ns, a.last_seen_ns, a.count, a.errors)
                for (_m, et, fp, svc, role, topic), a in self.sightings.items()]


Lookup = Callable[[str, str], SpanInfo | None]


def is_process(span: SpanRecord) -> bool:
    """A span standing for the handling of one message."""
    op = span.messaging.operation
    return op is Operation.PROCESS or (op is None and span.kind is SpanKind.CONSUMER and not consumes_nothing(span))


def is_receive(span: SpanRecord) -> bool:
    """A receive/poll span (one per fetched batch, or per record in older instrumentations)."""
    return span.messaging.operation is Operation.RECEIVE and span.kind is not SpanKind.PRODUCER


def _consumption(span: SpanRecord, ctx: tuple[str, str], now_ns: int, batch: bool = False) -> Consumption:
    """One message `span` consumed; in a batch its size is its producer's, not the span's (a batch total)."""
    consumed = span.start_ns if is_process(span) else span.end_ns
    m = span.messaging
    return Consumption(ctx[0], ctx[1], span.service, m.consumer_group, m.topic, consumed, span.is_error,
                       None if batch else m.body_size, now_ns)


def _contexts(span: SpanRecord, look: Lookup) -> tuple[list[SpanInfo], list[tuple[str, str]], int]:
    """(producer spans found, contexts not stored yet, links to consumer spans) among a consumer span's creation
    contexts: a PRODUCER parent and every creation link, each once. A parent not stored yet is waited for only
    when the span has no creation link (else it is taken for a receive span, as the Java agent parents process
    spans); a link to a CONSUMER span (upstream aiokafka's `getmany` links its per-record spans) names a message
    that span counts."""
    links = creation_links(span)
    found: list[SpanInfo] = []
    missing: list[tuple[str, str]] = []
    elsewhere = 0
    parent = (span.trace_id, span.parent_span_id) if span.parent_span_id else None
    if parent is not None:
        info = look(*parent)
        if info is not None and info.kind is SpanKind.PRODUCER:
            found.append(info)
        elif info is None and not links:
            missing.append(parent)
    for ctx in links:
        if ctx == parent:
            continue
        info = look(*ctx)
        if info is None:
            missing.append(ctx)
        elif info.kind is SpanKind.PRODUCER:
            found.append(info)
        elif info.kind is SpanKind.CONSUMER:
            elsewhere += 1
    return found, missing, elsewhere


_PROCESS, _RECEIVE = Operation.PROCESS, Operation.RECEIVE
_PRODUCER, _CONSUMER = SpanKind.PRODUCER, SpanKind.CONSUMER


def wanted_contexts(new_spans: Sequence[SpanRecord], emitters: set[Emitter]) -> set[tuple[str, str]]:
    """The (trace id, span id) pairs `plan` may look up outside the batch: consumer spans' parents and links.

    A backend fetches these in bulk before planning instead of one query per consumer span. (The role tests
    `is_process` and `is_receive` are inlined here and in `plan`: they run for every span.)
    """
    here = {(s.trace_id, s.span_id) for s in new_spans}
    known = set(emitters)
    candidates = []
    for span in new_spans:
        m = span.messaging
        op, kind = m.operation, span.kind
        if kind is _PRODUCER and m.topic is not None:
            continue
        if op is _PROCESS or (op is None and kind is _CONSUMER and not consumes_nothing(span)):
            known.add((span.service, m.consumer_group or ""))
            candidates.append(span)
        elif op is _RECEIVE and kind is not _PRODUCER:
            candidates.append(span)
    out: set[tuple[str, str]] = set()
    for span in candidates:
        m = span.messaging
        if m.operation is _RECEIVE and (span.service, m.consumer_group or "") in known:
            continue
        if span.parent_span_id:
            out.add((span.trace_id, span.parent_span_id))
        if span.links:
            out.update((link.trace_id, link.span_id) for link in span.links)
    return out - here


def plan(new_spans: Sequence[SpanRecord], lookup: Lookup, emitters: set[Emitter], now_ns: int) -> RollupBatch:
    """The rollup increments for newly stored spans; `lookup` finds already stored spans, `emitters` the
    (service, group) pairs known to emit process spans (not modified; new ones are in the result)."""
    batch = RollupBatch()
    here = {(s.trace_id, s.span_id): s for s in new_spans}

    def look(trace_id: str, span_id: str) -> SpanInfo | None:
        span = here.get((trace_id, span_id))
        return info_of(span) if span is not None else lookup(trace_id, span_id)

    for span in new_spans:
        m = span.messaging
        if m.operation is _PROCESS or (m.operation is None and span.kind is _CONSUMER and not consumes_nothing(span)):
            em = (span.service, m.consumer_group or "")
            if em not in emitters:
                batch.new_emitters.add(em)
    known = emitters | batch.new_emitters
    edges = batch.edges
    for span in new_spans:
        m = span.messaging
        op, kind = m.operation, span.kind
        if m.schema_fingerprint is not None:
            _sighting(batch, span)
        if kind is _PRODUCER and m.topic is not None:
            start = span.start_ns
            key = (start - start % NS_PER_MINUTE, span.service, m.topic, None, None)
            acc = edges.get(key)
            if acc is None:
                acc = edges[key] = EdgeAcc()
            acc.add(span.status is StatusCode.ERROR, m.body_size, (span.end_ns - start) / NS_PER_S)
        elif op is _PROCESS or (op is None and kind is _CONSUMER and not consumes_nothing(span)):
            _consume(batch, span, look, now_ns)
        elif op is _RECEIVE and kind is not _PRODUCER and (span.service, m.consumer_group or "") not in known:
            _consume(batch, span, look, now_ns)
            batch.counted_receives.append(span)
    return batch


def recount_receives(receives: Sequence[SpanRecord], lookup: Lookup, now_ns: int) -> RollupBatch:
    """What `plan` (and the pairing of their pending contexts since) counted for these receive/poll spans, from
    what is stored now: their (service, group) just emitted its first process span, so the store retracts it.

    Contexts whose producer is still missing are in `pending` of the result: they were never counted, and the
    store drops their pending rows instead.
    """
    batch = RollupBatch()
    for span in receives:
        _consume(batch, span, lookup, now_ns)
    return batch


def _consume(batch: RollupBatch, span: SpanRecord, look: Lookup, now_ns: int) -> None:
    """A consumer span: each creation context is one message (paired, else pending), and what
    `messaging.batch.message_count` counts beyond them and beyond the consumer spans it links is partial
    (records that carried no context)."""
    found, missing, elsewhere = _contexts(span, look)
    contexts = len(found) + len(missing)
    several = contexts > 1
    for info in found:
        batch.paired(_consumption(span, (info.trace_id, info.span_id), now_ns, several), info)
    batch.pending.extend(_consumption(span, ctx, now_ns, several) for ctx in missing)
    extra = message_count(span, contexts + elsewhere) - contexts - elsewhere
    if extra and span.messaging.topic is not None:  # without a topic a message is on no edge
        batch.partial(_consumption(span, ("", ""), now_ns, contexts > 0), n=extra)


def _sighting(batch: RollupBatch, span: SpanRecord) -> None:
    m = span.messaging
    if m.event_type is None or m.schema_fingerprint is None:
        return
    role = Role.PRODUCER if span.kind is SpanKind.PRODUCER else Role.CONSUMER
    key = (minute_of(span.start_ns), m.event_type, m.schema_fingerprint, span.service, role, m.topic or "")
    acc = batch.sightings.get(key)
    if acc is None:
        acc = batch.sightings[key] = SightingAcc(span.start_ns, span.start_ns)
    acc.first_seen_ns = min(acc.first_seen_ns, span.start_ns)
    acc.last_seen_ns = max(acc.last_seen_ns, span.start_ns)
    acc.count += 1
    acc.errors += 1 if span.is_error else 0


def expired(pending: Iterable[Consumption], now_ns: int, ttl_ns: int) -> list[Consumption]:
    """Pending consumptions that have waited at least `ttl_ns` and become partial edges."""
    return [c for c in pending if now_ns - c.seen_ns >= ttl_ns]


def merge_sightings(rows: Iterable[SchemaSighting]) -> list[SchemaSighting]:
    """Aggregate per-minute sightings of the same (event type, fingerprint, service, role, topic)."""
    out: dict[tuple[str, str, str, Role, str], SchemaSighting] = {}
    for s in rows:
        key = (s.event_type, s.fingerprint, s.service, s.role, s.topic)
        prev = out.get(key)
        out[key] = s if prev is None else SchemaSighting(
            s.event_type, s.fingerprint, s.service, s.role, s.topic, min(prev.first_seen_ns, s.first_seen_ns),
            max(prev.last_seen_ns, s.last_seen_ns), prev.count + s.count, prev.errors + s.errors)
    return sorted(out.values(), key=lambda s: (s.event_type, s.fingerprint, s.service, s.role, s.topic))
