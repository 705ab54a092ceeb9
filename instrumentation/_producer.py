"""The producer side of the shared core: a `send {topic}` PRODUCER span per record, ended at the broker's ack.

Every client module (kafka-python, confluent-kafka, aiokafka) turns its own send call into an `Outgoing`
record with a headers *list* the core may change, calls `start_send` before handing the record to the client,
and ends the span through a `Delivery` when the client reports the ack or the error. Trace context is injected
by replacing; the metrics are recorded for every message, sampled or not.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

from opentelemetry.semconv._incubating.attributes import messaging_attributes as ma
from opentelemetry.trace import Link, Span, SpanKind

from eventlens.instrumentation import _cloudevents, _current, _propagation, attributes
from eventlens.instrumentation._batch import pending_batch_links, poll_batch_open
from eventlens.instrumentation._fastspan import BaseAttributes, FastSpan
from eventlens.instrumentation._metrics import MessagingMetrics
from eventlens.instrumentation._runtime import (
    ClientFacts,
    Ids,
    Runtime,
    SentRecord,
    add_client_attributes,
    add_exchange_attributes,
    add_payload_attributes,
    body_size,
    decide,
    error_type,
    key_text,
    record_error,
    set_attributes,
    start_span,
    unsampled,
)
from eventlens.instrumentation._safety import log_once
from eventlens.instrumentation.patterns import SEND_OPTIONS

_MAX_CACHED_TOPICS = 1024
_time_ns = time.time_ns


class Outgoing(NamedTuple):
    """One record a client is about to send, as the core sees it (`headers` is the list sent on the wire)."""

    topic: str
    value: Any
    key: Any
    headers: list[tuple[str, bytes | None]]
    partition: int | None = None


class SendSignature(NamedTuple):
    """Where a client's send call takes each argument by position (the topic is always first)."""

    value: int
    key: int
    partition: int
    headers: int


def headers_list(headers: Any) -> list[tuple[str, bytes | None]]:
    """A fresh list of the caller's headers (None: empty), what the core injects into; anything but a list or a
    tuple is refused."""
    if headers is None:
        return []
    if isinstance(headers, list | tuple):
        return list(headers)
    raise TypeError("headers is not a list")


def send_call(args: tuple[Any, ...], kwargs: dict[str, Any], sig: SendSignature, *,
              copy_headers: bool) -> tuple[tuple[Any, ...], dict[str, Any], str, list[tuple[str, bytes | None]]]:
    """A send call's (args, kwargs, topic, headers list): all an unsampled send needs (`outgoing_of` builds the
    record when the span records). The headers stay where the caller put them (by position or keyword), so no
    argument is ever given twice; `copy_headers=False` keeps a caller's own list (and injects into it), None and
    tuples always become a new list."""
    topic = args[0] if args else kwargs.get("topic")
    if not isinstance(topic, str):
        raise TypeError("topic is not a string")
    pos = sig.headers
    if len(args) > pos:
        headers = args[pos]
        if copy_headers or type(headers) is not list:
            headers = headers_list(headers)
            args = (*args[:pos], headers, *args[pos + 1:])
    else:
        headers = kwargs.get("headers")
        if copy_headers or type(headers) is not list:
            headers = headers_list(headers)
            kwargs = {**kwargs, "headers": headers}
    return args, kwargs, topic, headers


def outgoing_of(args: tuple[Any, ...], kwargs: dict[str, Any], sig: SendSignature, topic: str,
                headers: list[tuple[str, bytes | None]]) -> Outgoing:
    """The record a send call (as returned by `send_call`) describes, built only when its span records."""
    partition = args[sig.partition] if len(args) > sig.partition else kwargs.get("partition")
    return Outgoing(topic, args[sig.value] if len(args) > sig.value else kwargs.get("value"),
                    args[sig.key] if len(args) > sig.key else kwargs.get("key"), headers,
                    partition if isinstance(partition, int) else None)


