"""A cheap sampling decision for the SDK's standard samplers, so dropped spans cost almost nothing.

The SDK's `start_span` builds a sampling result, trace flags and a span context even for a span it drops
(≈ 4–5 µs). When the tracer is the SDK's and its sampler is one of the standard ones — `ParentBased` with
its default delegates, `TraceIdRatioBased`, `ALWAYS_ON`, `ALWAYS_OFF` (as set by `OTEL_TRACES_SAMPLER`) —
`FastSampling.drop_context(parent)` makes the same decision directly and returns the span context the SDK
would give the dropped span (fresh span id, flags 00 plus the random-trace-id bit as the SDK sets it, the
parent's trace state). It returns None when the span is sampled: the caller then starts it through the SDK,
which decides again and agrees; for a new root the trace id we decided on is handed to the SDK through a
thread-local preset of the tracer's id generator, so both decisions look at the same trace id. Any other
tracer or sampler (or the SDK's internal span metrics turned on, or a failed `_sdk_compat` probe) gets no
fast path (`for_tracer` returns None) and everything goes through the SDK.
"""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanContext, TraceFlags, TraceState

from eventlens.instrumentation import _sdk_compat
from eventlens.instrumentation._consistent import context_randomness
from eventlens.instrumentation.sampling import ConsistentProbabilitySampler

_SAMPLED = 0x01
_RANDOM = 0x02


class _PresetIds(IdGenerator):
    """Wraps the tracer's id generator: the next trace id on this thread can be preset (else delegated)."""

    def __init__(self, inner: IdGenerator) -> None:
        self.inner = inner
        self.local = threading.local()

    def generate_trace_id(self) -> int:
        """The preset trace id of this thread if any (used once), else a new one from the wrapped generator."""
        preset: int = getattr(self.local, "trace_id", 0)
        if preset:
            self.local.trace_id = 0
            return preset
        return int(self.inner.generate_trace_id())

    def generate_span_id(self) -> int:
        """A new span id from the wrapped generator."""
        return int(self.inner.generate_span_id())

    def is_trace_id_random(self) -> bool:
        """Whether the wrapped generator's trace ids are random (for the W3C random-trace-id flag)."""
        check = getattr(self.inner, "is_trace_id_random", None)
        return bool(check()) if check is not None else False


def _root_bound(sampler: Any) -> int | None:
    """The trace-id bound below which `sampler` samples a root (None when it is not a standard one)."""
    from opentelemetry.sdk.trace.sampling import Decision, StaticSampler, TraceIdRatioBased

    if type(sampler) is TraceIdRatioBased:
        return int(sampler.bound)
    if type(sampler) is StaticSampler:
        decision = _sdk_compat.static_decision(sampler)
        return TraceIdRatioBased.TRACE_ID_LIMIT + 1 if decision is Decision.RECORD_AND_SAMPLE else 0
    return None


