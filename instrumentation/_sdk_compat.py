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

The histogram merge of `_histograms.py` reads SDK metrics privates, listed apart in `METRIC_PRIVATES` and
checked by `probe_metrics()` when the metrics are set up: when any is missing, every measurement goes through
the SDK's public `Histogram.record` for good. No other module of `instrumentation/` names a private
(`tests/instrumentation/test_sdk_privates_scan.py`).
"""

from __future__ import annotations

import importlib
import logging
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
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


def _absent(privates: Iterable[Private], samples: dict[str, Any]) -> list[str]:
    """The labels of `privates` the installed SDK lacks (instance ones looked up on `samples`, by owner)."""
    missing = []
    for private in privates:
        try:
            holder = samples.get(private.owner) if private.instance else _owner(private.owner)
            found = holder is not None and hasattr(holder, private.name)
        except Exception:
            found = False
        if not found:
            missing.append(private.label())
    return missing


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
    missing = _absent(PRIVATES, samples)
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


PROXY_METER_PROVIDER = Private("opentelemetry.metrics._internal", "_ProxyMeterProvider")
"""(Not in `PRIVATES`: read only by `eventlens.instrumentation.setup`, which answers "not unset" without it.)"""


def proxy_meter_provider_type() -> type | None:
    """The API's placeholder meter provider class (what `get_meter_provider()` returns before one is set);
    None when the API no longer has it."""
    try:
        found = getattr(_owner(PROXY_METER_PROVIDER.owner), PROXY_METER_PROVIDER.name)
    except Exception:
        return None
    return found if isinstance(found, type) else None


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


# --- metrics: the SDK's histogram aggregations (`_histograms.py` merges its local totals into them) ----------

_M = "opentelemetry.sdk.metrics._internal"
_AGG = f"{_M}.aggregation:_ExplicitBucketHistogramAggregation"
SDK_HISTOGRAM = Private(f"{_M}.instrument", "_Histogram")
EXPLICIT_BUCKET_AGGREGATION = Private(f"{_M}.aggregation", "_ExplicitBucketHistogramAggregation")
HASH_ATTRIBUTES = Private(f"{_M}._view_instrument_match", "_hash_attributes")
HISTOGRAM_ENABLED = Private(f"{_M}.instrument:_Histogram", "_is_enabled")
MEASUREMENT_CONSUMER = Private(f"{_M}.instrument:_Histogram", "_measurement_consumer", instance=True)
READER_STORAGES = Private(f"{_M}.measurement_consumer:SynchronousMeasurementConsumer", "_reader_storages",
                          instance=True)
VIEW_MATCHES = Private(f"{_M}.metric_reader_storage:MetricReaderStorage", "_instrument_view_instrument_matches",
                       instance=True)
MATCH_VIEW = Private(f"{_M}._view_instrument_match:_ViewInstrumentMatch", "_view", instance=True)
MATCH_AGGREGATIONS = Private(f"{_M}._view_instrument_match:_ViewInstrumentMatch", "_attributes_aggregation",
                             instance=True)
VIEW_ATTRIBUTE_KEYS = Private(f"{_M}.view:View", "_attribute_keys", instance=True)
AGG_LOCK = Private(_AGG, "_lock", instance=True)
AGG_VALUE = Private(_AGG, "_value", instance=True)
AGG_EMPTY_COUNTS = Private(_AGG, "_get_empty_bucket_counts")
AGG_SUM = Private(_AGG, "_sum", instance=True)
AGG_RECORD_MIN_MAX = Private(_AGG, "_record_min_max", instance=True)
AGG_MIN = Private(_AGG, "_min", instance=True)
AGG_MAX = Private(_AGG, "_max", instance=True)
AGG_BOUNDARIES = Private(_AGG, "_boundaries", instance=True)

METRIC_PRIVATES: tuple[Private, ...] = (
    SDK_HISTOGRAM, EXPLICIT_BUCKET_AGGREGATION, HASH_ATTRIBUTES, HISTOGRAM_ENABLED, MEASUREMENT_CONSUMER,
    READER_STORAGES, VIEW_MATCHES, MATCH_VIEW, MATCH_AGGREGATIONS, VIEW_ATTRIBUTE_KEYS, AGG_LOCK, AGG_VALUE,
    AGG_EMPTY_COUNTS, AGG_SUM, AGG_RECORD_MIN_MAX, AGG_MIN, AGG_MAX, AGG_BOUNDARIES,
)
"""Every SDK metrics private the histogram merge reads; `probe_metrics` checks them all."""


def _metric_samples() -> dict[str, Any]:
    """One object of each metrics class whose instance privates are probed: a histogram recorded once on a
    provider of its own, and what hangs off it (reached through the privates' names, so a renamed one is
    found missing along with everything behind it)."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    provider = MeterProvider(metric_readers=[InMemoryMetricReader()], shutdown_on_exit=False)
    histogram = provider.get_meter("eventlens.sdk_compat.probe").create_histogram(
        "probe", explicit_bucket_boundaries_advisory=[1.0])
    histogram.record(0.5, {"k": "v"})
    consumer = getattr(histogram, MEASUREMENT_CONSUMER.name, None)
    storages = getattr(consumer, READER_STORAGES.name, None)
    storage = next(iter(storages.values()), None) if isinstance(storages, dict) else None
    matches = getattr(storage, VIEW_MATCHES.name, None)
    match = (matches.get(histogram) or [None])[0] if isinstance(matches, dict) else None
    aggregations = getattr(match, MATCH_AGGREGATIONS.name, None)
    samples = {
        MEASUREMENT_CONSUMER.owner: histogram,
        READER_STORAGES.owner: consumer,
        VIEW_MATCHES.owner: storage,
        MATCH_VIEW.owner: match,
        VIEW_ATTRIBUTE_KEYS.owner: getattr(match, MATCH_VIEW.name, None),
        _AGG: next(iter(aggregations.values()), None) if isinstance(aggregations, dict) else None,
    }
    cast(Any, provider).shutdown()
    return samples


