"""The consumer side of the shared core: `process {topic}` spans around the user's handling, `poll` and `commit`.

Client modules hand the core records in one shape (attributes `topic`, `partition`, `offset`, `key`, `value`,
`headers`, `timestamp` in ms, optionally `serialized_value_size`: kafka-python's and aiokafka's records have
it, confluent-kafka's messages are viewed through an adapter) and a `ConsumerState` built from the client's
configuration, with the client's own way of reading the partition's high watermark for lag in offsets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

from opentelemetry import context as otel_context
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.semconv._incubating.attributes import messaging_attributes as ma
from opentelemetry.trace import (
    INVALID_SPAN,
    Link,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    TraceFlags,
    get_current_span,
    set_span_in_context,
)

from eventlens.instrumentation import _cloudevents, _current, _propagation, attributes
from eventlens.instrumentation._batch import batch_links, keep_batch_links, open_batch
from eventlens.instrumentation._fastspan import BaseAttributes
from eventlens.instrumentation._runtime import (
    ClientFacts,
    Runtime,
    add_client_attributes,
    add_exchange_attributes,
    add_payload_attributes,
    decide,
    key_text,
    record_error,
    set_attributes,
    start_span,
    unsampled,
)
from eventlens.instrumentation._safety import log_once

LagReader = Callable[[str, int], "int | None"]
"""Reads a partition's high watermark (the offset after its last record) from the client's cache."""
_MAX_CACHED_TOPICS = 1024
_time_ns = time.time_ns
_EMPTY = otel_context.Context()


class ConsumerState:
    """Per-consumer bookkeeping: the open process span, the re-entrancy flag, cached client facts."""

    __slots__ = ("base", "client_id", "group", "host", "in_next", "lag", "port", "span", "start_ns", "token",
                 "topic")

    def __init__(self, facts: ClientFacts, lag: LagReader | None = None) -> None:
        self.group = facts.group
        self.client_id = facts.client_id
        self.host, self.port = facts.host, facts.port
        self.lag = lag
        self.in_next = False
        self.span: Span | None = None
        self.token: object | None = None
        self.start_ns = 0
        self.topic = ""
        self.base: dict[str, BaseAttributes] = {}

    def base_attributes(self, topic: str) -> BaseAttributes:
        """The process-span attributes every record of `topic` shares on this consumer (built once per topic)."""
        hit = self.base.get(topic)
        if hit is None:
            base = {ma.MESSAGING_SYSTEM: "kafka", ma.MESSAGING_DESTINATION_NAME: topic,
                    ma.MESSAGING_OPERATION_NAME: "process", ma.MESSAGING_OPERATION_TYPE: "process"}
            if self.group:
                base[ma.MESSAGING_CONSUMER_GROUP_NAME] = self.group
            add_client_attributes(base, self.client_id, self.host, self.port)
            hit = BaseAttributes(base)
            if len(self.base) < _MAX_CACHED_TOPICS:
                self.base[topic] = hit
        return hit

    def lag_offsets(self, record: Any) -> int | None:
        """Records after `record` in its partition, from the client's cached high watermark (None if unknown)."""
        reader = self.lag
        if reader is None:
            return None
        try:
            high = reader(record.topic, record.partition)
        except Exception:
            return None
        if not isinstance(high, int) or high < 0:
            return None
        return max(0, high - int(record.offset) - 1)


_NO_STATE = ConsumerState(ClientFacts())


