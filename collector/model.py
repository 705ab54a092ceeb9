"""The types that cross part boundaries: collector → query layer → dashboard, CLI and API.

Frozen dataclasses only. Storage backends turn rows into these; the dashboard and the CLI see nothing else
(no SQL rows, no dicts of unknown shape). Ids are lowercase hex strings; times are integer nanoseconds
since the Unix epoch unless a field says otherwise.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

AttrValue = str | int | float | bool | tuple[str, ...] | tuple[int, ...] | tuple[float, ...] | tuple[bool, ...]
"""An OpenTelemetry attribute value as stored (OTLP arrays become tuples)."""

NS_PER_S = 1_000_000_000
NS_PER_MINUTE = 60 * NS_PER_S

# End-to-end latency histogram bounds in seconds: the messaging semantic-convention buckets (v1.44),
# extended to minutes because queue time on a lagging consumer is often far above 10 s.
LATENCY_BUCKETS_S: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0, 60.0, 300.0, 900.0,
)
"""Upper bounds (inclusive) of the latency buckets; a rollup's histogram has one more, overflow, bucket."""
N_LATENCY_BUCKETS = len(LATENCY_BUCKETS_S) + 1
"""Buckets in a rollup's latency histogram: one per bound plus the overflow bucket."""


class SpanKind(enum.IntEnum):
    """OTLP span kind numbering (opentelemetry-proto `Span.SpanKind`)."""

    UNSPECIFIED = 0
    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5


class StatusCode(enum.IntEnum):
    """OTLP status code numbering."""

    UNSET = 0
    OK = 1
    ERROR = 2


class Operation(enum.StrEnum):
    """Normalised `messaging.operation.type` (semantic conventions v1.44), whatever the source emitted."""

    CREATE = "create"
    SEND = "send"
    RECEIVE = "receive"
    PROCESS = "process"
    SETTLE = "settle"


