"""The one place eventlens reaches into OpenTelemetry's private internals, each probed once per provider.

The fast paths (`_fastspan.py`, `_sampling.py`, `_current.py`, `_propagation.py`, `_runtime.set_attributes`)
read a few SDK and API privates: the span processors behind a provider, the batch processor's queue, the
tracer's limits, scope and internal metrics, sampler fields, `BoundedAttributes` internals, link
attributes, context keys, the composite propagator's list. Only this module names them, all in
`PRIVATES`. `probe(tracer)` runs when a `Runtime` is built (`instrument()`): it checks every one of them
on the installed SDK (and on the given tracer's own objects), then turns the fast paths on, or — when any
is missing, say renamed by a new SDK release — off for that runtime for good, with one warning naming
what is missing. Spans then take the SDK's public path, which only costs speed. Nothing is checked again
per span: the functions below assume a successful probe and are only reached when it succeeded.
"""

from __future__ import annotations

import importlib
import logging
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

_LOG = logging.getLogger("eventlens.instrumentation")


@dataclass(frozen=True, slots=True)
class Private:
    """One private internal eventlens reads: attribute `name` of `owner` (`module` or `module:Class`).

    `instance` says the attribute is set per object (in `__init__`), so it is looked for on a sample
    object of that class rather than on the class itself.
    """

    owner: str
    name: str
    instance: bool = False

    def label(self) -> str:
        """`owner.name` for log lines and test ids."""
        return f"{self.owner}.{self.name}"


SUPPRESS_KEY = Private("opentelemetry.context", "_SUPPRESS_INSTRUMENTATION_KEY")
SUPPRESS_KEY_PLAIN = Private("opentelemetry.instrumentation.utils", "_SUPPRESS_INSTRUMENTATION_KEY_PLAIN")
SPAN_KEY = Private("opentelemetry.trace.propagation", "_SPAN_KEY")
BAGGAGE_KEY = Private("opentelemetry.baggage", "_BAGGAGE_KEY")
TRACEPARENT_RE = Private("opentelemetry.trace.propagation.tracecontext:TraceContextTextMapPropagator",
                         "_TRACEPARENT_HEADER_FORMAT_RE")
COMPOSITE_PROPAGATORS = Private("opentelemetry.propagators.composite:CompositePropagator", "_propagators",
                                instance=True)
IS_VALID_LINK = Private("opentelemetry.sdk.trace", "_is_valid_link")
LINK_ATTRIBUTES = Private("opentelemetry.trace:Link", "_attributes", instance=True)
SET_ITEMS = Private("opentelemetry.attributes:BoundedAttributes", "_set_items")
ATTRIBUTES_DICT = Private("opentelemetry.attributes:BoundedAttributes", "_dict", instance=True)
ATTRIBUTES_LOCK = Private("opentelemetry.attributes:BoundedAttributes", "_lock", instance=True)
ATTRIBUTES_IMMUTABLE = Private("opentelemetry.attributes:BoundedAttributes", "_immutable", instance=True)
SPAN_ATTRIBUTES = Private("opentelemetry.sdk.trace:Span", "_attributes", instance=True)
SPAN_PROCESSORS = Private("opentelemetry.sdk.trace:SynchronousMultiSpanProcessor", "_span_processors",
                          instance=True)
BATCH_PROCESSOR = Private("opentelemetry.sdk.trace.export:BatchSpanProcessor", "_batch_processor", instance=True)
BATCH_EXPORTER = Private("opentelemetry.sdk._shared_internal:BatchProcessor", "_exporter", instance=True)
TRACER_SCOPE = Private("opentelemetry.sdk.trace:Tracer", "_instrumentation_scope", instance=True)
TRACER_LIMITS = Private("opentelemetry.sdk.trace:Tracer", "_span_limits", instance=True)
TRACER_METRICS = Private("opentelemetry.sdk.trace:Tracer", "_tracer_metrics", instance=True)
NOOP_TRACER_METRICS = Private("opentelemetry.sdk.trace._tracer_metrics", "NoOpTracerMetrics")
TRACER_ENABLED = Private("opentelemetry.sdk.trace:Tracer", "_is_enabled")
STATIC_DECISION = Private("opentelemetry.sdk.trace.sampling:StaticSampler", "_decision", instance=True)
PARENT_BASED_ROOT = Private("opentelemetry.sdk.trace.sampling:ParentBased", "_root", instance=True)
PARENT_BASED_DELEGATES = tuple(
    Private("opentelemetry.sdk.trace.sampling:ParentBased", name, instance=True)
    for name in ("_remote_parent_sampled", "_remote_parent_not_sampled", "_local_parent_sampled",
                 "_local_parent_not_sampled"))