def process_attributes(runtime: Runtime, attrs: dict[str, Any], st: ConsumerState, record: Any, *,
                       now_ns: int, event: _cloudevents.CloudEvent | None) -> dict[str, Any]:
    """Add the attributes of a process span for `record` consumed at `now_ns` (beyond those its consumer and
    topic share) to `attrs`; returns it."""
    attrs[ma.MESSAGING_DESTINATION_PARTITION_ID] = str(record.partition)
    attrs[ma.MESSAGING_KAFKA_OFFSET] = record.offset
    key = key_text(record.key)
    if key is not None:
        attrs[ma.MESSAGING_KAFKA_MESSAGE_KEY] = key
    value = record.value
    if value is None:
        attrs[ma.MESSAGING_KAFKA_MESSAGE_TOMBSTONE] = True
    size = getattr(record, "serialized_value_size", None)
    if isinstance(size, int) and size >= 0:
        attrs[ma.MESSAGING_MESSAGE_BODY_SIZE] = size
    timestamp = record.timestamp
    if isinstance(timestamp, int) and timestamp > 0:
        attrs[attributes.RECORD_TIMESTAMP_MS] = timestamp
        attrs[attributes.LAG_SECONDS] = max(0.0, (now_ns / 1e6 - timestamp) / 1e3)
    lag = st.lag_offsets(record)
    if lag is not None:
        attrs[attributes.LAG_OFFSETS] = lag
    add_exchange_attributes(attrs, record.headers)
    event_type = _cloudevents.add_event_attributes(attrs, event)
    user_type = runtime.event_type(record)
    if user_type is not None:
        attrs[attributes.EVENT_TYPE] = user_type
        event_type = user_type
    add_payload_attributes(runtime, attrs, record.topic, value, event_type)
    return attrs


def _cloudevent(record: Any) -> _cloudevents.CloudEvent | None:
    headers = record.headers
    if not headers:
        return None
    try:
        return _cloudevents.read_cloudevent(headers, record.value)
    except Exception as exc:
        log_once("cloudevents", exc)
        return None


def _links(process_parent: bool, creation: SpanContext, event: _cloudevents.CloudEvent | None) -> list[Link]:
    links: list[Link] = []
    if not process_parent and creation.is_valid:
        links.append(Link(creation))
    if event is not None and event.traceparent:
        origin = _propagation.parse_traceparent(event.traceparent)
        if origin.is_valid and origin != creation:
            links.append(Link(origin, {attributes.LINK_KIND: "cloudevents.origin"}))
    return links


def _consume_hook(runtime: Runtime, span: Span, record: Any) -> None:
    hook = runtime.options.consume_hook
    if hook is not None:
        try:
            hook(span, record, (), {})
        except Exception as exc:
            log_once("consume_hook", exc)


def start_process(runtime: Runtime, st: ConsumerState | None, record: Any) -> tuple[Span, Any]:
    """Start the process span for `record`; returns it and the context to make current while handling."""
    state = st if st is not None else _NO_STATE
    creation, extracted = _propagation.extract_parts(record.headers)
    process_parent = runtime.options.process_parent
    parent_sc = creation if process_parent else get_current_span().get_span_context()
    ids = decide(runtime, parent_sc, link=None if process_parent else creation)
    span: Span
    if unsampled(ids):  # a non-recording span carrying the context, nothing else computed
        span = NonRecordingSpan(SpanContext(ids[0], ids[1], is_remote=False, trace_flags=TraceFlags(ids[2]),
                                            trace_state=ids[3]))
        return span, _current.span_context(span) if extracted is None else set_span_in_context(span, extracted)

    def sdk_parent() -> Any:
        if not process_parent:
            return otel_context.get_current()
        if extracted is not None:
            return extracted
        return set_span_in_context(NonRecordingSpan(creation), _EMPTY) if creation.is_valid else _EMPTY

    event = _cloudevent(record)
    span = start_span(runtime, ids, "process " + record.topic, SpanKind.CONSUMER, parent_sc,
                      base=state.base_attributes(record.topic),
                      own=lambda attrs, now: process_attributes(runtime, attrs, state, record, now_ns=now, event=event),
                      links=_links(process_parent, creation, event),
                      hook=lambda span: _consume_hook(runtime, span, record), context=sdk_parent)
    return span, _current.span_context(span) if extracted is None else set_span_in_context(span, extracted)


def end_process(runtime: Runtime, st: ConsumerState) -> None:
    """End the consumer's open process span (if any), detaching its context and recording its duration."""
    span = st.span
    if span is None:
        return
    st.span = None
    token, st.token = st.token, None
    try:
        if token is not None:
            otel_context.detach(token)  # type: ignore[arg-type]
        span.end()
        if runtime.metrics is not None:
            runtime.metrics.record_process(st.topic, st.group, (_time_ns() - st.start_ns) / 1e9)
    except Exception as exc:
        log_once("process.end", exc)


