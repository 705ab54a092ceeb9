"""`ConsistentProbabilitySampler`: OpenTelemetry consistent probability sampling that keeps lineage whole.

Parent-based: a child follows its parent's sampled flag and keeps its `ot=th:…;rv:…`. A new root is kept iff
its randomness R >= the sampler's threshold T (`ot=th:…` written when kept). A new root started from input
contexts — its links (except those marked `eventlens.link.kind`, e.g. a CloudEvent's origin), or the
consumer batch open on this thread or task — takes R = the largest input randomness and writes it as
`rv`, so it is kept whenever an input at the same or a lower rate was kept
(docs/instrumentation.md "Sampling and lineage"). Sends an on-call engineer needs are always kept (`th:0`):
dead-letter sends, retries, and sends made while an exception is being handled. Select it with
`OTEL_TRACES_SAMPLER=eventlens_consistent` and `OTEL_TRACES_SAMPLER_ARG=0.01`, or
`instrument(sampler=ConsistentProbabilitySampler(0.01))`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceState, get_current_span
from opentelemetry.util.types import Attributes

from eventlens.instrumentation import _consistent
from eventlens.instrumentation._batch import pending_batch_randomness
from eventlens.instrumentation.attributes import LINK_KIND
from eventlens.instrumentation.patterns import SEND_OPTIONS

_KEEP = _consistent.OtValue(th=0)


class ConsistentProbabilitySampler(Sampler):
    """Parent-based consistent probability sampling (`ot=th`/`rv`) with fan-in randomness and always-keep rules."""

    def __init__(self, ratio: float, *, keep_dead_letters: bool = True, keep_retries: bool = True,
                 keep_errors: bool = True, fan_in: bool = True,
                 precision: int = _consistent.DEFAULT_PRECISION) -> None:
        self.ratio = ratio
        self.threshold = _consistent.threshold_for(ratio, precision)
        self.keep_dead_letters = keep_dead_letters
        self.keep_retries = keep_retries
        self.keep_errors = keep_errors
        self.fan_in = fan_in
        self._root_state = TraceState([("ot", "th:" + _consistent.format_th(self.threshold))])

    def get_description(self) -> str:
        """The sampler's name and ratio, as the SDK's samplers describe themselves."""
        return f"ConsistentProbabilitySampler{{{self.ratio:f}}}"

    def should_sample(self, parent_context: Context | None, trace_id: int, name: str,  # noqa: PLR0917
                      kind: SpanKind | None = None, attributes: Attributes = None,
                      links: Sequence[Link] | None = None,
                      trace_state: TraceState | None = None) -> SamplingResult:
        """The SDK's hook: the decision and trace state of a new span (see the module doc)."""
        parent = get_current_span(parent_context).get_span_context()
        inputs = None
        if not parent.is_valid and links and self.fan_in:
            inputs = _consistent.fan_in_randomness(
                link.context for link in links if not link.attributes or link.attributes.get(LINK_KIND) is None)
        sampled, state = self.decide(parent, trace_id, kind is SpanKind.PRODUCER, inputs)
        return SamplingResult(Decision.RECORD_AND_SAMPLE if sampled else Decision.DROP, None, state)

    def decide(self, parent: SpanContext, trace_id: int, send: bool,
               inputs: int | None = None) -> tuple[bool, TraceState | None]:
        """(sampled, trace state) of a new span under `parent` (invalid: a new root with `trace_id`).

        `send`: the span is a send (always-keep rules apply). `inputs`: the fan-in randomness of a new root
        (None: the open consumer batch's, if any). Shared by the SDK hook and eventlens' fast path.
        """
        if parent.is_valid:
            state = parent.trace_state
            sampled = bool(parent.trace_flags & 0x01)
            if sampled and state and "th:" in (state.get("ot") or ""):
                ot = _consistent.ot_of(state)
                checked = _consistent.consistent_th(ot, parent.trace_id)
                if checked is not ot:
                    state = _consistent.with_ot(state, checked)
            if send and self.must_keep():
                return True, _consistent.with_ot(state, _with_th(_consistent.ot_of(state), 0))
            return sampled, state
        if inputs is None and self.fan_in:
            inputs = pending_batch_randomness()
        keep = send and self.must_keep()
        if inputs is None:
            if keep:
                return True, _consistent.with_ot(None, _KEEP)
            sampled = (trace_id & _consistent.MASK) >= self.threshold
            return sampled, self._root_state if sampled else None
        sampled = keep or inputs >= self.threshold
        th = (0 if keep else self.threshold) if sampled else None
        return sampled, _consistent.with_ot(None, _consistent.OtValue(th=th, rv=inputs))

    def must_keep(self) -> bool:
        """Whether a send made now is always kept: a dead-letter send, a retry, or an error known at send time
        (a `send_context(reason=…)`, or an exception being handled), as the options allow."""
        options = SEND_OPTIONS.get()
        if options is not None:
            if self.keep_dead_letters and options.dead_letter:
                return True
            if self.keep_retries and options.retry_attempt is not None:
                return True
            if self.keep_errors and options.reason:
                return True
        return self.keep_errors and sys.exc_info()[1] is not None


def _with_th(ot: _consistent.OtValue, th: int | None) -> _consistent.OtValue:
    return _consistent.OtValue(th=th, rv=ot.rv, rest=ot.rest)


def consistent_sampler(arg: str | float | None) -> ConsistentProbabilitySampler:
    """The `opentelemetry_traces_sampler` entry point `eventlens_consistent`: the ratio from
    `OTEL_TRACES_SAMPLER_ARG` (1.0 when unset or invalid, as the SDK's ratio samplers do)."""
    try:
        ratio = float(arg) if arg not in (None, "") else 1.0
    except (TypeError, ValueError):
        ratio = 1.0
    if not 0.0 < ratio <= 1.0:
        ratio = 1.0
    return ConsistentProbabilitySampler(ratio)
