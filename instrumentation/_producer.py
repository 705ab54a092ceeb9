"""The `KafkaProducer.send` wrapper: a `send {topic}` PRODUCER span that ends when the broker acknowledges.

Headers are normalised (None, positional or keyword, becomes a fresh list) and trace context is injected
by replacing. The offset or the error comes from the delivery future; the metrics are recorded for every
message, sampled or not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from eventlens.instrumentation import _cloudevents, _current, _propagation, attributes
from eventlens.instrumentation._fastspan import BaseAttributes, FastSpan
from eventlens.instrumentation._runtime import (
    Runtime,
    SentRecord,
    add_client_attributes,
    add_exchange_attributes,
    add_payload_attributes,
    body_size,
    error_type,
    key_text,
    record_error,
    server_of,
    set_attributes,
)
from eventlens.instrumentation._safety import log_once
from eventlens.instrumentation.patterns import SEND_OPTIONS
from opentelemetry.semconv._incubating.attributes import messaging_attributes as ma
from opentelemetry.trace import Link, Span, SpanKind

_HEADERS_POS = 3
_STATE = "_eventlens_producer"
_MAX_CACHED_TOPICS = 1024
_time_ns = time.time_ns
_SAMPLED = 0x01


class _Delivery:
    """Ends the send span and records the send metrics when the delivery future resolves."""

    __slots__ = ("metrics", "span", "start_ns", "topic")

    def __init__(self, runtime: Runtime, span: Span | None, topic: str, start_ns: int) -> None:
        self.metrics = runtime.metrics
        self.span = span
        self.topic = topic
        self.start_ns = start_ns

    def ok(self, metadata: Any) -> None:
        try:
            span = self.span
            if type(span) is FastSpan and span.end_time is None:
                attrs = span.own
                attrs[ma.MESSAGING_KAFKA_OFFSET] = metadata.offset
                attrs[ma.MESSAGING_DESTINATION_PARTITION_ID] = str(metadata.partition)
                attrs[attributes.RECORD_TIMESTAMP_MS] = metadata.timestamp
                span.end()
            elif span is not None:
                if span.is_recording():
                    set_attributes(span, {ma.MESSAGING_KAFKA_OFFSET: metadata.offset,
                                         ma.MESSAGING_DESTINATION_PARTITION_ID: str(metadata.partition),
                                         attributes.RECORD_TIMESTAMP_MS: metadata.timestamp})
                span.end()
            if self.metrics is not None:
                self.metrics.record_send(self.topic, (_time_ns() - self.start_ns) / 1e9)
        except Exception as exc:
            log_once("send.ack", exc)

    def error(self, exc: BaseException) -> None:
        try:
            span = self.span
            kind = record_error(span, exc) if span is not None else error_type(exc)
            if span is not None:
                span.end()
            if self.metrics is not None:
                self.metrics.record_send(self.topic, (_time_ns() - self.start_ns) / 1e9, kind)
        except Exception as err:
            log_once("send.error", err)


def _base_attributes(instance: Any, topic: str) -> BaseAttributes:
    """The attributes every send of this producer to `topic` shares (built once per producer and topic)."""
    cache: dict[str, BaseAttributes] | None = instance.__dict__.get(_STATE)
    if cache is None:
        cache = {}
        instance.__dict__[_STATE] = cache
    hit = cache.get(topic)
    if hit is None:
        config = getattr(instance, "config", {}) or {}
        host, port = server_of(config)
        client_id = config.get("client_id")
        base = {
            ma.MESSAGING_SYSTEM: "kafka",
            ma.MESSAGING_DESTINATION_NAME: topic,
            ma.MESSAGING_OPERATION_NAME: "send",
            ma.MESSAGING_OPERATION_TYPE: "send",
        }
        add_client_attributes(base, client_id if isinstance(client_id, str) else None, host, port)
        hit = BaseAttributes(base)
        if len(cache) < _MAX_CACHED_TOPICS:
            cache[topic] = hit
    return hit


def _normalise(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any], Any]:
    """Arguments with a headers list in place of None; returns (args, kwargs, headers)."""
    if len(args) > _HEADERS_POS:
        headers = args[_HEADERS_POS]
        if headers is None:
            headers = []
            args = (*args[:_HEADERS_POS], headers, *args[_HEADERS_POS + 1:])
        return args, kwargs, headers
    headers = kwargs.get("headers")
    if headers is None:
        headers = []
        kwargs = {**kwargs, "headers": headers}
    return args, kwargs, headers


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], pos: int, name: str) -> Any:
    return args[pos] if len(args) > pos else kwargs.get(name)


def _send_attributes(runtime: Runtime, attrs: dict[str, Any], topic: str,
                     call: tuple[tuple[Any, ...], dict[str, Any]], headers: Any) -> dict[str, Any]:
    """Add the attributes of one send (beyond those its producer and topic share) to `attrs`; returns it."""
    args, kwargs = call
    value = _arg(args, kwargs, 1, "value")
    key = _arg(args, kwargs, 2, "key")
    partition = _arg(args, kwargs, 4, "partition")
    if isinstance(partition, int):
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
        event_type = runtime.event_type(SentRecord(topic, value, key, headers if isinstance(headers, list) else None)) \
            or event_type
    if event_type is not None:
        attrs[attributes.EVENT_TYPE] = event_type
    add_payload_attributes(runtime, attrs, topic, value, event_type)
    return attrs


def _start(runtime: Runtime, instance: Any, call: tuple[tuple[Any, ...], dict[str, Any]],
           ctx: Any) -> tuple[tuple[Any, ...], dict[str, Any], Span | None, str]:
    """Start the send span and inject its context; the span is None when the sampler drops it."""
    args, kwargs = call
    topic = args[0] if args else kwargs.get("topic")
    if not isinstance(topic, str):
        raise TypeError("topic is not a string")
    args, kwargs, headers = _normalise(args, kwargs)
    current = _current.span_in(ctx)
    fast = runtime.fast
    if fast is not None:
        parent = current.get_span_context()
        ids = fast.decide(parent)
        if ids is not None:
            if not ids[2] & _SAMPLED:  # unsampled: no span object, no attributes, only the context on the wire
                _inject(headers, ids, ctx)
                return args, kwargs, None, topic
            sink = runtime.fast_sink()
            if sink is not None:  # sampled, and eventlens knows where its spans go: record it itself
                span: Span = FastSpan(sink, "send " + topic, SpanKind.PRODUCER, ids,
                                      parent if parent.is_valid else None,
                                      _send_attributes(runtime, {}, topic, (args, kwargs), headers),
                                      _fan_in_links(runtime, current), None, _base_attributes(instance, topic))
                _produce_hook(runtime, span, args, kwargs)
                _inject(headers, ids, ctx)
                return args, kwargs, span, topic
            if not parent.is_valid:
                fast.ids.local.trace_id = ids[0]  # the SDK's start_span takes this trace id and decides the same
    span = runtime.tracer.start_span("send " + topic, kind=SpanKind.PRODUCER, links=_fan_in_links(runtime, current))
    if span.is_recording():
        attrs = dict(_base_attributes(instance, topic).values)
        set_attributes(span, _send_attributes(runtime, attrs, topic, (args, kwargs), headers))
        _produce_hook(runtime, span, args, kwargs)
    if isinstance(headers, list):
        try:
            _propagation.inject_span(headers, span)
        except Exception as exc:
            log_once("inject", exc)
    return args, kwargs, span, topic


def _fan_in_links(runtime: Runtime, current: Span) -> list[Link] | None:
    """Links to every input of the last poll batch when sending after it outside a process span."""
    if getattr(runtime.local, "batch", None) and getattr(current, "kind", None) is not SpanKind.CONSUMER:
        return runtime.pending_batch_links()
    return None


def _produce_hook(runtime: Runtime, span: Span, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    hook = runtime.options.produce_hook
    if hook is not None:
        try:
            hook(span, args, kwargs)
        except Exception as exc:
            log_once("produce_hook", exc)


def _inject(headers: Any, ids: tuple[int, int, int, Any], ctx: Any) -> None:
    if isinstance(headers, list):
        try:
            _propagation.inject_ids(headers, *ids, with_baggage=_current.has_baggage(ctx))
        except Exception as exc:
            log_once("inject", exc)


def make_send_wrapper(runtime: Runtime) -> Callable[..., Any]:
    """The wrapt wrapper for `KafkaProducer.send` bound to `runtime`."""

    def send(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        ctx = _current.get_current()
        if _current.suppressed(ctx):
            return wrapped(*args, **kwargs)
        start_ns = _time_ns()
        try:
            args, kwargs, span, topic = _start(runtime, instance, (args, kwargs), ctx)
        except Exception as exc:
            log_once("send.start", exc)
            return wrapped(*args, **kwargs)
        try:
            future = wrapped(*args, **kwargs)
        except BaseException as exc:
            _Delivery(runtime, span, topic, start_ns).error(exc)
            raise
        try:
            delivery = _Delivery(runtime, span, topic, start_ns)
            add_both = getattr(future, "_add_cb_eb", None)
            if add_both is not None:
                add_both(delivery.ok, delivery.error)
            else:
                future.add_callback(delivery.ok)
                future.add_errback(delivery.error)
        except Exception as exc:
            log_once("send.callback", exc)
            if span is not None:
                span.end()
        return future

    return send

