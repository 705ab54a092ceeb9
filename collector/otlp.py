"""Decode OTLP trace (and metric) export requests into model types; pure, no I/O.

Protobuf bodies are parsed once with the upb parser and flattened straight into `SpanRecord`s (no
intermediate dicts per span). OTLP/JSON bodies (hex trace/span ids, integer enums, int64 as strings or
numbers, as the OTLP spec defines) are turned into the same protobuf message first, so both paths share one
flattener. Whole-request problems raise `DecodeError` with a human reason; single spans with invalid ids are
counted as rejected (OTLP partial success) instead of failing the request.

Decoding never lets through what a store cannot keep (docs/collector.md, "Bad input and memory"): NUL characters
are stripped from names, status messages and attribute values (keys are stored JSON-escaped), a span whose
start or end time is beyond int64 is rejected on its own, and the per-span limits (`SpanLimits`: attribute
count, attribute value length, links) drop the excess, counting it in the span's `otel.dropped_*_count`
attributes. JSON nested deeper than Python can parse is a `DecodeError`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import DecodeError as _PbDecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from eventlens.collector.adjusted import SAMPLING_THRESHOLD, threshold_text
from eventlens.collector.model import AttrValue, SpanKind, SpanLink, SpanRecord, StatusCode
from eventlens.collector.normalise import messaging_fields

Link = Span.Link


PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_PROTOBUF_TYPES = frozenset({"application/x-protobuf", "application/protobuf", "application/octet-stream"})
_JSON_TYPES = frozenset({"application/json"})
UNKNOWN_SERVICE = "unknown_service"

_KINDS = tuple(SpanKind)
_STATUSES = tuple(StatusCode)
_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)
INT64_MAX = (1 << 63) - 1
DROPPED_ATTRIBUTES = "otel.dropped_attributes_count"
DROPPED_LINKS = "otel.dropped_links_count"
DROPPED_EVENTS = "otel.dropped_events_count"


@dataclass(frozen=True, slots=True)
class SpanLimits:
    """What one span may carry once decoded (the OTel SDK's span limits; the excess is dropped and counted)."""

    max_attributes: int = 128
    """Attributes kept per span, resource and link (the first ones in the request)."""
    max_attribute_value_length: int = 65536
    """Characters kept of a string attribute value (and of each string in an array)."""
    max_links: int = 128
    """Links kept per span."""


_limits = SpanLimits()


def set_span_limits(limits: SpanLimits) -> None:
    """Set the process-wide span limits (once, at startup: the collector and each ingest worker)."""
    global _limits  # noqa: PLW0603 (process configuration, set once before any request)
    _limits = limits


def span_limits() -> SpanLimits:
    """The span limits decoding applies in this process."""
    return _limits

M = TypeVar("M", ExportTraceServiceRequest, ExportMetricsServiceRequest)


class DecodeError(ValueError):
    """The request body is not a valid OTLP export request; the message says why (sent back to the client)."""


class UnsupportedContentType(DecodeError):
    """The request's content type is neither OTLP protobuf nor OTLP/JSON."""


@dataclass(frozen=True, slots=True)
class DecodedTraces:
    """The spans of one export request, plus the spans rejected one by one (OTLP partial success)."""

    spans: list[SpanRecord]
    rejected: int = 0
    reason: str = ""


def media_type(content_type: str) -> str:
    """The bare, lower-case media type of a Content-Type header value (parameters dropped)."""
    return content_type.split(";", 1)[0].strip().lower()


def is_json(content_type: str) -> bool:
    """True when the content type names OTLP/JSON, False for protobuf; raises for anything else."""
    kind = media_type(content_type)
    if kind in _PROTOBUF_TYPES:
        return False
    if kind in _JSON_TYPES:
        return True
    raise UnsupportedContentType(
        f"unsupported content type {content_type!r}: use application/x-protobuf or application/json")


def decode_traces(body: bytes, content_type: str) -> list[SpanRecord]:
    """Decode an OTLP ExportTraceServiceRequest (protobuf or JSON) into normalised span records."""
    return decode_trace_request(body, content_type).spans


def decode_trace_request(body: bytes, content_type: str) -> DecodedTraces:
    """Like `decode_traces`, also reporting spans rejected for invalid ids."""
    if is_json(content_type):
        request = parse_json(body, ExportTraceServiceRequest())
    else:
        request = parse_protobuf(body, ExportTraceServiceRequest())
    return flatten(request)


def clean(text: str) -> str:
    """A string with its NUL characters removed (PostgreSQL text cannot hold them; SQLite gets the same)."""
    return text.replace("\x00", "") if "\x00" in text else text


def _clean_value(text: str, limit: int) -> str:
    """A string attribute value without NUL, cut to `limit` characters."""
    return clean(text[:limit] if len(text) > limit else text)


def decode_metric_points(body: bytes, content_type: str) -> int:
    """Validate an OTLP ExportMetricsServiceRequest and return how many data points it carries."""
    return count_metric_points(decode_metric_request(body, content_type))


def decode_metric_request(body: bytes, content_type: str) -> ExportMetricsServiceRequest:
    """Parse an OTLP ExportMetricsServiceRequest (protobuf or JSON)."""
    if is_json(content_type):
        return parse_json(body, ExportMetricsServiceRequest())
    return parse_protobuf(body, ExportMetricsServiceRequest())


def count_metric_points(request: ExportMetricsServiceRequest) -> int:
    """How many data points an OTLP metrics request carries (all metric types)."""
    points = 0
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                data = metric.WhichOneof("data")
                if data is not None:
                    points += len(getattr(metric, data).data_points)
    return points


def parse_protobuf(body: bytes, message: M) -> M:
    """Parse a protobuf body into `message`; raises DecodeError with the parser's reason."""
    try:
        message.ParseFromString(body)
    except _PbDecodeError as exc:
        raise DecodeError(f"malformed protobuf {type(message).__name__}: {exc or 'truncated or corrupt'}") from exc
    return message


def parse_json(body: bytes, message: M) -> M:
    """Parse an OTLP/JSON body (hex ids) into `message`; raises DecodeError with a reason."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise DecodeError(f"malformed JSON: {exc}") from exc
    except RecursionError as exc:
        raise DecodeError("malformed JSON: nested too deeply") from exc
    if not isinstance(document, dict):
        raise DecodeError("malformed OTLP/JSON: the body must be a JSON object")
    if isinstance(message, ExportTraceServiceRequest):
        _hex_ids_to_base64(document)
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, ValueError) as exc:
        raise DecodeError(f"malformed OTLP/JSON {type(message).__name__}: {exc}") from exc
    except RecursionError as exc:
        raise DecodeError(f"malformed OTLP/JSON {type(message).__name__}: nested too deeply") from exc
    return message


_ID_KEYS = ("traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id")


def _hex_ids_to_base64(document: dict[str, Any]) -> None:
    """OTLP/JSON carries ids as hex, protobuf's JSON mapping expects base64: convert in place."""
    for resource_spans in _objects(document, "resourceSpans", "resource_spans"):
        for scope_spans in _objects(resource_spans, "scopeSpans", "scope_spans"):
            for span in _objects(scope_spans, "spans"):
                _convert_ids(span)
                for link in _objects(span, "links"):
                    _convert_ids(link)


def _objects(parent: Any, *keys: str) -> Iterable[dict[str, Any]]:
    if not isinstance(parent, dict):
        return ()
    for key in keys:
        value = parent.get(key)
        if isinstance(value, list):
            return [item for item in value if isinstance(item, dict)]
    return ()


def _convert_ids(obj: dict[str, Any]) -> None:
    for key in _ID_KEYS:
        value = obj.get(key)
        if isinstance(value, str) and value:
            try:
                raw = bytes.fromhex(value)
            except ValueError as exc:
                raise DecodeError(f"malformed OTLP/JSON: {key} {value[:64]!r} is not hex") from exc
            obj[key] = base64.b64encode(raw).decode("ascii")


def any_value(value: AnyValue) -> AttrValue:  # noqa: PLR0911 (one return per AnyValue kind)
    """An OTLP AnyValue as a stored attribute value (arrays → tuples, maps and bytes → strings)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return _clean_value(value.string_value, _limits.max_attribute_value_length)
    if kind == "int_value":
        return value.int_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "double_value":
        return value.double_value
    if kind == "array_value":
        return _array(value.array_value.values)
    if kind == "kvlist_value":
        text = json.dumps({clean(kv.key): _jsonable(kv.value) for kv in value.kvlist_value.values}, sort_keys=True)
        return _clean_value(text, _limits.max_attribute_value_length)
    if kind == "bytes_value":
        return binascii.hexlify(value.bytes_value[:_limits.max_attribute_value_length // 2]).decode("ascii")
    return ""


def _array(values: Iterable[AnyValue]) -> AttrValue:
    items = [any_value(v) for v in values]
    if not items:
        return ()
    first = type(items[0])
    if first in (str, int, float, bool) and all(type(i) is first for i in items):
        return tuple(items)  # type: ignore[return-value]
    return tuple(i if isinstance(i, str) else _clean_value(json.dumps(_plain(i)), _limits.max_attribute_value_length)
                 for i in items)


def _plain(value: AttrValue) -> object:
    return list(value) if isinstance(value, tuple) else value


def _jsonable(value: AnyValue) -> object:
    kind = value.WhichOneof("value")
    if kind == "kvlist_value":
        return {clean(kv.key): _jsonable(kv.value) for kv in value.kvlist_value.values}
    if kind == "array_value":
        return [_jsonable(v) for v in value.array_value.values]
    return _plain(any_value(value))


_SCALARS = (str, int, float, bool)


def attributes(pairs: Sequence[KeyValue]) -> dict[str, AttrValue]:
    """OTLP key/value pairs as a dict (the last of duplicate keys wins), within the span limits.

    Hot path (about half the cost per span): most values are short non-empty strings without NUL, read
    directly; otherwise `ListFields()` yields the one set field of the AnyValue oneof in a single upb call
    (cheaper than `WhichOneof` + `getattr`); arrays, maps and bytes take the general path. Pairs beyond
    `max_attributes` are dropped (see `dropped_attributes`).
    """
    out: dict[str, AttrValue] = {}
    scalars = _SCALARS
    limits = _limits
    if len(pairs) > limits.max_attributes:
        pairs = pairs[:limits.max_attributes]
    value_limit = limits.max_attribute_value_length
    for kv in pairs:
        key = kv.key
        v = kv.value
        text = v.string_value
        if text:
            out[key] = text if len(text) <= value_limit and "\x00" not in text else _clean_value(text, value_limit)
            continue
        fields = v.ListFields()
        if fields:
            raw = fields[0][1]
            out[key] = raw if type(raw) in scalars else any_value(v)
        else:
            out[key] = ""
    return out


def dropped_attributes(pairs: Sequence[KeyValue], reported: int) -> int:
    """Attributes of a span not kept: those the sender already dropped plus those beyond `max_attributes`."""
    return reported + max(0, len(pairs) - _limits.max_attributes)


def _with_dropped(attrs: dict[str, AttrValue], s: Span, dropped_links: int) -> dict[str, AttrValue]:
    """The span's attributes plus `otel.dropped_*_count` entries for what was dropped (by the sender or here)."""
    counts = ((DROPPED_ATTRIBUTES, dropped_attributes(s.attributes, s.dropped_attributes_count)),
              (DROPPED_LINKS, dropped_links), (DROPPED_EVENTS, s.dropped_events_count))
    for key, count in counts:
        if count:
            attrs[key] = count
    return attrs


def _add_threshold(attrs: dict[str, AttrValue], trace_state: str) -> None:
    """Normalise a span's sampling threshold (`ot=th:…` in its trace state) into `eventlens.sampling.threshold`."""
    if trace_state:
        th = threshold_text(trace_state)
        if th is not None:
            attrs[SAMPLING_THRESHOLD] = th


def flatten(request: ExportTraceServiceRequest) -> DecodedTraces:
    """Turn a parsed trace export request into normalised span records (a `DecodeError` for nesting too deep)."""
    try:
        return _flatten(request)
    except RecursionError as exc:  # an AnyValue nested deeper than the interpreter's stack allows
        raise DecodeError("malformed OTLP request: attribute values nested too deeply") from exc


def _flatten(request: ExportTraceServiceRequest) -> DecodedTraces:
    spans: list[SpanRecord] = []
    rejected = 0
    first_reason = ""
    kinds, statuses = _KINDS, _STATUSES
    max_links = _limits.max_links
    max_attributes = _limits.max_attributes
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        service = resource_service(resource)
        for scope_spans in resource_spans.scope_spans:
            scope = clean(scope_spans.scope.name)
            for s in scope_spans.spans:
                trace_id, span_id, parent = s.trace_id, s.span_id, s.parent_span_id
                if len(trace_id) != 16 or trace_id == _ZERO_TRACE or len(span_id) != 8 or span_id == _ZERO_SPAN \
                        or len(parent) not in (0, 8):
                    rejected += 1
                    if not first_reason:
                        first_reason = (f"span {clean(s.name)[:200]!r} has an invalid trace id, span id or parent "
                                        f"span id (need 16, 8 and 0 or 8 non-zero bytes)")
                    continue
                start, end = s.start_time_unix_nano, s.end_time_unix_nano
                if start > INT64_MAX or end > INT64_MAX:
                    rejected += 1
                    if not first_reason:
                        first_reason = (f"span {clean(s.name)[:200]!r} has a start or end time beyond int64 "
                                        f"nanoseconds (after the year 2262)")
                    continue
                attrs = attributes(s.attributes)
                raw_kind = s.kind
                kind = kinds[raw_kind] if 0 <= raw_kind < 6 else SpanKind.UNSPECIFIED
                status = s.status
                code = status.code
                name = clean(s.name)
                span_links: Sequence[Link] = s.links
                dropped_links = 0
                if span_links:
                    if len(span_links) > max_links:
                        dropped_links += len(span_links) - max_links
                        span_links = span_links[:max_links]
                    links = tuple(
                        SpanLink(link.trace_id.hex(), link.span_id.hex(), attributes(link.attributes))
                        for link in span_links
                    )
                else:
                    links = ()
                if dropped_links or len(s.attributes) > max_attributes:
                    attrs = _with_dropped(attrs, s, dropped_links)
                _add_threshold(attrs, s.trace_state)
                # Positional arguments, in SpanRecord's field order (cheaper than keywords on this hot path).
                spans.append(SpanRecord(
                    trace_id.hex(), span_id.hex(), parent.hex() if parent and parent != _ZERO_SPAN else None,
                    name, kind, service, start, end,
                    statuses[code] if 0 <= code < 3 else StatusCode.UNSET, clean(status.message), links,
                    messaging_fields(name, kind, attrs), attrs, resource, scope,
                ))
    return DecodedTraces(spans, rejected, first_reason)


def resource_service(resource: Mapping[str, AttrValue]) -> str:
    """The service name of a resource (`service.name`), or `unknown_service`."""
    value = resource.get("service.name")
    return value if isinstance(value, str) and value else UNKNOWN_SERVICE
