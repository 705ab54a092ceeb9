"""Helpers building OTLP protobuf requests by hand, for decoder and receiver tests."""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span


def any_value(value: Any) -> AnyValue:  # noqa: PLR0911
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list | tuple):
        out = AnyValue()
        out.array_value.values.extend(any_value(v) for v in value)
        return out
    if isinstance(value, dict):
        out = AnyValue()
        out.kvlist_value.values.extend(KeyValue(key=k, value=any_value(v)) for k, v in value.items())
        return out
    return AnyValue(string_value=str(value))


def kvs(attrs: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in attrs.items()]


def span(name: str = "op", kind: int = Span.SPAN_KIND_INTERNAL, attrs: dict[str, Any] | None = None, *,
         trace_id: bytes | None = None, span_id: bytes | None = None, parent: bytes = b"",
         start: int = 1_700_000_000_000_000_000, end: int = 1_700_000_000_001_000_000,
         status: int = 0, links: list[tuple[bytes, bytes, dict[str, Any]]] = ()) -> Span:  # type: ignore[assignment]
    s = Span(name=name, kind=kind, trace_id=trace_id or os.urandom(16), span_id=span_id or os.urandom(8),
             parent_span_id=parent, start_time_unix_nano=start, end_time_unix_nano=end)
    s.attributes.extend(kvs(attrs or {}))
    s.status.code = status
    for tid, sid, la in links:
        link = s.links.add()
        link.trace_id, link.span_id = tid, sid
        link.attributes.extend(kvs(la))
    return s


def request(spans: list[Span], service: str = "svc", resource: dict[str, Any] | None = None,
            scope: str = "test.scope") -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(kvs({"service.name": service, **(resource or {})}))
    ss = rs.scope_spans.add()
    ss.scope.name = scope
    ss.spans.extend(spans)
    return req


def body(spans: list[Span], service: str = "svc") -> bytes:
    return request(spans, service).SerializeToString()
