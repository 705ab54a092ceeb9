"""eventlens' own recorded spans: sampled `send` and `process` spans kept outside the SDK's `Span` type.

An SDK span costs ≈ 14 µs to start and end before any attribute (locks, `BoundedAttributes`, a
`ReadableSpan` copy at `end()`, the processor chain). When eventlens knows where its spans go, it records
them as a `FastSpan` instead — a slotted object holding the ids, a plain attribute dict and the times — and
hands it at `end()` straight to the export queue, where eventlens' encoder writes it to OTLP.

The rule (`FastSink.for_tracer`): the tracer is the SDK's with a standard sampler (see `_sampling.py`), its
provider has exactly one span processor, a `BatchSpanProcessor` or `SimpleSpanProcessor`, whose exporter
declares `eventlens_fast_spans = True` (eventlens' `FastOTLPSpanExporter`, which `instrument()` and
`eventlens instrument` install), no attribute-length limit is configured, and `_sdk_compat.probe` found
every SDK internal this module reads (through `_sdk_compat`, the only module that names them). Anything
else — another exporter, a second processor, added later or not, a renamed SDK private — takes the SDK path.
Spans then flush and shut down with the provider's own processor, on the provider's resource and eventlens'
instrumentation scope.

A `FastSpan` is a complete `opentelemetry.trace.Span`: user code and hooks can set attributes, add events
and links, set the status, record exceptions, rename it; those calls apply the SDK's limits and cleaning.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from types import MappingProxyType, TracebackType
from typing import Any, cast

from opentelemetry import context as otel_context
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState
from opentelemetry.util import types

from eventlens.instrumentation import _sdk_compat

_LOG = logging.getLogger("eventlens.instrumentation")
_UNSET = Status(StatusCode.UNSET)
_time_ns = time.time_ns
_MIN_SPAN_ATTRIBUTES = 64  # eventlens sets ≈ 15; a lower configured cap takes the SDK path
_MIN_OTHER_ATTRIBUTES = 8  # links carry ≤ 2, the exception event 4


class FastSink:
    """Where one SDK tracer's eventlens spans go: the emit of the provider's only processor (see module doc)."""

    __slots__ = ("current", "emit", "limits", "multi", "processors", "resource", "scope")

    def __init__(self, multi: Any, emit: Callable[[Any], None], tracer: Any) -> None:
        self.multi = multi
        self.current = _sdk_compat.span_processors()
        self.processors = self.current(multi)
        self.emit = emit
        self.resource = tracer.resource
        self.scope = _sdk_compat.tracer_scope(tracer)
        self.limits = _sdk_compat.tracer_limits(tracer)

    @classmethod
    def for_tracer(cls, tracer: Any) -> FastSink | None:
        """The sink for `tracer`, or None when its spans must go through the SDK (see the module doc's rule).

        Only called after `_sdk_compat.probe` found every private it reads.
        """
        try:
            from opentelemetry.sdk.trace import SynchronousMultiSpanProcessor
            from opentelemetry.sdk.trace import Tracer as SdkTracer
            from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

            if type(tracer) is not SdkTracer:
                return None
            multi = tracer.span_processor
            processors: Sequence[Any] = (_sdk_compat.span_processors()(multi)
                                         if type(multi) is SynchronousMultiSpanProcessor else ())
            if len(processors) != 1:
                return None
            processor = processors[0]
            emit: Callable[[Any], None]
            if type(processor) is BatchSpanProcessor:
                exporter, emit = _sdk_compat.batch_queue(processor)
            elif type(processor) is SimpleSpanProcessor:
                exporter = processor.span_exporter
                emit = _simple_emit(exporter)
            else:
                return None
            if (getattr(exporter, "eventlens_fast_spans", False) is not True
                    or not _limits_ok(_sdk_compat.tracer_limits(tracer))):
                return None
            return cls(multi, emit, tracer)
        except Exception:
            return None

    def usable(self) -> bool:
        """True while the provider still has exactly the processor this sink was built for."""
        return self.current(self.multi) is self.processors


def _at_least(value: int | None, minimum: int) -> bool:
    return value is None or value >= minimum


def _limits_ok(limits: Any) -> bool:
    return (limits.max_attribute_length is None and limits.max_span_attribute_length is None
            and _at_least(limits.max_span_attributes, _MIN_SPAN_ATTRIBUTES)
            and _at_least(limits.max_link_attributes, _MIN_OTHER_ATTRIBUTES)
            and _at_least(limits.max_event_attributes, _MIN_OTHER_ATTRIBUTES))


def _simple_emit(exporter: Any) -> Callable[[Any], None]:
    """Export one span synchronously, as `SimpleSpanProcessor.on_end` does (instrumentation suppressed)."""
    suppress = _sdk_compat.suppress_key()

    def emit(span: Any) -> None:
        token = otel_context.attach(otel_context.set_value(suppress, True))
        try:
            exporter.export((span,))
        except Exception:
            _LOG.exception("Exception while exporting Span.")
        finally:
            otel_context.detach(token)

    return emit


_bounded_links = _sdk_compat.bounded_links


class BaseAttributes:
    """Attributes shared by every span of one client and topic, with their OTLP encoding (made once, lazily)."""

    __slots__ = ("encoded", "values")

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.encoded: bytes | None = None


_NO_BASE = BaseAttributes({})


class FastSpan(Span):
    """A sampled span recorded by eventlens without the SDK's span machinery, exported by eventlens' encoder.

    Its attributes are `base` (shared, encoded once per client and topic) followed by `own` (this span's);
    `attributes` shows both. The first user call that sets attributes folds them into one SDK
    `BoundedAttributes` (so the SDK's limits and cleaning apply, and a base key can be overwritten).
    """

    __slots__ = ("_context", "_status", "base", "end_time", "events", "flags", "kind", "links", "name", "own",
                 "parent", "sink", "span_id", "start_time", "trace_id", "trace_state")

    def __init__(self, sink: FastSink, name: str, kind: SpanKind, ids: tuple[int, int, int, TraceState | None],  # noqa: PLR0917
                 parent: SpanContext | None, attributes: dict[str, Any], links: Sequence[Link] | None = None,
                 start_time: int | None = None, base: BaseAttributes = _NO_BASE) -> None:
        self.sink = sink
        self.name = name
        self.kind = kind
        self.trace_id, self.span_id, self.flags, self.trace_state = ids
        self.parent = parent
        self.base = base
        self.own: MutableMapping[str, Any] = attributes
        self.links: Any = _bounded_links(sink.limits, links) if links else None
        self.events: Any = None
        self._status = _UNSET
        self._context: SpanContext | None = None
        self.start_time = start_time if start_time is not None else _time_ns()
        self.end_time: int | None = None

    # --- what the exporter reads -------------------------------------------------------------------------
    @property
    def resource(self) -> Any:
        """The provider's resource."""
        return self.sink.resource

    @property
    def instrumentation_scope(self) -> Any:
        """eventlens' instrumentation scope (name, version, schema URL) on this provider."""
        return self.sink.scope

    @property
    def status(self) -> Status:
        """The span's status (UNSET unless set)."""
        return self._status

    @property
    def attributes(self) -> Mapping[str, Any]:
        """All attributes, shared ones first, read-only as on an SDK span (set them with `set_attribute`)."""
        base = self.base.values
        return MappingProxyType({**base, **self.own} if base else self.own)

    @property
    def dropped_attributes(self) -> int:
        """Attributes dropped by the span attribute limit (user-set attributes only)."""
        return int(getattr(self.own, "dropped", 0))

    @property
    def dropped_events(self) -> int:
        """Events dropped by the event limit."""
        return int(getattr(self.events, "dropped", 0))

    @property
    def dropped_links(self) -> int:
        """Links dropped by the link limit."""
        return int(getattr(self.links, "dropped", 0))

    @property
    def context(self) -> SpanContext:
        """This span's context (as `ReadableSpan.context`)."""
        return self.get_span_context()

    # --- the Span API --------------------------------------------------------------------------------------
    def get_span_context(self) -> SpanContext:
        """The span context (built on first use)."""
        ctx = self._context
        if ctx is None:
            ctx = self._context = SpanContext(self.trace_id, self.span_id, is_remote=False,
                                              trace_flags=TraceFlags(self.flags), trace_state=self.trace_state)
        return ctx

    def is_recording(self) -> bool:
        """True until the span ends."""
        return self.end_time is None

    def _bounded(self) -> BoundedAttributes:
        """The attributes as the SDK's `BoundedAttributes` (user calls get the SDK's limits and cleaning)."""
        own = self.own
        if isinstance(own, BoundedAttributes):
            return own
        bounded = BoundedAttributes(self.sink.limits.max_span_attributes, self.attributes, immutable=False,
                                    max_value_len=self.sink.limits.max_span_attribute_length)
        self.own = bounded
        self.base = _NO_BASE
        return bounded

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        """Set one attribute (ignored with a warning once the span ended, as the SDK does)."""
        if self.end_time is not None:
            _LOG.warning("Setting attribute on ended span.")
            return
        self._bounded()[key] = value

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        """Set several attributes (ignored with a warning once the span ended)."""
        if self.end_time is not None:
            _LOG.warning("Setting attribute on ended span.")
            return
        _sdk_compat.set_items(self._bounded(), attributes)

    def add_event(self, name: str, attributes: types.Attributes = None, timestamp: int | None = None) -> None:
        """Add an event (bounded by the provider's event and event-attribute limits)."""
        if self.end_time is not None:
            _LOG.warning("Calling add_event() on an ended span.")
            return
        from opentelemetry.sdk.trace import Event
        from opentelemetry.sdk.util import BoundedList

        limits = self.sink.limits
        bounded = BoundedAttributes(limits.max_event_attributes, attributes,
                                    max_value_len=limits.max_attribute_length, immutable=True)
        if self.events is None:
            self.events = BoundedList(limits.max_events)
        self.events.append(Event(name=name, attributes=bounded, timestamp=timestamp))

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        """Add a link (bounded by the provider's link limits)."""
        if self.end_time is not None:
            _LOG.warning("Calling add_link() on an ended span.")
            return
        from opentelemetry.sdk.util import BoundedList

        links = _bounded_links(self.sink.limits, [Link(context, attributes)])
        if not links:
            return
        if self.links is None:
            self.links = BoundedList(self.sink.limits.max_links)
        self.links.extend(links)

    def update_name(self, name: str) -> None:
        """Rename the span."""
        if self.end_time is not None:
            _LOG.warning("Calling update_name() on an ended span.")
            return
        self.name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        """Set the status with the SDK's rules (OK is final, UNSET is ignored)."""
        if self.end_time is not None:
            _LOG.warning("Calling set_status() on an ended span.")
            return
        if self._status.status_code is StatusCode.OK:
            return
        if isinstance(status, Status):
            if status.status_code is not StatusCode.UNSET:
                self._status = status
        elif status is not StatusCode.UNSET:
            self._status = Status(status, description)

    def record_exception(self, exception: BaseException, attributes: types.Attributes = None,
                         timestamp: int | None = None, escaped: bool = False) -> None:
        """Record an exception event exactly as the SDK does."""
        from opentelemetry.sdk.trace import Span as SdkSpan

        cast(Any, SdkSpan.record_exception)(self, exception, attributes, timestamp, escaped)

    def end(self, end_time: int | None = None) -> None:
        """End the span and hand it to the export queue (a second `end()` only warns, as the SDK)."""
        if self.end_time is not None:
            _LOG.warning("Calling end() on an ended span.")
            return
        self.end_time = end_time if end_time is not None else _time_ns()
        self.sink.emit(self)

    def __exit__(self, exc_type: type[BaseException] | None, exc_val: BaseException | None,
                 exc_tb: TracebackType | None) -> None:
        """As the SDK span: an escaping exception is recorded and sets an ERROR status, then the span ends."""
        if exc_val is not None and self.is_recording():
            self.record_exception(exc_val, escaped=True)
            self.set_status(Status(StatusCode.ERROR, f"{type(exc_val).__name__}: {exc_val}"))
        self.end()

    def to_readable(self) -> Any:
        """This span as the SDK's `ReadableSpan` (for exporters and tests that read SDK spans)."""
        from opentelemetry.sdk.trace import ReadableSpan

        return ReadableSpan(name=self.name, context=self.get_span_context(), parent=self.parent,
                            resource=self.sink.resource, attributes=self.attributes,
                            events=tuple(self.events or ()), links=tuple(self.links or ()), kind=self.kind,
                            status=self._status, start_time=self.start_time, end_time=self.end_time,
                            instrumentation_scope=self.sink.scope)

    def __repr__(self) -> str:
        return f'FastSpan(name="{self.name}", trace_id={self.trace_id:032x}, span_id={self.span_id:016x})'