PRIVATES: tuple[Private, ...] = (
    SUPPRESS_KEY, SUPPRESS_KEY_PLAIN, SPAN_KEY, BAGGAGE_KEY, TRACEPARENT_RE, COMPOSITE_PROPAGATORS, IS_VALID_LINK,
    LINK_ATTRIBUTES, SET_ITEMS, ATTRIBUTES_DICT, ATTRIBUTES_LOCK, ATTRIBUTES_IMMUTABLE, SPAN_ATTRIBUTES,
    SPAN_PROCESSORS, BATCH_PROCESSOR, BATCH_EXPORTER, TRACER_SCOPE, TRACER_LIMITS, TRACER_METRICS,
    NOOP_TRACER_METRICS, TRACER_ENABLED, STATIC_DECISION, PARENT_BASED_ROOT, *PARENT_BASED_DELEGATES,
)
"""Every private internal eventlens reads; the probe checks them all."""


def _owner(spec: str) -> Any:
    module_name, _, class_name = spec.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, class_name) if class_name else module


def _samples() -> dict[str, Any]:
    """One ordinary object of each class whose instance privates are probed (built with public calls)."""
    from opentelemetry.attributes import BoundedAttributes
    from opentelemetry.propagators.composite import CompositePropagator
    from opentelemetry.sdk.trace import SynchronousMultiSpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
    from opentelemetry.trace import INVALID_SPAN_CONTEXT, Link

    provider = TracerProvider(shutdown_on_exit=False)
    tracer = provider.get_tracer("eventlens.sdk_compat.probe")
    span = tracer.start_span("probe")
    span.end()
    batch = BatchSpanProcessor(InMemorySpanExporter())
    samples = {
        "opentelemetry.attributes:BoundedAttributes": BoundedAttributes(1, immutable=False),
        "opentelemetry.trace:Link": Link(INVALID_SPAN_CONTEXT),
        "opentelemetry.propagators.composite:CompositePropagator": CompositePropagator([]),
        "opentelemetry.sdk.trace:SynchronousMultiSpanProcessor": cast(Any, SynchronousMultiSpanProcessor)(),
        "opentelemetry.sdk.trace.export:BatchSpanProcessor": batch,
        "opentelemetry.sdk._shared_internal:BatchProcessor": getattr(batch, BATCH_PROCESSOR.name, None),
        "opentelemetry.sdk.trace:Tracer": tracer,
        "opentelemetry.sdk.trace:Span": span,
        "opentelemetry.sdk.trace.sampling:StaticSampler": ALWAYS_ON,
        "opentelemetry.sdk.trace.sampling:ParentBased": ParentBased(ALWAYS_ON),
    }
    cast(Any, batch).shutdown()
    cast(Any, provider).shutdown()
    return samples


def missing_privates(tracer: Any = None) -> list[str]:
    """The labels of the privates absent from the installed OpenTelemetry (and from `tracer`'s own objects)."""
    try:
        samples = _samples()
    except Exception as exc:  # the SDK cannot even build its ordinary objects the way we expect
        return [f"sample objects ({exc!r})"]
    missing = []
    for private in PRIVATES:
        try:
            holder = samples.get(private.owner) if private.instance else _owner(private.owner)
            found = holder is not None and hasattr(holder, private.name)
        except Exception:
            found = False
        if not found:
            missing.append(private.label())
    missing.extend(_missing_on_tracer(tracer))
    return missing


