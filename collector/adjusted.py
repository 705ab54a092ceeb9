"""Sampling thresholds of stored spans and the adjusted counts they give; pure.

A span kept by a consistent probability sampler carries `ot=th:<hex>` in its trace state; the collector
normalises it into the span attribute `eventlens.sampling.threshold` (the `th` text) at decode time, so any
count estimated from stored spans weights each span by its adjusted count 2^56 / (2^56 - T).
"""

from __future__ import annotations

import functools

from opentelemetry.trace import TraceState

from eventlens.collector.model import SpanRecord
from eventlens.instrumentation._consistent import adjusted_count, format_th, ot_of, parse_th

SAMPLING_THRESHOLD = "eventlens.sampling.threshold"
"""Span attribute: the `th` value of the span's trace state (absent when the span carried none)."""


@functools.lru_cache(maxsize=1024)
def threshold_text(trace_state: str) -> str | None:
    """The `th` text of a W3C trace state header value (None when absent or malformed); cached, since a
    sampler sends the same few trace states span after span and this runs per span at decode time."""
    if "th:" not in trace_state:
        return None
    try:
        ot = ot_of(TraceState.from_header([trace_state]))
    except Exception:
        return None
    if ot.th is None:
        return None
    return format_th(ot.th)


def span_adjusted_count(span: SpanRecord) -> float | None:
    """How many spans this stored span stands for: 2^56 / (2^56 - T) from its threshold; None when it
    carries no threshold (kept by a non-probabilistic sampler: the adjusted count is unknown)."""
    text = span.attributes.get(SAMPLING_THRESHOLD)
    if not isinstance(text, str):
        return None
    threshold = parse_th(text)
    return None if threshold is None else adjusted_count(threshold)