class ProducerState:
    """Per-producer facts and the per-topic attribute sets its send spans share (built once per topic)."""

    __slots__ = ("base", "facts")

    def __init__(self, facts: ClientFacts) -> None:
        self.facts = facts
        self.base: dict[str, BaseAttributes] = {}

    def base_attributes(self, topic: str) -> BaseAttributes:
        """The attributes every send of this producer to `topic` shares."""
        hit = self.base.get(topic)
        if hit is None:
            base = {
                ma.MESSAGING_SYSTEM: "kafka",
                ma.MESSAGING_DESTINATION_NAME: topic,
                ma.MESSAGING_OPERATION_NAME: "send",
                ma.MESSAGING_OPERATION_TYPE: "send",
            }
            add_client_attributes(base, self.facts.client_id, self.facts.host, self.facts.port)
            hit = BaseAttributes(base)
            if len(self.base) < _MAX_CACHED_TOPICS:
                self.base[topic] = hit
        return hit


class SendMetrics:
    """The send metrics of one record, recorded when the client reports the ack or the error; alone, the whole
    delivery of an unsampled send (no span, no record).

    `ok` ignores what the client reports, so a client can register it as its success callback directly.
    """

    __slots__ = ("metrics", "start_ns", "topic")

    def __init__(self, metrics: MessagingMetrics | None, topic: str, start_ns: int) -> None:
        self.metrics = metrics
        self.topic = topic
        self.start_ns = start_ns

    def ok(self, *_report: Any) -> None:
        """The record was acknowledged: one sent message and its send duration."""
        try:
            if self.metrics is not None:
                self.metrics.record_send(self.topic, (_time_ns() - self.start_ns) / 1e9)
        except Exception as exc:
            log_once("send.ack", exc)

    def error(self, exc: BaseException, kind: str | None = None) -> None:
        """The record was not delivered: counted with `error.type` (`kind`, else the exception's Kafka name or
        class)."""
        try:
            if self.metrics is not None:
                self.metrics.record_send(self.topic, (_time_ns() - self.start_ns) / 1e9,
                                         kind if kind is not None else error_type(exc))
        except Exception as err:
            log_once("send.error", err)


class Delivery(SendMetrics):
    """Ends the send span (with the ack's offset, or the error) and records the send metrics."""

    __slots__ = ("span",)

    def __init__(self, runtime: Runtime, span: Span | None, topic: str, start_ns: int) -> None:
        super().__init__(runtime.metrics, topic, start_ns)
        self.span = span

    def ok(self, offset: int | None, partition: int | None, timestamp_ms: int | None) -> None:
        """The broker acknowledged the record at `offset` of `partition` (None when the client does not say)."""
        try:
            span = self.span
            if span is not None:
                acked: dict[str, Any] = {}
                if isinstance(offset, int) and offset >= 0:
                    acked[ma.MESSAGING_KAFKA_OFFSET] = offset
                if isinstance(partition, int) and partition >= 0:
                    acked[ma.MESSAGING_DESTINATION_PARTITION_ID] = str(partition)
                if isinstance(timestamp_ms, int) and timestamp_ms > 0:
                    acked[attributes.RECORD_TIMESTAMP_MS] = timestamp_ms
                if type(span) is FastSpan:
                    if span.end_time is None:
                        span.own.update(acked)
                        span.end()
                else:
                    if acked and span.is_recording():
                        set_attributes(span, acked)
                    span.end()
        except Exception as exc:
            log_once("send.ack", exc)
            return
        SendMetrics.ok(self)

    def error(self, exc: BaseException, kind: str | None = None) -> None:
        """The record was not delivered: the span ends with the error, and the metrics count it."""
        try:
            span = self.span
            if span is not None:
                kind = record_error(span, exc, kind)
                span.end()
        except Exception as err:
            log_once("send.error", err)
            return
        SendMetrics.error(self, exc, kind)


