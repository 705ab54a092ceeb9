"""Shared state of an active instrumentation: tracer, metrics, hooks and options, and client facts."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeGuard

from opentelemetry import trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Status, StatusCode, Tracer, TracerProvider

from eventlens import __version__
from eventlens.instrumentation import _sdk_compat, attributes
from eventlens.instrumentation._fastspan import BaseAttributes, FastSink, FastSpan
from eventlens.instrumentation._metrics import MessagingMetrics, metrics_for
from eventlens.instrumentation._propagation import header_attribute
from eventlens.instrumentation._safety import log_once
from eventlens.instrumentation._sampling import FastSampling
from eventlens.instrumentation._schema import FingerprintSampler, fingerprint

Ids = tuple[int, int, int, Any]
"""A new span's (trace id, span id, trace flags, trace state) as the fast path decides them."""
ProduceHook = Callable[[Span, Sequence[Any], dict[str, Any]], None]
ConsumeHook = Callable[[Span, Any, Sequence[Any], dict[str, Any]], None]
EventTypeGetter = Callable[[Any], "str | None"]

_SAMPLED = 0x01
_time_ns = time.time_ns
KEY_MAX_CHARS = 256
HEADER_MAX_CHARS = 256
"""Cap on every header value copied into a span attribute (correlation id, reply-to, CloudEvents ids)."""
PAYLOAD_MAX_BYTES = 1024


class ClientFacts(NamedTuple):
    """What a client's configuration says about it, for the attributes every span of that client shares."""

    client_id: str | None = None
    host: str | None = None
    port: int | None = None
    group: str | None = None


class SentRecord(NamedTuple):
    """What `event_type_getter` and fingerprinting see of a record being sent (value before serialization)."""

    topic: str
    value: Any
    key: Any
    headers: Sequence[tuple[str, bytes | None]] | None


@dataclass
class Options:
    """User options of `KafkaInstrumentor().instrument(...)`."""

    produce_hook: ProduceHook | None = None
    consume_hook: ConsumeHook | None = None
    event_type_getter: EventTypeGetter | None = None
    process_parent: bool = True
    capture_payload: bool = False
    fingerprint_first_n: int = 10
    fingerprint_every: int = 1000
    metrics: bool = True

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> Options:
        """The options of an instrumentor's `instrument(**kwargs)` (every client takes the same ones)."""
        return cls(
            produce_hook=kwargs.get("produce_hook"),
            consume_hook=kwargs.get("consume_hook"),
            event_type_getter=kwargs.get("event_type_getter"),
            process_parent=bool(kwargs.get("process_parent", True)),
            capture_payload=bool(kwargs.get("capture_payload", False)),
            metrics=bool(kwargs.get("metrics", True)),
            fingerprint_first_n=int(kwargs.get("fingerprint_first_n", cls.fingerprint_first_n)),
            fingerprint_every=int(kwargs.get("fingerprint_every", cls.fingerprint_every)),
        )


@dataclass
class Runtime:
    """Everything the wrappers need, built once per `instrument()` call."""

    tracer: Tracer
    metrics: MessagingMetrics | None
    options: Options
    sampler: FingerprintSampler
    fast: FastSampling | None = None
    sink: FastSink | None = None

    @classmethod
    def build(cls, tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None,
              options: Options) -> Runtime:
        """A runtime using the given providers (global ones when None).

        The SDK internals the fast paths read are probed here, once (`_sdk_compat.probe`): when any is
        missing, this runtime records every span through the SDK's public API.
        """
        tracer = trace.get_tracer("eventlens.instrumentation", __version__, tracer_provider=tracer_provider,
                                  schema_url="https://opentelemetry.io/schemas/1.44.0")
        metrics = metrics_for(meter_provider) if options.metrics else None
        internals = _sdk_compat.probe(tracer)
        fast = FastSampling.for_tracer(tracer) if internals else None
        return cls(tracer=tracer, metrics=metrics, options=options,
                   sampler=FingerprintSampler(options.fingerprint_first_n, options.fingerprint_every),
                   fast=fast, sink=FastSink.for_tracer(tracer) if fast is not None else None)

    def fast_sink(self) -> FastSink | None:
        """The sink for eventlens' own spans when it is still usable, else None (record through the SDK)."""
        sink = self.sink
        return sink if sink is not None and sink.usable() else None

    def event_type(self, record: Any) -> str | None:
        """The user's event type for `record` (None when no getter, or it failed or returned a non-string)."""
        getter = self.options.event_type_getter
        if getter is None:
            return None
        try:
            value = getter(record)
        except Exception as exc:
            log_once("event_type_getter", exc)
            return None
        return value if isinstance(value, str) and value else None


def decide(runtime: Runtime, parent: SpanContext, send: bool = False, link: SpanContext | None = None) -> Ids | None:
    """The fast path's ids for a new span under `parent` (its decision in the flags' sampled bit); None when the
    SDK decides (no fast path, or the tracer is disabled). `send`: a send span (always-keep rules apply);
    `link`: the one input context a link-only span takes its randomness from (docs "Sampling and lineage")."""
    fast = runtime.fast
    return fast.decide(parent, send, link) if fast is not None else None


def unsampled(ids: Ids | None) -> TypeGuard[Ids]:
    """True when the fast path decided to drop the span (`ids` from `decide`)."""
    return ids is not None and not ids[2] & _SAMPLED


