"""OpenTelemetry consistent probability sampling: the `ot=th:…;rv:…` tracestate fields and the decision rule.

Pure functions, no SDK: a 56-bit rejection threshold T (`th`, hex with trailing zeros removed) and a 56-bit
randomness R (`rv`, or the trace id's low 56 bits); a span is kept iff R >= T. See the OpenTelemetry
specification "TraceState: Probability Sampling" and docs/instrumentation.md "Sampling and lineage".
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from opentelemetry.trace import SpanContext, TraceState

MAX = 1 << 56
"""2^56: the number of distinct thresholds and randomness values (the largest adjusted count)."""
MASK = MAX - 1
DEFAULT_PRECISION = 4
"""Hex digits of a threshold computed from a probability (the specification's recommended default)."""
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class OtValue:
    """The `ot` tracestate entry: threshold, explicit randomness, and every other sub-key kept in order."""

    th: int | None = None
    rv: int | None = None
    rest: tuple[tuple[str, str], ...] = ()


def parse_th(text: str) -> int | None:
    """The 56-bit threshold of a `th` value (1 to 14 hex digits, zero-extended on the right); None if invalid."""
    if not 1 <= len(text) <= 14 or not _HEX.issuperset(text):
        return None
    return int(text.ljust(14, "0"), 16)


def format_th(threshold: int) -> str:
    """The `th` value of a threshold: 14 hex digits with trailing zeros removed (`0` for 100%)."""
    if threshold == 0:
        return "0"
    return f"{threshold:014x}".rstrip("0")


def parse_rv(text: str) -> int | None:
    """The 56-bit randomness of an `rv` value (exactly 14 hex digits); None if invalid."""
    if len(text) != 14 or not _HEX.issuperset(text):
        return None
    return int(text, 16)


def format_rv(randomness: int) -> str:
    """The `rv` value of a 56-bit randomness (14 hex digits)."""
    return f"{randomness:014x}"


def th_for_probability(probability: float, precision: int = DEFAULT_PRECISION) -> str:
    """The `th` value for a sampling probability in [2^-56, 1], rounded to `precision` significant hex digits.

    Precision grows with the leading `f` digits of small probabilities, as the specification's algorithm does.
    """
    if not 0.0 < probability <= 1.0:
        raise ValueError(f"probability must be in (0, 1], got {probability!r}")
    if probability == 1.0:
        return "0"
    exponent = math.frexp(probability)[1]
    digits = max(1, min(12, precision + exponent // -4))
    rejection = 2.0 - probability + math.ldexp(0.5, -4 * digits)  # in [1, 2): hex() gives 0x1.<13 digits>p+0
    mantissa = "fffffffffffff" if rejection >= 2.0 else rejection.hex()[4:-3]
    return mantissa[:digits].rstrip("0") or "0"


def threshold_for(probability: float, precision: int = DEFAULT_PRECISION) -> int:
    """The 56-bit rejection threshold for a sampling probability (see `th_for_probability`)."""
    threshold = parse_th(th_for_probability(probability, precision))
    assert threshold is not None
    return threshold


def probability(threshold: int) -> float:
    """The sampling probability a threshold stands for: (2^56 - T) / 2^56."""
    return (MAX - threshold) / MAX


def adjusted_count(threshold: int) -> float:
    """How many spans one span kept at this threshold represents: 2^56 / (2^56 - T)."""
    return MAX / (MAX - threshold)


def kept(randomness: int, threshold: int) -> bool:
    """The consistent decision: keep iff R >= T."""
    return randomness >= threshold


def parse_ot(value: str | None) -> OtValue:
    """The `ot` entry's value (`th:c;rv:…;k:v`); malformed `th`/`rv` are dropped, other sub-keys kept."""
    if not value:
        return OtValue()
    th = rv = None
    rest: list[tuple[str, str]] = []
    for member in value.split(";"):
        key, sep, val = member.partition(":")
        if not sep or not key:
            continue
        if key == "th":
            th = parse_th(val)
        elif key == "rv":
            rv = parse_rv(val)
        else:
            rest.append((key, val))
    return OtValue(th, rv, tuple(rest))


def format_ot(ot: OtValue) -> str:
    """The `ot` entry's value for `ot` (`rv` then `th` then the other sub-keys; empty when nothing is set)."""
    parts = []
    if ot.rv is not None:
        parts.append("rv:" + format_rv(ot.rv))
    if ot.th is not None:
        parts.append("th:" + format_th(ot.th))
    parts.extend(key + ":" + val for key, val in ot.rest)
    return ";".join(parts)


def ot_of(trace_state: TraceState | None) -> OtValue:
    """The parsed `ot` entry of a trace state (empty when absent)."""
    if not trace_state:
        return OtValue()
    return parse_ot(trace_state.get("ot"))


def with_ot(trace_state: TraceState | None, ot: OtValue) -> TraceState:
    """`trace_state` with its `ot` entry replaced by `ot` (moved to the front, as W3C wants for a modified
    entry; removed when empty); every other vendor's entry is kept."""
    entries = [(key, val) for key, val in (trace_state or {}).items() if key != "ot"]
    value = format_ot(ot)
    if value:
        entries.insert(0, ("ot", value))
    return TraceState(entries)


def randomness(trace_id: int, trace_state: TraceState | None) -> int:
    """A context's randomness R: its explicit `rv`, else its trace id's low 56 bits (random per W3C level 2
    when the random flag is set; presumed random otherwise, as the specification's samplers do)."""
    if trace_state:
        value = trace_state.get("ot")
        if value and "rv:" in value:
            rv = parse_ot(value).rv
            if rv is not None:
                return rv
    return trace_id & MASK


def context_randomness(context: SpanContext) -> int:
    """`randomness` of a span context."""
    return randomness(context.trace_id, context.trace_state)


def fan_in_randomness(inputs: Iterable[SpanContext]) -> int | None:
    """The randomness of a trace started from several input contexts: the largest input randomness (None when
    no input is valid). Kept at threshold T iff some input would be kept at T (docs "Sampling and lineage")."""
    best: int | None = None
    for context in inputs:
        if context.is_valid:
            value = context_randomness(context)
            if best is None or value > best:
                best = value
    return best


def consistent_th(ot: OtValue, trace_id: int) -> OtValue:
    """`ot` with its threshold erased when a sampled context is inconsistent with it (R < T)."""
    if ot.th is None:
        return ot
    value = ot.rv if ot.rv is not None else trace_id & MASK
    if value >= ot.th:
        return ot
    return OtValue(None, ot.rv, ot.rest)