def send_attributes(runtime: Runtime, attrs: dict[str, Any], out: Outgoing) -> dict[str, Any]:
    """Add the attributes of one send (beyond those its producer and topic share) to `attrs`; returns it."""
    topic, value, key, headers, partition = out
    if isinstance(partition, int) and partition >= 0:
        attrs[ma.MESSAGING_DESTINATION_PARTITION_ID] = str(partition)
    k = key_text(key)
    if k is not None:
        attrs[ma.MESSAGING_KAFKA_MESSAGE_KEY] = k
    if value is None:
        attrs[ma.MESSAGING_KAFKA_MESSAGE_TOMBSTONE] = True
    size = body_size(value)
    if size is not None:
        attrs[ma.MESSAGING_MESSAGE_BODY_SIZE] = size
    add_exchange_attributes(attrs, headers)
    options = SEND_OPTIONS.get()
    if options is not None:
        if options.retry_attempt is not None:
            attrs[attributes.RETRY_ATTEMPT] = options.retry_attempt
        if options.dead_letter:
            attrs[attributes.DEAD_LETTER] = True
            if options.reason:
                attrs[attributes.DEAD_LETTER_REASON] = options.reason
        if options.outbox:
            attrs[attributes.OUTBOX] = True
    # A CloudEvent in binary mode names itself in its `ce_*` headers; a user's getter still takes precedence.
    event_type = _cloudevents.add_event_attributes(attrs, _cloudevents.from_binary(headers))
    if runtime.options.event_type_getter is not None:
        event_type = runtime.event_type(SentRecord(topic, value, key, headers)) or event_type
    if event_type is not None:
        attrs[attributes.EVENT_TYPE] = event_type
    add_payload_attributes(runtime, attrs, topic, value, event_type)
    return attrs


def decide_send(runtime: Runtime, headers: list[tuple[str, bytes | None]],
                ctx: Any) -> tuple[Span, Ids | None] | None:
    """The first step of every send, before any record or producer state is built.

    On the fast path an unsampled send is finished here: its context goes into `headers` and None comes back
    (the caller then needs no `Outgoing`, no span, only `SendMetrics`). Otherwise returns what `start_send`
    takes as `decided`: the current span, and the sampled ids when the fast path decided (None: the SDK decides).
    """
    current = _current.span_in(ctx)
    ids = decide(runtime, current.get_span_context(), send=True)
    if unsampled(ids):  # no span object, no attributes, only the context on the wire
        _inject_ids(headers, ids, ctx)
        return None
    return current, ids


def start_send(runtime: Runtime, state: ProducerState, out: Outgoing, ctx: Any,
               call: tuple[tuple[Any, ...], dict[str, Any]], *,
               decided: tuple[Span, Ids | None]) -> Span | None:
    """Start the send span of `out` in context `ctx` and inject its context into `out.headers`.

    Returns None when the sampler drops it (the context still goes on the wire). `call` is the client call's
    (args, kwargs), as the user's produce hook sees them; `decided` is `decide_send`'s answer (a send it did
    not finish), which every client asks first.
    """
    current, ids = decided
    headers = out.headers
    span = start_span(runtime, ids, "send " + out.topic, SpanKind.PRODUCER, current.get_span_context(),
                      base=state.base_attributes(out.topic),
                      own=lambda attrs, _now: send_attributes(runtime, attrs, out),
                      links=_fan_in_links(current), hook=lambda span: _produce_hook(runtime, span, *call))
    if ids is not None and type(span) is FastSpan:
        _inject_ids(headers, ids, ctx)
        return span
    try:
        _propagation.inject_span(headers, span)
    except Exception as exc:
        log_once("inject", exc)
    return span


def _fan_in_links(current: Span) -> list[Link] | None:
    """Links to every input of the last poll batch when sending after it outside a process span."""
    if poll_batch_open() and getattr(current, "kind", None) is not SpanKind.CONSUMER:
        return pending_batch_links()
    return None


def _produce_hook(runtime: Runtime, span: Span, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    hook = runtime.options.produce_hook
    if hook is not None:
        try:
            hook(span, args, kwargs)
        except Exception as exc:
            log_once("produce_hook", exc)


def _inject_ids(headers: list[tuple[str, bytes | None]], ids: tuple[int, int, int, Any], ctx: Any) -> None:
    try:
        _propagation.inject_ids(headers, *ids, with_baggage=_current.has_baggage(ctx))
    except Exception as exc:
        log_once("inject", exc)