class FastSampling:
    """The sampling decision of one SDK tracer with a standard sampler, made without starting a span."""

    def __init__(self, tracer: Any, ids: _PresetIds, parent_based: bool, bound: int,
                 consistent: ConsistentProbabilitySampler | None = None) -> None:
        from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

        self.consistent = consistent
        self.tracer = tracer
        self.enabled = _sdk_compat.tracer_enabled(tracer)
        self.ids = ids
        self.parent_based = parent_based
        self.bound = bound
        self.limit = TraceIdRatioBased.TRACE_ID_LIMIT
        self.always = bound > self.limit

    @classmethod
    def for_tracer(cls, tracer: Any) -> FastSampling | None:
        """The fast decision for `tracer`, or None when it is not the SDK's with a standard sampler.

        Only called after `_sdk_compat.probe` found every private it reads.
        """
        try:
            from opentelemetry.sdk.trace import Tracer as SdkTracer

            if type(tracer) is not SdkTracer or not _sdk_compat.tracer_metrics_off(tracer):
                return None  # (the SDK's own span metrics would miss the spans we drop ourselves)
            sdk: Any = tracer
            sampler = sdk.sampler
            consistent = sampler if type(sampler) is ConsistentProbabilitySampler else None
            if consistent is None:
                root = _sdk_compat.default_parent_based_root(sampler)
                parent_based = root is not None
                bound = _root_bound(root if parent_based else sampler)
            else:
                parent_based, bound = True, 0
            ids = sdk.id_generator
            if bound is None or not isinstance(ids, IdGenerator):
                return None
            if not isinstance(ids, _PresetIds):
                ids = _PresetIds(ids)
                sdk.id_generator = ids
            return cls(sdk, ids, parent_based, bound, consistent)
        except Exception:
            return None

    def drop_context(self, parent: SpanContext) -> SpanContext | None:
        """The span context of a span the sampler drops under `parent`; None when it would be sampled."""
        ids = self.drop_ids(parent)
        if ids is None:
            return None
        return SpanContext(ids[0], ids[1], is_remote=False, trace_flags=TraceFlags(ids[2]), trace_state=ids[3])

    def drop_ids(self, parent: SpanContext) -> tuple[int, int, int, TraceState | None] | None:
        """`drop_context` as (trace id, span id, flags, trace state), without building a span context.

        For a sampled new root the decided trace id is preset for the SDK's `start_span` (see module doc).
        """
        ids = self.decide(parent)
        if ids is None:
            return None
        if ids[2] & _SAMPLED:
            if not parent.is_valid:
                self.ids.local.trace_id = ids[0]  # the SDK's start_span takes this id and decides the same
            return None
        return ids

    def decide(self, parent: SpanContext, send: bool = False,
               link: SpanContext | None = None) -> tuple[int, int, int, TraceState | None] | None:
        """The ids the SDK would give a new span under `parent`: (trace id, span id, flags, trace state).

        The sampled bit of the flags carries the decision. None when the tracer is disabled (the SDK then
        hands out a non-recording span of the parent's context). `send`: the span is a send (the consistent
        sampler's always-keep rules apply to sends only). `link`: the one input context a new span links to
        (a process span that links to its record instead of taking it as parent): a new root takes its
        randomness, as the consistent sampler does with the links the SDK hands it.
        """
        if not self.enabled():
            return None
        if self.consistent is not None:
            return self.decide_consistent(parent, send, link)
        if parent.is_valid:
            trace_id = parent.trace_id
            pflags = parent.trace_flags
            if self.parent_based:
                sampled = pflags & _SAMPLED
            else:
                sampled = _SAMPLED if self.always or (trace_id & self.limit) < self.bound else 0
            return trace_id, self.ids.generate_span_id(), (pflags & _RANDOM) | sampled, parent.trace_state
        trace_id = self.ids.generate_trace_id()
        sampled = _SAMPLED if self.always or (trace_id & self.limit) < self.bound else 0
        flags = (_RANDOM if self.ids.is_trace_id_random() else 0) | sampled
        return trace_id, self.ids.generate_span_id(), flags, None

    def decide_consistent(self, parent: SpanContext, send: bool,
                          link: SpanContext | None = None) -> tuple[int, int, int, TraceState | None]:
        """`decide` for eventlens' `ConsistentProbabilitySampler` (the same rule as its `should_sample`)."""
        sampler = self.consistent
        assert sampler is not None
        if parent.is_valid:
            trace_id = parent.trace_id
            flags = parent.trace_flags & _RANDOM
        else:
            trace_id = self.ids.generate_trace_id()
            flags = _RANDOM if self.ids.is_trace_id_random() else 0
        inputs = None
        if link is not None and link.is_valid and not parent.is_valid and sampler.fan_in:
            inputs = context_randomness(link)
        sampled, state = sampler.decide(parent, trace_id, send, inputs)
        return trace_id, self.ids.generate_span_id(), flags | (_SAMPLED if sampled else 0), state