@dataclass(frozen=True, slots=True)
class SpanLink:
    """A span link: the linked span's ids and the link's own attributes."""

    trace_id: str
    span_id: str
    attributes: Mapping[str, AttrValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Messaging:
    """The messaging fields of a span, pulled out of whichever attribute names its emitter used.

    Every field is optional: a span from an older or foreign instrumentation may carry few of them.
    """

    system: str | None = None
    operation: Operation | None = None
    operation_name: str | None = None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    consumer_group: str | None = None
    client_id: str | None = None
    message_id: str | None = None
    batch_count: int | None = None
    body_size: int | None = None
    event_id: str | None = None
    event_type: str | None = None
    event_source: str | None = None
    schema_fingerprint: str | None = None
    lag_offsets: int | None = None
    lag_seconds: float | None = None
    server_address: str | None = None
    error_type: str | None = None


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """One stored span, normalised; `attributes` keeps every original span attribute."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: SpanKind
    service: str
    start_ns: int
    end_ns: int
    status: StatusCode = StatusCode.UNSET
    status_message: str = ""
    links: tuple[SpanLink, ...] = ()
    messaging: Messaging = field(default_factory=Messaging)
    attributes: Mapping[str, AttrValue] = field(default_factory=dict)
    resource: Mapping[str, AttrValue] = field(default_factory=dict)
    scope: str = ""

    @property
    def duration_ns(self) -> int:
        """Span duration in nanoseconds (never negative)."""
        return max(0, self.end_ns - self.start_ns)

    @property
    def is_error(self) -> bool:
        """True when the span's status is ERROR."""
        return self.status is StatusCode.ERROR

    @property
    def language(self) -> str | None:
        """The emitting SDK's language (`telemetry.sdk.language` resource attribute), when known."""
        value = self.resource.get("telemetry.sdk.language")
        return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Input the collector could not store, parked with its raw bytes (table `dead_letters`)."""

    source: str
    """Where it came from, e.g. `kafka`."""
    reason: str
    payload: bytes
    received_ns: int
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None


class NodeKind(enum.StrEnum):
    """What a topology node stands for."""

    SERVICE = "service"
    TOPIC = "topic"
    CONSUMER_GROUP = "consumer_group"


@dataclass(frozen=True, slots=True)
class EdgeRollup:
    """Per-minute aggregate of one producer → topic → (group, consumer) edge, kept at ingest.

    `producer` is None when the consuming side was seen but its producer span was not (uninstrumented
    producer: a partial edge); `consumer` and `consumer_group` are None for the produce-side rollup of a
    topic (messages sent, whether or not anyone consumed them). `latency_buckets` counts end-to-end
    latencies (consume start − produce start) per `LATENCY_BUCKETS_S` bound, plus one overflow bucket.
    """

    minute: int
    producer: str | None
    topic: str
    consumer_group: str | None
    consumer: str | None
    count: int
    errors: int
    bytes: int
    latency_sum_s: float
    latency_buckets: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class LagSample:
    """One observation of a consumer group's position on one partition, taken by the lag poller."""

    group: str
    topic: str
    partition: int
    committed_offset: int | None
    end_offset: int
    observed_at_ns: int
    lag_seconds: float | None = None
    lag_seconds_estimated: bool = False


class LagStatus(enum.IntEnum):
    """Burrow's partition/group statuses, ordered by severity (NOTFOUND lowest)."""

    NOTFOUND = 0
    OK = 1
    WARN = 2
    ERR = 3
    STOP = 4
    STALL = 5
    REWIND = 6


@dataclass(frozen=True, slots=True)
class PartitionStatus:
    """The evaluated health of one group on one partition over the sample window."""

    group: str
    topic: str
    partition: int
    status: LagStatus
    lag_offsets: int
    lag_seconds: float | None
    lag_seconds_estimated: bool
    time_to_drain_s: float | None
    complete: float


@dataclass(frozen=True, slots=True)
class GroupStatus:
    """A group's health: the worst partition status (capped at ERR, as Burrow does) and its totals."""

    group: str
    status: LagStatus
    partitions: tuple[PartitionStatus, ...]
    total_lag: int
    max_lag_seconds: float | None
    complete: float


class Role(enum.StrEnum):
    """Which side of a topic a service stands on for one observation."""

    PRODUCER = "producer"
    CONSUMER = "consumer"


@dataclass(frozen=True, slots=True)
class SchemaSighting:
    """Aggregate of one (event type, schema fingerprint, service, role) seen at ingest, kept as a rollup."""

    event_type: str
    fingerprint: str
    service: str
    role: Role
    topic: str
    first_seen_ns: int
    last_seen_ns: int
    count: int
    errors: int


# --- analysis results ---
# Produced by `eventlens.collector.analysis` (topology, lineage, coupling, schemas); other parts only read them.


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """End-to-end latency percentiles in seconds, estimated from rollup histograms (None when no samples)."""

    count: int = 0
    mean_s: float | None = None
    p50_s: float | None = None
    p95_s: float | None = None
    p99_s: float | None = None


@dataclass(frozen=True, slots=True)
class TopologyNode:
    """A node of the topology graph: `service:<name>`, `topic:<name>` or `group:<name>`.

    `partial` marks a topic seen on one side only (produced with no consumer seen, or consumed from an
    uninstrumented producer); `partial_reason` says which.
    """

    id: str
    kind: NodeKind
    name: str
    messages: int = 0
    errors: int = 0
    partial: bool = False
    partial_reason: str = ""


@dataclass(frozen=True, slots=True)
class TopologyEdge:
    """A directed edge (service → topic, topic → group, group → service, or topic → service without a group)
    with its traffic over the window: messages, messages/s, errors, bytes, end-to-end latency, lag."""

    source: str
    target: str
    topic: str
    messages: int
    rate_per_s: float
    errors: int
    bytes: int
    latency: LatencySummary = field(default_factory=LatencySummary)
    lag_offsets: int | None = None
    lag_seconds: float | None = None
    partial: bool = False
    partial_reason: str = ""


@dataclass(frozen=True, slots=True)
class TopologyFlow:
    """One producer → topic → (group, consumer) flow summed over the window; `producer` None = uninstrumented
    producer, `consumer` None = the produce side of a topic with no consumer seen (both flagged partial)."""

    producer: str | None
    topic: str
    consumer_group: str | None
    consumer: str | None
    messages: int
    rate_per_s: float
    errors: int
    bytes: int
    latency: LatencySummary = field(default_factory=LatencySummary)
    partial: bool = False


@dataclass(frozen=True, slots=True)
class Topology:
    """The service → topic → group → service graph over [start_ns, end_ns), built from edge rollups."""

    start_ns: int
    end_ns: int
    nodes: tuple[TopologyNode, ...] = ()
    edges: tuple[TopologyEdge, ...] = ()
    flows: tuple[TopologyFlow, ...] = ()


class LineageNodeKind(enum.StrEnum):
    """An event (a produced message: its send span) or a handling of events (a consumer's process span)."""

    EVENT = "event"
    HANDLING = "handling"


class LineageRelation(enum.StrEnum):
    """Why one lineage node leads to the next.

    event → handling: PARENT (process span parented on the send), LINK (linked; also a poll span's link to
    each record it fetched), BATCH (one of a process span's several inputs); one edge per pair of nodes,
    PARENT winning over LINK and BATCH to the same send. handling → event: PRODUCED (sent while handling),
    OUTBOX (outbox relay), RETRY, DEAD_LETTER, REPLY (a reply carrying the request's correlation id).
    event → event: PRODUCED when the send is a descendant of another send without a consumer span in
    between (e.g. an unconsumed request's reply).
    """

    PARENT = "parent"
    LINK = "link"
    BATCH = "batch"
    PRODUCED = "produced"
    OUTBOX = "outbox"
    RETRY = "retry"
    DEAD_LETTER = "dead_letter"
    REPLY = "reply"


@dataclass(frozen=True, slots=True)
class LineageNode:
    """One node of an event's causal DAG: `event:<trace>:<span>` (a send) or `handling:<trace>:<span>`."""

    id: str
    kind: LineageNodeKind
    trace_id: str
    span_id: str
    service: str
    start_ns: int
    duration_ns: int
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    event_id: str | None = None
    event_type: str | None = None
    consumer_group: str | None = None
    error: bool = False
    outbox: bool = False
    retry_attempt: int | None = None
    dead_letter: bool = False
    correlation_id: str | None = None
    reply_to: str | None = None
    seed: bool = False
    language: str | None = None
    """The emitting SDK's language (`telemetry.sdk.language`: python, java, nodejs, …), when known."""


@dataclass(frozen=True, slots=True)
class LineageEdge:
    """A causal step; on event → handling edges `queue_ns` is consume start − produce start."""

    source: str
    target: str
    relation: LineageRelation
    queue_ns: int | None = None


class HopStatus(enum.StrEnum):
    """Whether a lineage hop's spans are in the store, and if not, why (docs/analysis.md "Completeness")."""

    PRESENT = "present"
    SAMPLED_OUT = "missing: sampled out"
    NOT_INSTRUMENTED = "missing: not instrumented"
    UNKNOWN = "missing: unknown"


@dataclass(frozen=True, slots=True)
class LineageHop:
    """One hop of a lineage and whether its spans are present: a node of the lineage (`node` set, status
    PRESENT), a missing input of a handling (`node` is the handling, `span_id` the missing send, when known),
    or a consumer group that did not handle an event (`node` is the event, `consumer_group` the group)."""

    status: HopStatus
    node: str | None
    topic: str | None
    consumer_group: str | None = None
    trace_id: str | None = None
    span_id: str | None = None


@dataclass(frozen=True, slots=True)
class Lineage:
    """The causal DAG of one event (or of every event matching a lookup) across services and traces.

    `event_types` lists the business events in causal order; `story` tells it in plain sentences;
    `truncated` says the node bound was hit.
    """

    nodes: tuple[LineageNode, ...] = ()
    edges: tuple[LineageEdge, ...] = ()
    event_types: tuple[str, ...] = ()
    story: tuple[str, ...] = ()
    trace_ids: tuple[str, ...] = ()
    truncated: bool = False
    hops: tuple[LineageHop, ...] = ()
    """Every hop with its completeness (filled by `query.lineage`; empty from `build_lineage` alone)."""

    @property
    def text(self) -> str:
        """The story as one paragraph."""
        return " ".join(self.story)


@dataclass(frozen=True, slots=True)
class ServiceCoupling:
    """Coupling figures of one service through its events.

    fan_in/fan_out: topics consumed/produced; afferent (Ca): services consuming what it produces;
    efferent (Ce): services whose events it consumes; instability Ce/(Ca+Ce), None when both are 0.
    """

    service: str
    fan_in: int
    fan_out: int
    afferent: int
    efferent: int
    instability: float | None
    topics_produced: tuple[str, ...] = ()
    topics_consumed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SharedTopic:
    """A topic written or read by more than one service."""

    topic: str
    producers: tuple[str, ...]
    consumers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EventTypeCoupling:
    """Who depends on one producer's event type: the consumers of it (from schema sightings and flows)."""

    event_type: str
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    topics: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TemporalCoupling:
    """Request/reply pairs between two services that make an asynchronous link act like a synchronous call."""

    requester: str
    replier: str
    request_topic: str
    reply_topic: str | None
    pairs: int
    within_window: int
    median_round_trip_s: float | None
    max_round_trip_s: float | None


@dataclass(frozen=True, slots=True)
class BlastRadius:
    """Every service a change to an event type reaches: direct consumers, then transitive downstream ones."""

    event_type: str
    producers: tuple[str, ...]
    direct: tuple[str, ...]
    transitive: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CouplingReport:
    """Coupling between services through their events over [start_ns, end_ns).

    `matrix[i][j]` counts messages from `services[i]` to `services[j]`; `cycles` are service cycles
    (bounded in number and length).
    """

    start_ns: int
    end_ns: int
    services: tuple[ServiceCoupling, ...] = ()
    shared_topics: tuple[SharedTopic, ...] = ()
    event_types: tuple[EventTypeCoupling, ...] = ()
    temporal: tuple[TemporalCoupling, ...] = ()
    cycles: tuple[tuple[str, ...], ...] = ()
    matrix_services: tuple[str, ...] = ()
    matrix: tuple[tuple[int, ...], ...] = ()
    blast_radius: tuple[BlastRadius, ...] = ()


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    """One fingerprint of an event type: when it was seen, who produced and consumed it (label `v1`, `v2`, …
    in order of first sighting)."""

    event_type: str
    fingerprint: str
    label: str
    first_seen_ns: int
    last_seen_ns: int
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    count: int
    consumer_errors: int


@dataclass(frozen=True, slots=True)
class EventTypeSchemas:
    """Every version of one event type seen in the window, oldest first."""

    event_type: str
    versions: tuple[SchemaVersion, ...]


@dataclass(frozen=True, slots=True)
class SchemaDrift:
    """A producer started emitting a new fingerprint of an event type; consumer errors on the new one follow."""

    event_type: str
    producer: str
    previous_fingerprint: str
    new_fingerprint: str
    at_ns: int
    consumer_errors: int
    failing_consumers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Deprecation:
    """A declared deprecation: `version` is a fingerprint or a label (`v2`), in use after `deprecated_after_ns`."""

    event_type: str
    version: str
    deprecated_after_ns: int


@dataclass(frozen=True, slots=True)
class DeprecationViolation:
    """A deprecated version still produced or consumed after its date."""

    deprecation: Deprecation
    fingerprint: str
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    last_seen_ns: int


@dataclass(frozen=True, slots=True)
class SchemaReport:
    """Schema versions per event type, drift and deprecation violations over [start_ns, end_ns)."""

    start_ns: int
    end_ns: int
    event_types: tuple[EventTypeSchemas, ...] = ()
    drifts: tuple[SchemaDrift, ...] = ()
    violations: tuple[DeprecationViolation, ...] = ()


@dataclass(frozen=True, slots=True)
class ConsumerLag:
    """Lag as an instrumented consumer itself reported it, on its latest `process` span for a partition.

    The consumer-side view next to the poller's `LagSample`s: measured when the record was handed to user
    code (offsets behind the high watermark, seconds since the record's timestamp). `group` is "" when the
    span carried no consumer group.
    """

    group: str
    topic: str
    partition: int
    service: str
    lag_offsets: int | None
    lag_seconds: float | None
    observed_at_ns: int