def _missing_on_tracer(tracer: Any) -> list[str]:
    """Privates absent from this tracer's provider objects (a processor built by another SDK, say)."""
    if tracer is None:
        return []
    from opentelemetry.sdk.trace import SynchronousMultiSpanProcessor
    from opentelemetry.sdk.trace import Tracer as SdkTracer
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if type(tracer) is not SdkTracer:
        return []
    missing = [p.label() for p in (TRACER_SCOPE, TRACER_LIMITS, TRACER_METRICS) if not hasattr(tracer, p.name)]
    multi = getattr(tracer, "span_processor", None)
    if type(multi) is SynchronousMultiSpanProcessor:
        processors = getattr(multi, SPAN_PROCESSORS.name, None)
        if processors is None:
            return [*missing, SPAN_PROCESSORS.label()]
        for processor in processors:
            if type(processor) is BatchSpanProcessor:
                inner = getattr(processor, BATCH_PROCESSOR.name, None)
                if inner is None or not hasattr(inner, BATCH_EXPORTER.name) or not hasattr(inner, "emit"):
                    missing.append(BATCH_EXPORTER.label())
    return missing


_warned: set[tuple[str, ...]] = set()
_listeners: list[Callable[[], None]] = []


def on_probe(listener: Callable[[], None]) -> None:
    """Call `listener` after every probe (modules that rebind their fast functions: `_current`,
    `_propagation`)."""
    _listeners.append(listener)


def probe(tracer: Any = None) -> bool:
    """True when every private is present (fast paths on); else warn once and turn them off (SDK path).

    Called when a runtime is built; sets what the module-level fast functions use (`set_attributes`'s
    direct write, `context_keys()`, `traceparent_pattern()`) and tells the `on_probe` listeners.
    """
    global _DIRECT_ATTRIBUTES, _CONTEXT_KEYS, _TRACEPARENT_RE  # noqa: PLW0603 (set once per probe)
    missing = missing_privates(tracer)
    ok = not missing
    _DIRECT_ATTRIBUTES = ok
    _CONTEXT_KEYS = _read_context_keys() if ok else None
    _TRACEPARENT_RE = _read_traceparent_re() if ok else None
    if not ok and tuple(missing) not in _warned:
        _warned.add(tuple(missing))
        _LOG.warning("eventlens: OpenTelemetry internals not found (%s); spans take the SDK's public path, "
                     "slower but complete (logged once)", ", ".join(missing))
    for listener in _listeners:
        listener()
    return ok


# --- context keys and the traceparent pattern (API privates) ------------------------------------------------

@dataclass(frozen=True, slots=True)
class ContextKeys:
    """The keys under which the API keeps suppression, the current span and baggage in a `Context`."""

    suppress: str
    suppress_plain: str
    span: str
    baggage: str


def _read_context_keys() -> ContextKeys | None:
    try:
        return ContextKeys(*(getattr(_owner(p.owner), p.name)
                             for p in (SUPPRESS_KEY, SUPPRESS_KEY_PLAIN, SPAN_KEY, BAGGAGE_KEY)))
    except Exception:
        return None


def _read_traceparent_re() -> Any:
    try:
        return getattr(_owner(TRACEPARENT_RE.owner), TRACEPARENT_RE.name)
    except Exception:
        return None


_CONTEXT_KEYS: ContextKeys | None = _read_context_keys()
_TRACEPARENT_RE: Any = _read_traceparent_re()
_DIRECT_ATTRIBUTES = False


def context_keys() -> ContextKeys | None:
    """The context keys (None after a failed probe, or when the API has none of them)."""
    return _CONTEXT_KEYS


def traceparent_pattern() -> Any:
    """The W3C propagator's own compiled traceparent pattern (None after a failed probe)."""
    return _TRACEPARENT_RE


def suppress_key() -> Any:
    """The key the SDK's processors set to suppress instrumentation while exporting."""
    return getattr(_owner(SUPPRESS_KEY.owner), SUPPRESS_KEY.name)


def composite_members(textmap: object) -> list[Any] | None:
    """The propagators inside a `CompositePropagator` (None for anything else)."""
    inner = getattr(textmap, COMPOSITE_PROPAGATORS.name, None)
    return inner if isinstance(inner, list) else None


# --- tracer, processors, samplers (SDK privates; used only after a successful probe) -----------------------

def span_processors() -> Callable[[Any], Any]:
    """A getter of the processor tuple of a `SynchronousMultiSpanProcessor` (a new tuple when one is added)."""
    return operator.attrgetter(SPAN_PROCESSORS.name)


