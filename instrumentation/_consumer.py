"""KafkaConsumer wrappers: `process {topic}` spans around the user's handling, `poll` and `commit` spans.

Iterator users get a process span that is current from the `__next__` that returns a record until the next
`__next__`, `poll`, `commit` or `close`. `poll()` users get a `poll {topic}` CLIENT span linking every
record, and `processing(record)` for a per-record span. `__next__` polls internally; a per-consumer flag
keeps that inner poll from making a span of its own.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from eventlens.instrumentation import _cloudevents, _current, _propagation, attributes
from eventlens.instrumentation._fastspan import BaseAttributes, FastSpan
from eventlens.instrumentation._runtime import (
    Runtime,
    add_client_attributes,
    add_exchange_attributes,
    add_payload_attributes,
    key_text,
    record_error,
    server_of,
    set_attributes,
)
from eventlens.instrumentation._safety import log_once
from kafka import TopicPartition
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

_STATE = "_eventlens_consumer"
_MAX_CACHED_TOPICS = 1024
_time_ns = time.time_ns
_SAMPLED = 0x01
_EMPTY = otel_context.Context()


class ConsumerState:
    """Per-consumer bookkeeping: the open process span, the re-entrancy flag, cached client facts."""

    __slots__ = ("base", "client_id", "group", "host", "in_next", "port", "span", "start_ns", "token", "topic")

    def __init__(self, instance: Any) -> None:
        config = getattr(instance, "config", {}) or {}
        group = config.get("group_id")
        client_id = config.get("client_id")
        self.group: str | None = group if isinstance(group, str) else None
        self.client_id: str | None = client_id if isinstance(client_id, str) else None
        self.host, self.port = server_of(config)
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


def state_of(instance: Any) -> ConsumerState:
    """The eventlens state attached to a consumer instance (created on first use)."""
    st: ConsumerState | None = instance.__dict__.get(_STATE)
    if st is None:
        st = ConsumerState(instance)
        instance.__dict__[_STATE] = st
    return st


def _lag_offsets(instance: Any, record: Any) -> int | None:
    try:
        high = instance.highwater(TopicPartition(record.topic, record.partition))
    except Exception:
        return None
    if not isinstance(high, int):
        return None
    return max(0, high - int(record.offset) - 1)


def process_attributes(runtime: Runtime, attrs: dict[str, Any], instance: Any, record: Any, *,
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
    if instance is not None:
        lag = _lag_offsets(instance, record)
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


def start_process(runtime: Runtime, st: ConsumerState | None, instance: Any, record: Any) -> tuple[Span, Any]:
    """Start the process span for `record`; returns it and the context to make current while handling."""
    creation, extracted = _propagation.extract_parts(record.headers)
    process_parent = runtime.options.process_parent
    fast = runtime.fast
    if fast is not None:
        parent_sc = creation if process_parent else get_current_span().get_span_context()
        ids = fast.decide(parent_sc)
        if ids is not None:
            span: Span
            if not ids[2] & _SAMPLED:  # unsampled: a non-recording span carrying the context, nothing else computed
                span = NonRecordingSpan(SpanContext(ids[0], ids[1], is_remote=False, trace_flags=TraceFlags(ids[2]),
                                                    trace_state=ids[3]))
                return span, _current.span_context(span) if extracted is None else set_span_in_context(span, extracted)
            sink = runtime.fast_sink()
            if sink is not None:  # sampled, and eventlens knows where its spans go: record it itself
                event = _cloudevent(record)
                now = _time_ns()
                span = FastSpan(sink, "process " + record.topic, SpanKind.CONSUMER, ids,
                                parent_sc if parent_sc.is_valid else None,
                                process_attributes(runtime, {}, instance, record, now_ns=now, event=event),
                                _links(process_parent, creation, event), now,
                                (st or ConsumerState(instance)).base_attributes(record.topic))
                _consume_hook(runtime, span, record)
                return span, _current.span_context(span) if extracted is None else set_span_in_context(span, extracted)
            if not parent_sc.is_valid:
                fast.ids.local.trace_id = ids[0]  # the SDK's start_span takes this trace id and decides the same
    if extracted is None:
        extracted = set_span_in_context(NonRecordingSpan(creation), _EMPTY) if creation.is_valid else _EMPTY
    parent = extracted if process_parent else otel_context.get_current()
    event = _cloudevent(record)
    links = _links(process_parent, creation, event)
    span = runtime.tracer.start_span("process " + record.topic, context=parent, kind=SpanKind.CONSUMER,
                                     links=links or None)
    if span.is_recording():
        attrs = dict((st or ConsumerState(instance)).base_attributes(record.topic).values)
        set_attributes(span, process_attributes(runtime, attrs, instance, record, now_ns=_time_ns(), event=event))
        _consume_hook(runtime, span, record)
    return span, set_span_in_context(span, extracted)


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


def make_next_wrapper(runtime: Runtime) -> Callable[..., Any]:
    """The wrapt wrapper for `KafkaConsumer.__next__`."""

    def next_(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        st = state_of(instance)
        end_process(runtime, st)
        if _current.suppressed(_current.get_current()):
            return wrapped(*args, **kwargs)
        st.in_next = True
        try:
            record = wrapped(*args, **kwargs)
        finally:
            st.in_next = False
        try:
            st.start_ns = _time_ns()
            st.topic = record.topic
            if runtime.metrics is not None:
                runtime.metrics.record_consumed(record.topic, st.group)
            span, ctx = start_process(runtime, st, instance, record)
            st.span = span
            st.token = otel_context.attach(ctx)
        except Exception as exc:
            log_once("next", exc)
        return record

    return next_


def batch_links(result: dict[Any, list[Any]]) -> list[Link]:
    """One link per record of a poll result that carries a creation context (partition and offset attributes)."""
    links: list[Link] = []
    for records in result.values():
        for record in records:
            creation = _propagation.extract_parts(record.headers)[0]
            if creation.is_valid:
                links.append(Link(creation, {ma.MESSAGING_DESTINATION_PARTITION_ID: str(record.partition),
                                             ma.MESSAGING_KAFKA_OFFSET: record.offset}))
    return links


def _poll_span(runtime: Runtime, st: ConsumerState, result: dict[Any, list[Any]], start_ns: int) -> None:
    # the batch's links are computed now only for a recording poll span; otherwise when a recording send
    # needs them for fan-in (Runtime.pending_batch_links)
    runtime.local.batch = result
    runtime.local.batch_links = None
    fast = runtime.fast
    if fast is None or fast.drop_ids(get_current_span().get_span_context()) is None:
        topics = {tp.topic for tp in result}
        name = "poll " + next(iter(topics)) if len(topics) == 1 else "poll"
        span = runtime.tracer.start_span(name, kind=SpanKind.CLIENT, start_time=start_ns)
        if span.is_recording():
            links = batch_links(result)
            runtime.local.batch_links = links
            count = sum(len(records) for records in result.values())
            attrs: dict[str, Any] = {ma.MESSAGING_SYSTEM: "kafka", ma.MESSAGING_OPERATION_NAME: "poll",
                                     ma.MESSAGING_OPERATION_TYPE: "receive", ma.MESSAGING_BATCH_MESSAGE_COUNT: count}
            if len(topics) == 1:
                attrs[ma.MESSAGING_DESTINATION_NAME] = next(iter(topics))
            if st.group:
                attrs[ma.MESSAGING_CONSUMER_GROUP_NAME] = st.group
            add_client_attributes(attrs, st.client_id, st.host, st.port)
            set_attributes(span, attrs)
            for link in links:
                span.add_link(link.context, link.attributes)
        span.end()
    if runtime.metrics is not None:
        now = _time_ns()
        by_topic: dict[str, int] = {}
        for tp, records in result.items():
            by_topic[tp.topic] = by_topic.get(tp.topic, 0) + len(records)
        for topic, n in by_topic.items():
            runtime.metrics.record_consumed(topic, st.group, n)
            runtime.metrics.record_operation("poll", topic, st.group, (now - start_ns) / 1e9)


def make_poll_wrapper(runtime: Runtime) -> Callable[..., Any]:
    """The wrapt wrapper for `KafkaConsumer.poll` (a pass-through when called from inside `__next__`)."""

    def poll(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        st = state_of(instance)
        if st.in_next:
            return wrapped(*args, **kwargs)
        end_process(runtime, st)
        if not is_instrumentation_enabled():
            return wrapped(*args, **kwargs)
        runtime.local.batch = None
        runtime.local.batch_links = None
        runtime.local.consumer = weakref.ref(instance)
        start_ns = _time_ns()
        result = wrapped(*args, **kwargs)
        if result:
            try:
                _poll_span(runtime, st, result, start_ns)
            except Exception as exc:
                log_once("poll", exc)
        return result

    return poll


def _commit_topics(instance: Any, offsets: Any) -> set[str]:
    if isinstance(offsets, dict) and offsets:
        return {tp.topic for tp in offsets}
    try:
        return {tp.topic for tp in instance.assignment()}
    except Exception:
        return set()


def make_commit_wrapper(runtime: Runtime, operation: str = "commit") -> Callable[..., Any]:
    """The wrapt wrapper for `KafkaConsumer.commit` / `commit_async`: a `commit {topic}` CLIENT span."""

    def commit(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        st = state_of(instance)
        end_process(runtime, st)
        if not is_instrumentation_enabled():
            return wrapped(*args, **kwargs)
        try:
            topics = _commit_topics(instance, args[0] if args else kwargs.get("offsets"))
            topic = next(iter(topics)) if len(topics) == 1 else None
            span = runtime.tracer.start_span("commit " + topic if topic else "commit", kind=SpanKind.CLIENT)
            if span.is_recording():
                attrs: dict[str, Any] = {ma.MESSAGING_SYSTEM: "kafka", ma.MESSAGING_OPERATION_NAME: "commit",
                                         ma.MESSAGING_OPERATION_TYPE: "settle"}
                if topic:
                    attrs[ma.MESSAGING_DESTINATION_NAME] = topic
                if st.group:
                    attrs[ma.MESSAGING_CONSUMER_GROUP_NAME] = st.group
                if st.client_id:
                    attrs[ma.MESSAGING_CLIENT_ID] = st.client_id
                set_attributes(span, attrs)
        except Exception as exc:
            log_once("commit.start", exc)
            return wrapped(*args, **kwargs)
        start_ns = _time_ns()
        error: str | None = None
        try:
            return wrapped(*args, **kwargs)
        except BaseException as exc:
            error = record_error(span, exc)
            raise
        finally:
            span.end()
            if runtime.metrics is not None:
                try:
                    runtime.metrics.record_operation("commit", topic, st.group, (_time_ns() - start_ns) / 1e9, error)
                except Exception as exc:
                    log_once("commit.metrics", exc)

    return commit


def make_close_wrapper(runtime: Runtime) -> Callable[..., Any]:
    """The wrapt wrapper for `KafkaConsumer.close`: ends the open process span first."""

    def close(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        end_process(runtime, state_of(instance))
        return wrapped(*args, **kwargs)

    return close


@contextmanager
def processing_span(runtime: Runtime | None, record: Any, consumer: Any = None) -> Iterator[Span]:
    """A `process {topic}` span current while the body handles `record` (a no-op span when not instrumented)."""
    if runtime is None or not is_instrumentation_enabled():
        yield INVALID_SPAN
        return
    if consumer is None:
        last = getattr(runtime.local, "consumer", None)
        consumer = last() if last is not None else None
    instance = consumer
    st = state_of(instance) if instance is not None else None
    start_ns = _time_ns()
    try:
        span, ctx = start_process(runtime, st, instance, record)
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
