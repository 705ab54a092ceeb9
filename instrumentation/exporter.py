"""Span exporter selection for `instrument()`."""

from __future__ import annotations

from opentelemetry.sdk.trace.export import SpanExporter


def default_span_exporter() -> SpanExporter:
    """The OTLP/HTTP span exporter configured from `OTEL_EXPORTER_OTLP_*`."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()