def start_span(runtime: Runtime, ids: Ids | None, name: str, kind: SpanKind, parent: SpanContext, *,
               base: BaseAttributes, own: Callable[[dict[str, Any], int], dict[str, Any]],
               links: Sequence[Link] | None, hook: Callable[[Span], None],
               context: Callable[[], Any] | None = None) -> Span:
    """Start a span the fast path kept (`ids` from `decide`, sampled) or left to the SDK (`ids` None).

    The one branch the producer and the consumer share: eventlens' own `FastSpan` when its sink is usable, else
    the SDK's `start_span` in `context()` (the current context when None), a new root's trace id preset so the
    SDK decides the same. `own(attrs, now_ns)` adds the span's own attributes to `attrs` and `hook(span)` runs
    the user's hook, both only for a recording span; eventlens' own span starts at that `now_ns`.
    """
    if ids is not None:
        sink = runtime.fast_sink()
        if sink is not None:  # sampled, and eventlens knows where its spans go: record it itself
            now = _time_ns()
            span: Span = FastSpan(sink, name, kind, ids, parent if parent.is_valid else None, own({}, now), links,
                                  now, base)
            hook(span)
            return span
        fast: Any = runtime.fast
        if not parent.is_valid:
            fast.ids.local.trace_id = ids[0]  # the SDK's start_span takes this trace id and decides the same
    span = runtime.tracer.start_span(name, context=context() if context is not None else None, kind=kind,
                                     links=links or None)
    if span.is_recording():
        set_attributes(span, own(dict(base.values), _time_ns()))
        hook(span)
    return span


def key_text(key: object) -> str | None:
    """The string form of a record key, capped at KEY_MAX_CHARS (None for a null key)."""
    if key is None:
        return None
    if isinstance(key, bytes | bytearray | memoryview):
        text = bytes(key[:KEY_MAX_CHARS * 4]).decode("utf-8", "replace")
    else:
        text = str(key)
    return text[:KEY_MAX_CHARS]


def payload_text(value: object) -> str | None:
    """A truncated text form of a payload, for users who opted in to payload capture."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value[:PAYLOAD_MAX_BYTES]).decode("utf-8", "replace")
    return str(value)[:PAYLOAD_MAX_BYTES]


def body_size(value: object) -> int | None:
    """The size in bytes of a payload when known without serializing it."""
    if isinstance(value, bytes | bytearray | memoryview):
        return len(value)
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass"))
    return None


def server_of(config: dict[str, Any]) -> tuple[str | None, int | None]:
    """(host, port) of the first bootstrap server in a kafka-python client config."""
    return first_server(config.get("bootstrap_servers"))


def first_server(servers: object) -> tuple[str | None, int | None]:
    """(host, port) of the first of `servers`: a "host:port,host:port" string or a list of "host:port"."""
    first = servers if isinstance(servers, str) else (servers[0] if isinstance(servers, list | tuple) and servers
                                                      else None)
    if not isinstance(first, str):
        return None, None
    first = first.split(",")[0].strip()
    host, sep, port = first.rpartition(":")
    if not sep:
        return first, None
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        return host, None


def error_type(exc: BaseException) -> str:
    """The `error.type` of a failure: the Kafka error name for broker errors, else the class name."""
    message = getattr(type(exc), "message", None)
    if isinstance(message, str) and message and message.isupper():
        return message
    return type(exc).__qualname__


def record_error(span: Span, exc: BaseException, kind: str | None = None) -> str:
    """Mark a span failed (`error.type`, the exception event, ERROR status) when it records; returns the type.

    `kind` overrides the error type read from the exception (a client's own error code name, say).
    """
    if kind is None:
        kind = error_type(exc)
    if span.is_recording():
        span.set_attribute(ERROR_TYPE, kind)
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, str(exc)[:256]))
    return kind


def add_client_attributes(attrs: dict[str, Any], client_id: str | None, host: str | None, port: int | None) -> None:
    """Add `messaging.client.id`, `server.address` and `server.port` when known."""
    if client_id:
        attrs["messaging.client.id"] = client_id
    if host:
        attrs["server.address"] = host
    if port:
        attrs["server.port"] = port


def add_exchange_attributes(attrs: dict[str, Any], headers: Any) -> None:
    """Add the request/reply attributes read from the `correlation-id` and `reply-to` headers (each capped at
    HEADER_MAX_CHARS)."""
    if not isinstance(headers, list | tuple) or not headers:
        return
    correlation = header_attribute(headers, attributes.HEADER_CORRELATION_ID, HEADER_MAX_CHARS)
    if correlation is not None:
        attrs[attributes.CORRELATION_ID] = correlation
        attrs["messaging.message.conversation_id"] = correlation
    reply_to = header_attribute(headers, attributes.HEADER_REPLY_TO, HEADER_MAX_CHARS)
    if reply_to is not None:
        attrs[attributes.REPLY_TO] = reply_to


def add_payload_attributes(runtime: Runtime, attrs: dict[str, Any], topic: str, value: Any,
                           event_type: str | None) -> None:
    """Add the sampled schema fingerprint and, when opted in, the truncated payload."""
    if runtime.sampler.should_sample(topic, event_type):
        fp = fingerprint(value)
        if fp is not None:
            attrs[attributes.SCHEMA_FINGERPRINT] = fp
    if runtime.options.capture_payload:
        text = payload_text(value)
        if text is not None:
            attrs[attributes.PAYLOAD] = text


set_attributes = _sdk_compat.set_attributes
"""Set eventlens' own attributes on a recording span (fast when the SDK's internals probed present)."""
