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