def batch_queue(processor: Any) -> tuple[Any, Callable[[Any], None]]:
    """(exporter, emit) of a `BatchSpanProcessor`: where its queue exports, and how to enqueue one span."""
    inner = getattr(processor, BATCH_PROCESSOR.name)
    return getattr(inner, BATCH_EXPORTER.name), inner.emit


def tracer_scope(tracer: Any) -> Any:
    """The tracer's instrumentation scope."""
    return getattr(tracer, TRACER_SCOPE.name)


def tracer_limits(tracer: Any) -> Any:
    """The tracer's `SpanLimits`."""
    return getattr(tracer, TRACER_LIMITS.name)


def tracer_metrics_off(tracer: Any) -> bool:
    """True when the SDK's own span metrics are off for `tracer` (they would miss the spans eventlens drops)."""
    noop = getattr(_owner(NOOP_TRACER_METRICS.owner), NOOP_TRACER_METRICS.name)
    return type(getattr(tracer, TRACER_METRICS.name)) is noop


def tracer_enabled(tracer: Any) -> Callable[[], bool]:
    """The tracer's bound `_is_enabled` (asks the tracer's current config on every call)."""
    check: Callable[[], bool] = getattr(tracer, TRACER_ENABLED.name)
    return check


def static_decision(sampler: Any) -> Any:
    """The fixed decision of `ALWAYS_ON` / `ALWAYS_OFF`."""
    return getattr(sampler, STATIC_DECISION.name)


def default_parent_based_root(sampler: Any) -> Any:
    """The root sampler of a `ParentBased` whose four delegates are the defaults; None otherwise."""
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased

    if not isinstance(sampler, ParentBased):
        return None
    remote_on, remote_off, local_on, local_off = (getattr(sampler, p.name) for p in PARENT_BASED_DELEGATES)
    if remote_on is ALWAYS_ON and local_on is ALWAYS_ON and remote_off is ALWAYS_OFF and local_off is ALWAYS_OFF:
        return getattr(sampler, PARENT_BASED_ROOT.name)
    return None


# --- attributes and links ------------------------------------------------------------------------------------

def bounded_links(limits: Any, links: Sequence[Any]) -> Any:
    """The SDK's link list: valid links, each link's attributes bounded, the last `max_links` kept."""
    from opentelemetry.attributes import BoundedAttributes
    from opentelemetry.sdk.util import BoundedList

    is_valid = getattr(_owner(IS_VALID_LINK.owner), IS_VALID_LINK.name)
    valid = []
    for link in links:
        if link and is_valid(link.context, link.attributes):
            setattr(link, LINK_ATTRIBUTES.name, BoundedAttributes(limits.max_link_attributes, link.attributes,
                                                                  max_value_len=limits.max_attribute_length,
                                                                  immutable=True))
            valid.append(link)
    return BoundedList.from_seq(limits.max_links, valid)


def set_items(bounded: Any, attributes: Mapping[str, Any]) -> None:
    """`BoundedAttributes._set_items`: set several attributes under one lock, with the SDK's cleaning."""
    getattr(bounded, SET_ITEMS.name)(attributes)


_CLEAN_TYPES = (str, int, float, bool)


def set_attributes(span: Any, attrs: dict[str, Any]) -> None:
    """Set eventlens' own attributes on a recording span, skipping the SDK's per-value cleaning when safe.

    Our values are always plain str/int/float/bool, so when the span stores them in the SDK's
    `BoundedAttributes` with room to spare and no value-length limit, they go straight into its dict under
    its lock (only after a successful probe). Any other case (another SDK, limits in play, odd values, a
    failed probe) uses the public `set_attributes`.
    """
    if _DIRECT_ATTRIBUTES:
        bounded = getattr(span, "_attributes", None)
        inner = getattr(bounded, "_dict", None)
        lock = getattr(bounded, "_lock", None)
        if (type(inner) is dict and lock is not None and type(bounded).__name__ == "BoundedAttributes"
                and getattr(bounded, "max_value_len", 1) is None and not getattr(bounded, "_immutable", True)):
            maxlen = getattr(bounded, "maxlen", 0)
            if (maxlen is None or len(inner) + len(attrs) <= maxlen) and all(
                    type(v) in _CLEAN_TYPES for v in attrs.values()):
                with lock:
                    if span.is_recording():
                        inner.update(attrs)
                return
    span.set_attributes(attrs)
