"""The current OpenTelemetry context read once per message: suppression, current span, baggage.

`is_instrumentation_enabled()`, `get_current_span()` and `baggage.get_all()` each look the context up
again; the wrappers read it once and ask these for the three facts (same keys, same answers).
"""

from __future__ import annotations

from opentelemetry.baggage import _BAGGAGE_KEY
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, Context, get_current
from opentelemetry.instrumentation.utils import _SUPPRESS_INSTRUMENTATION_KEY_PLAIN
from opentelemetry.trace import INVALID_SPAN, Span
from opentelemetry.trace.propagation import _SPAN_KEY

__all__ = ["get_current", "has_baggage", "span_context", "span_in", "suppressed"]


def suppressed(ctx: Context) -> bool:
    """True when instrumentation is suppressed in `ctx` (as `not is_instrumentation_enabled()`)."""
    return bool(ctx.get(_SUPPRESS_INSTRUMENTATION_KEY) or ctx.get(_SUPPRESS_INSTRUMENTATION_KEY_PLAIN))


def span_in(ctx: Context) -> Span:
    """The span current in `ctx` (as `get_current_span(ctx)`)."""
    span = ctx.get(_SPAN_KEY)
    return span if isinstance(span, Span) else INVALID_SPAN


def has_baggage(ctx: Context) -> bool:
    """True when `ctx` carries baggage entries (as `bool(baggage.get_all(ctx))`)."""
    entries = ctx.get(_BAGGAGE_KEY)
    return isinstance(entries, dict) and bool(entries)


def span_context(span: Span) -> Context:
    """A fresh context holding only `span` (as `set_span_in_context(span, Context())`)."""
    return Context({_SPAN_KEY: span})