def open_process(runtime: Runtime, st: ConsumerState, record: Any) -> None:
    """Start the process span of a record just handed to user code and make it current until `end_process`.

    For iterator-style calls (`__next__`, `__anext__`, `poll` of one message): the span stays open while the
    user handles the record and ends at the consumer's next call.
    """
    try:
        st.start_ns = _time_ns()
        st.topic = record.topic
        if runtime.metrics is not None:
            runtime.metrics.record_consumed(record.topic, st.group)
        span, ctx = start_process(runtime, st, record)
        st.span = span
        st.token = otel_context.attach(ctx)
    except Exception as exc:
        log_once("process.open", exc)


def record_batch(runtime: Runtime, st: ConsumerState, records: Sequence[Any], start_ns: int, *,
                 operation: str = "poll", by_topic: dict[str, int] | None = None) -> None:
    """A batch call returned `records` (non-empty): its `poll {topic}` CLIENT span linking every record, the
    consumed-messages and operation-duration metrics, and the batch kept for fan-in sends after it.

    The links are computed now only for a recording span; otherwise when a recording send needs them.
    `by_topic` (records per topic) saves a pass when the client's result is already grouped by partition.
    """
    links: list[Link] | None = None
    open_batch(records)  # the poll span is a new trace from these inputs: a consistent sampler reads them
    fast = runtime.fast
    if fast is None or fast.drop_ids(get_current_span().get_span_context()) is None:
        if by_topic is None:
            by_topic = _count_by_topic(records)
        name = operation + " " + next(iter(by_topic)) if len(by_topic) == 1 else operation
        span = runtime.tracer.start_span(name, kind=SpanKind.CLIENT, start_time=start_ns)
        if span.is_recording():
            links = batch_links(records)
            attrs: dict[str, Any] = {ma.MESSAGING_SYSTEM: "kafka", ma.MESSAGING_OPERATION_NAME: operation,
                                     ma.MESSAGING_OPERATION_TYPE: "receive",
                                     ma.MESSAGING_BATCH_MESSAGE_COUNT: len(records)}
            if len(by_topic) == 1:
                attrs[ma.MESSAGING_DESTINATION_NAME] = next(iter(by_topic))
            if st.group:
                attrs[ma.MESSAGING_CONSUMER_GROUP_NAME] = st.group
            add_client_attributes(attrs, st.client_id, st.host, st.port)
            set_attributes(span, attrs)
            for link in links:
                span.add_link(link.context, link.attributes)
        span.end()
    if links is not None:  # the batch stays open: the randomness its poll span's decision read is kept
        keep_batch_links(links)
    if runtime.metrics is not None:
        now = _time_ns()
        if by_topic is None:
            by_topic = _count_by_topic(records)
        for topic, n in by_topic.items():
            runtime.metrics.record_consumed(topic, st.group, n)
            runtime.metrics.record_operation(operation, topic, st.group, (now - start_ns) / 1e9)


def record_partitioned_batch(runtime: Runtime, st: ConsumerState, result: Mapping[Any, Sequence[Any]],
                             start_ns: int) -> None:
    """`record_batch` for a result keyed by topic-partition (kafka-python's `poll`, aiokafka's `getmany`)."""
    records = [record for batch in result.values() for record in batch]
    if not records:
        return
    by_topic: dict[str, int] = {}
    for tp, batch in result.items():
        by_topic[tp.topic] = by_topic.get(tp.topic, 0) + len(batch)
    record_batch(runtime, st, records, start_ns, by_topic=by_topic)


def commit_topics(consumer: Any, offsets: Any) -> set[str]:
    """The topics a commit settles: those of its explicit offsets, else of the consumer's assignment."""
    if isinstance(offsets, dict) and offsets:
        return {tp.topic for tp in offsets}
    try:
        return {tp.topic for tp in consumer.assignment()}
    except Exception:
        return set()