def missing_metric_privates() -> list[str]:
    """The labels of the metrics privates absent from the installed SDK."""
    try:
        samples = _metric_samples()
    except Exception as exc:
        return [f"metric sample objects ({exc!r})"]
    return _absent(METRIC_PRIVATES, samples)


def probe_metrics() -> bool:
    """True when the histogram merge may read the SDK's aggregations; else warn once (every measurement then
    goes through the SDK's public `Histogram.record`). Called once per `MessagingMetrics`."""
    missing = missing_metric_privates()
    if missing and tuple(missing) not in _warned:
        _warned.add(tuple(missing))
        _LOG.warning("eventlens: OpenTelemetry metrics internals not found (%s); histograms record through the "
                     "SDK's public path, slower but complete (logged once)", ", ".join(missing))
    return not missing


def histogram_aggregations(instrument: Any, attrs: dict[str, Any], bounds: tuple[float, ...]) -> list[Any] | None:
    """The SDK explicit-bucket aggregations (one per reader/view) of `attrs` on `instrument`, or None when
    merging into them is unsafe (another instrument type, a view changing the aggregation or its attributes,
    other boundaries, a reader not set up yet). Only after a successful `probe_metrics`."""
    histogram_type = getattr(_owner(SDK_HISTOGRAM.owner), SDK_HISTOGRAM.name)
    aggregation_type = getattr(_owner(EXPLICIT_BUCKET_AGGREGATION.owner), EXPLICIT_BUCKET_AGGREGATION.name)
    hash_attributes = getattr(_owner(HASH_ATTRIBUTES.owner), HASH_ATTRIBUTES.name)
    if type(instrument) is not histogram_type or not getattr(instrument, HISTOGRAM_ENABLED.name)():
        return None
    consumer = getattr(instrument, MEASUREMENT_CONSUMER.name)
    storages = getattr(consumer, READER_STORAGES.name, None)
    if not isinstance(storages, dict):
        return None
    key = hash_attributes(attrs)
    found: list[Any] = []
    for storage in storages.values():
        matches = getattr(storage, VIEW_MATCHES.name).get(instrument)
        if not matches:
            return None  # not set up for this reader yet: let the SDK do it
        for match in matches:
            if getattr(getattr(match, MATCH_VIEW.name), VIEW_ATTRIBUTE_KEYS.name) is not None:
                return None
            aggregation = getattr(match, MATCH_AGGREGATIONS.name).get(key)
            if (type(aggregation) is not aggregation_type
                    or tuple(getattr(aggregation, AGG_BOUNDARIES.name)) != bounds):
                return None
            found.append(aggregation)
    return found or None


def merge_histogram(aggregation: Any, counts: Sequence[int], total: float, low: float, high: float) -> None:
    """Add bucket counts, a sum, a min and a max to one SDK explicit-bucket aggregation, as its `aggregate()`
    would one measurement at a time."""
    with getattr(aggregation, AGG_LOCK.name):
        value = getattr(aggregation, AGG_VALUE.name)
        if value is None:
            value = getattr(aggregation, AGG_EMPTY_COUNTS.name)()
            setattr(aggregation, AGG_VALUE.name, value)
        for i, c in enumerate(counts):
            if c:
                value[i] += c
        setattr(aggregation, AGG_SUM.name, getattr(aggregation, AGG_SUM.name) + total)
        if getattr(aggregation, AGG_RECORD_MIN_MAX.name):
            setattr(aggregation, AGG_MIN.name, min(getattr(aggregation, AGG_MIN.name), low))
            setattr(aggregation, AGG_MAX.name, max(getattr(aggregation, AGG_MAX.name), high))
