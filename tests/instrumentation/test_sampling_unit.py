"""The fast sampling decision agrees with the SDK's own `start_span` for the standard samplers."""

from __future__ import annotations

import random

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from eventlens.instrumentation._sampling import FastSampling


def _tracer(sampler: Sampler) -> trace.Tracer:
    return TracerProvider(sampler=sampler).get_tracer("t")


def _parent(sampled: bool, trace_id: int) -> SpanContext:
    return SpanContext(trace_id, 0x1234, is_remote=True, trace_flags=TraceFlags(0x01 if sampled else 0x00),
                       trace_state=TraceState([("vendor", "x")]))


def test_children_follow_the_parent_flag_like_the_sdk():
    """Under ParentBased, an unsampled parent gives a dropped child with its trace id, flags and trace state."""
    tracer = _tracer(ParentBased(TraceIdRatioBased(0.5)))
    fast = FastSampling.for_tracer(tracer)
    assert fast is not None
    rng = random.Random(7)
    for _ in range(200):
        parent = _parent(rng.random() < 0.5, rng.getrandbits(128) or 1)
        sdk = tracer.start_span("x", context=trace.set_span_in_context(NonRecordingSpan(parent)))
        ours = fast.drop_context(parent)
        assert (ours is None) == sdk.is_recording()
        if ours is not None:
            theirs = sdk.get_span_context()
            assert (ours.trace_id, int(ours.trace_flags), ours.trace_state, ours.is_remote) == (
                theirs.trace_id, int(theirs.trace_flags), theirs.trace_state, theirs.is_remote)
            assert ours.span_id not in (0, parent.span_id)


def test_sampled_roots_hand_their_trace_id_to_the_sdk():
    """A root the ratio keeps is started by the SDK with the trace id the fast decision looked at."""
    tracer = _tracer(ParentBased(TraceIdRatioBased(0.5)))
    fast = FastSampling.for_tracer(tracer)
    assert fast is not None
    kept = dropped = 0
    for _ in range(400):
        ours = fast.drop_context(trace.INVALID_SPAN_CONTEXT)
        if ours is None:
            expected = fast.ids.local.trace_id
            span = tracer.start_span("x", context=trace.set_span_in_context(trace.INVALID_SPAN))
            assert span.is_recording() and span.get_span_context().trace_id == expected
            kept += 1
        else:
            assert ours.trace_id & TraceIdRatioBased.TRACE_ID_LIMIT >= fast.bound
            assert int(ours.trace_flags) & 0x01 == 0
            dropped += 1
    assert kept > 100 and dropped > 100


def test_dropped_root_flags_match_the_sdk():
    """A dropped root carries the flags the SDK gives its own dropped roots (random-trace-id bit included)."""
    tracer = _tracer(ALWAYS_OFF)
    fast = FastSampling.for_tracer(tracer)
    assert fast is not None
    ours = fast.drop_context(trace.INVALID_SPAN_CONTEXT)
    theirs = tracer.start_span("x", context=trace.set_span_in_context(trace.INVALID_SPAN)).get_span_context()
    assert ours is not None and int(ours.trace_flags) == int(theirs.trace_flags)


def test_always_on_never_drops():
    """ALWAYS_ON (plain or as ParentBased root) keeps every root and every child of a sampled parent."""
    for sampler in (ALWAYS_ON, ParentBased(ALWAYS_ON)):
        fast = FastSampling.for_tracer(_tracer(sampler))
        assert fast is not None
        assert fast.drop_context(trace.INVALID_SPAN_CONTEXT) is None
        assert fast.drop_context(_parent(True, 99)) is None


class _Custom(Sampler):
    def should_sample(self, *args, **kwargs) -> SamplingResult:  # type: ignore[no-untyped-def]
        return ALWAYS_ON.should_sample(*args, **kwargs)

    def get_description(self) -> str:
        return "custom"


def test_other_samplers_and_tracers_get_no_fast_path():
    """A custom sampler, a ParentBased with custom delegates or a non-SDK tracer always go through the SDK."""
    assert FastSampling.for_tracer(_tracer(_Custom())) is None
    assert FastSampling.for_tracer(_tracer(ParentBased(ALWAYS_ON, remote_parent_not_sampled=ALWAYS_ON))) is None
    assert FastSampling.for_tracer(trace.NoOpTracer()) is None