def _count_by_topic(records: Sequence[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in records:
        counts[record.topic] = counts.get(record.topic, 0) + 1
    return counts


class Settle(NamedTuple):
    """An open `commit {topic}` (or `store_offsets …`) span: end it with `end_settle` when the call returns."""

    span: Span
    topic: str | None
    operation: str
    start_ns: int


def start_settle(runtime: Runtime, st: ConsumerState, topics: set[str], operation: str = "commit") -> Settle:
    """Start a CLIENT span settling offsets of `topics`, named for the topic when there is exactly one."""
    topic = next(iter(topics)) if len(topics) == 1 else None
    span = runtime.tracer.start_span(operation + " " + topic if topic else operation, kind=SpanKind.CLIENT)
    if span.is_recording():
        attrs: dict[str, Any] = {ma.MESSAGING_SYSTEM: "kafka", ma.MESSAGING_OPERATION_NAME: operation,
                                 ma.MESSAGING_OPERATION_TYPE: "settle"}
        if topic:
            attrs[ma.MESSAGING_DESTINATION_NAME] = topic
        if st.group:
            attrs[ma.MESSAGING_CONSUMER_GROUP_NAME] = st.group
        if st.client_id:
            attrs[ma.MESSAGING_CLIENT_ID] = st.client_id
        set_attributes(span, attrs)
    return Settle(span, topic, operation, _time_ns())


def end_settle(runtime: Runtime, st: ConsumerState, settle: Settle, exc: BaseException | None) -> None:
    """End a span from `start_settle` (failed with `exc` when given) and record the operation's duration."""
    span = settle.span
    error = record_error(span, exc) if exc is not None else None
    span.end()
    if runtime.metrics is not None:
        try:
            runtime.metrics.record_operation(settle.operation, settle.topic, st.group,
                                             (_time_ns() - settle.start_ns) / 1e9, error)
        except Exception as err:
            log_once("commit.metrics", err)


@contextmanager
def processing_span(runtime: Runtime | None, record: Any, st: ConsumerState | None) -> Iterator[Span]:
    """A `process {topic}` span current while the body handles `record` (a no-op span when not instrumented)."""
    if runtime is None or record is None or not is_instrumentation_enabled():
        yield INVALID_SPAN
        return
    start_ns = _time_ns()
    try:
        span, ctx = start_process(runtime, st, record)
        token = otel_context.attach(ctx)
    except Exception as exc:
        log_once("processing", exc)
        yield get_current_span()
        return
    error: str | None = None
    try:
        yield span
    except BaseException as exc:
        error = record_error(span, exc)
        raise
    finally:
        try:
            otel_context.detach(token)
            span.end()
            if runtime.metrics is not None:
                runtime.metrics.record_process(record.topic, st.group if st else None,
                                               (_time_ns() - start_ns) / 1e9, error)
        except Exception as exc:
            log_once("processing.end", exc)


class Resolved(NamedTuple):
    """What `processing(record)` needs: the runtime of the record's client, the record in the core's shape, and
    the consumer's state (None when unknown)."""

    runtime: Runtime
    record: Any
    state: ConsumerState | None


ProcessingResolver = Callable[[Any, Any], "Resolved | None"]
"""Given (record, consumer or None), a client's answer when the record is one of its own, else None."""
_resolvers: dict[str, ProcessingResolver] = {}


def register_processing(client: str, resolver: ProcessingResolver) -> None:
    """Let `processing(record)` handle `client`'s records (called by the client's instrumentor)."""
    _resolvers[client] = resolver


def unregister_processing(client: str) -> None:
    """Forget `client`'s resolver (its instrumentor was uninstrumented)."""
    _resolvers.pop(client, None)


def resolve_processing(record: Any, consumer: Any) -> Resolved | None:
    """The first registered client that recognises `record` (kafka-python, the catch-all, is asked last)."""
    fallback = _resolvers.get("kafka")
    for client, resolver in list(_resolvers.items()):
        if client != "kafka":
            found = resolver(record, consumer)
            if found is not None:
                return found
    return fallback(record, consumer) if fallback is not None else None
