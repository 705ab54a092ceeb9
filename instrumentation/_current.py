"""The current OpenTelemetry context read once per message: suppression, current span, baggage.

`is_instrumentation_enabled()`, `get_current_span()` and `baggage.get_all()` each look the context up
again; the wrappers read it once and ask these for the three facts (same keys, same answers). The keys are
the API's private ones, from `_sdk_compat`; after a failed probe (`bind(None)`) these are the public calls.
"""

from __future__ import annotations

from collections.abc import Callable

from opentelemetry import baggage
from opentelemetry.context import Context, get_current
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import INVALID_SPAN, Span, get_current_span, set_span_in_context

from eventlens.instrumentation._sdk_compat import ContextKeys, context_keys, on_probe

__all__ = ["bind", "get_current", "has_baggage", "span_context", "span_in", "suppressed"]


def _public() -> tuple[Callable[[Context], bool], Callable[[Context], Span], Callable[[Context], bool],
                       Callable[[Span], Context]]:
    """The four facts through the public API (slower: each looks the context up again)."""

    def suppressed(ctx: Context) -> bool:
        return not is_instrumentation_enabled()

    def span_in(ctx: Context) -> Span:
        return get_current_span(ctx)

    def has_baggage(ctx: Context) -> bool:
        return bool(baggage.get_all(ctx))

    def span_context(span: Span) -> Context:
        return set_span_in_context(span, Context())

    return suppressed, span_in, has_baggage, span_context


def _direct(keys: ContextKeys) -> tuple[Callable[[Context], bool], Callable[[Context], Span],
                                        Callable[[Context], bool], Callable[[Span], Context]]:
    """The four facts read straight from the context under the API's keys."""
    suppress, suppress_plain, span_key, baggage_key = keys.suppress, keys.suppress_plain, keys.span, keys.baggage

    def suppressed(ctx: Context) -> bool:
        return bool(ctx.get(suppress) or ctx.get(suppress_plain))

    def span_in(ctx: Context) -> Span:
        span = ctx.get(span_key)
        return span if isinstance(span, Span) else INVALID_SPAN

    def has_baggage(ctx: Context) -> bool:
        entries = ctx.get(baggage_key)
        return isinstance(entries, dict) and bool(entries)

    def span_context(span: Span) -> Context:
        return Context({span_key: span})

    return suppressed, span_in, has_baggage, span_context


suppressed: Callable[[Context], bool]
"""True when instrumentation is suppressed in `ctx` (as `not is_instrumentation_enabled()`)."""
span_in: Callable[[Context], Span]
"""The span current in `ctx` (as `get_current_span(ctx)`)."""
has_baggage: Callable[[Context], bool]
"""True when `ctx` carries baggage entries (as `bool(baggage.get_all(ctx))`)."""
span_context: Callable[[Span], Context]
"""A fresh context holding only `span` (as `set_span_in_context(span, Context())`)."""


def bind(keys: ContextKeys | None) -> None:
    """Read the context under `keys` from now on, or through the public API when None."""
    global suppressed, span_in, has_baggage, span_context
    suppressed, span_in, has_baggage, span_context = _public() if keys is None else _direct(keys)


bind(context_keys())
on_probe(lambda: bind(context_keys()))
