"""A lean OTLP/protobuf encoder for finished SDK spans: builds the wire bytes directly.

It writes the same `ExportTraceServiceRequest` the standard exporter builds (fields, grouping by resource
and scope) without creating protobuf message objects, which is most of the standard exporter's cost.
Attribute keys and the resource/scope headers are encoded once and cached.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from eventlens.instrumentation._fastspan import BaseAttributes, FastSpan

_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200
_pack_double = struct.Struct("<d").pack
_pack_fixed64 = struct.Struct("<Q").pack
_pack_fixed32 = struct.Struct("<I").pack

_SMALL = [bytes([i]) for i in range(128)]


def varint(value: int) -> bytes:
    """Protobuf base-128 varint of a non-negative int (negative int64 as its 10-byte two's complement)."""
    if 0 <= value < 128:
        return _SMALL[value]
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _ld(tag: int, payload: bytes) -> bytes:
    """A length-delimited field: tag byte, length, payload."""
    return _SMALL[tag] + varint(len(payload)) + payload if tag < 128 else varint(tag) + varint(len(payload)) + payload


def any_value(value: Any) -> bytes:  # noqa: PLR0911 - one return per protobuf value kind
    """Encoded AnyValue for an attribute value."""
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, str):
        return _ld(0x0A, value.encode("utf-8", "surrogatepass"))
    if isinstance(value, int):
        return b"\x18" + varint(value)
    if isinstance(value, float):
        return b"\x21" + _pack_double(value)
    if isinstance(value, bytes):
        return _ld(0x3A, value)
    if value is None:
        return b""
    if isinstance(value, Sequence):
        return _ld(0x2A, b"".join(_ld(0x0A, any_value(v)) for v in value))
    if isinstance(value, Mapping):
        return _ld(0x32, b"".join(_ld(0x0A, key_value(str(k), v)) for k, v in value.items()))
    raise TypeError(f"unsupported attribute value {type(value)}")


_KEY_CACHE: dict[str, bytes] = {}


def key_value(key: str, value: Any) -> bytes:
    """Encoded KeyValue (the key part cached per key)."""
    encoded_key = _KEY_CACHE.get(key)
    if encoded_key is None:
        encoded_key = _ld(0x0A, key.encode("utf-8", "surrogatepass"))
        if len(_KEY_CACHE) < 4096:
            _KEY_CACHE[key] = encoded_key
    return encoded_key + _ld(0x12, any_value(value))


_FIELD_CACHE: dict[tuple[int, str, Any], bytes] = {}
_FIELD_CACHE_MAX = 16384


def _field(tag: int, key: str, value: Any) -> bytes:
    """One KeyValue field; str and bool values (topics, names, addresses repeat) come from a bounded cache."""
    kind = type(value)
    if kind is str or kind is bool:
        cache_key = (tag, key, value)
        hit = _FIELD_CACHE.get(cache_key)
        if hit is None:
            hit = _ld(tag, key_value(key, value))
            if len(_FIELD_CACHE) >= _FIELD_CACHE_MAX:
                _FIELD_CACHE.clear()
            if kind is bool or len(value) <= 256:
                _FIELD_CACHE[cache_key] = hit
        return hit
    if kind is int:
        encoded_key = _KEY_CACHE.get(key)
        if encoded_key is not None:
            body = b"\x18" + varint(value)
            inner = encoded_key + b"\x12" + _SMALL[len(body)] + body
            return _SMALL[tag] + varint(len(inner)) + inner
    return _ld(tag, key_value(key, value))


def attributes(tag: int, attrs: Mapping[str, Any] | None) -> bytes:
    """All attributes as repeated KeyValue fields with `tag` (invalid values are skipped, as the SDK does)."""
    if not attrs:
        return b""
    parts = []
    for key, value in attrs.items():
        try:
            parts.append(_field(tag, key, value))
        except TypeError:
            continue
    return b"".join(parts)


def _events_and_links(span: Any, out: list[bytes]) -> None:
    """Append the events and links fields (with their dropped counts) of an SDK or eventlens span."""
    for event in span.events or ():
        body = b"\x09" + _pack_fixed64(event.timestamp) + _ld(0x12, event.name.encode("utf-8", "surrogatepass"))
        body += attributes(0x1A, event.attributes)
        dropped = getattr(event, "dropped_attributes", 0)
        if dropped:
            body += b"\x20" + varint(dropped)
        out.append(_ld(0x5A, body))
    if span.dropped_events:
        out += [b"\x60", varint(span.dropped_events)]
    for link in span.links or ():
        lc = link.context
        body = b"\x0a\x10" + lc.trace_id.to_bytes(16, "big") + b"\x12\x08" + lc.span_id.to_bytes(8, "big")
        body += attributes(0x22, link.attributes)
        if link.dropped_attributes:
            body += b"\x28" + varint(link.dropped_attributes)
        body += b"\x35" + _pack_fixed32(_HAS_IS_REMOTE | (_IS_REMOTE if lc.is_remote else 0))
        out.append(_ld(0x6A, body))
    if span.dropped_links:
        out += [b"\x70", varint(span.dropped_links)]


def _status(status: Any) -> bytes:
    body = b""
    if status.description:
        body += _ld(0x12, status.description.encode("utf-8", "surrogatepass"))
    if status.status_code.value:
        body += b"\x18" + varint(status.status_code.value)
    return _ld(0x7A, body)


_EMPTY_STATUS = b"\x7a\x00"
_KIND = [b"\x30" + _SMALL[k + 1] for k in range(5)]
_NOT_REMOTE = b"\x85\x01" + _pack_fixed32(_HAS_IS_REMOTE)
_REMOTE = b"\x85\x01" + _pack_fixed32(_HAS_IS_REMOTE | _IS_REMOTE)


_NAME_CACHE: dict[str, bytes] = {}  # "send {topic}", "process {topic}": few distinct names
_NAME_CACHE_MAX = 4096


def _base_encoded(base: BaseAttributes) -> bytes:
    encoded = base.encoded
    if encoded is None:
        encoded = base.encoded = attributes(0x4A, base.values)
    return encoded


def _ids(trace_id: int, span_id: int, trace_state: Any, parent: Any) -> list[bytes]:
    """The start of a Span message: trace id, span id, trace state and parent span id (fields 1-4)."""
    out = [b"\x0a\x10", trace_id.to_bytes(16, "big"), b"\x12\x08", span_id.to_bytes(8, "big")]
    if trace_state:
        out.append(_ld(0x1A, trace_state.to_header().encode("utf-8")))
    if parent is not None:
        out += [b"\x22\x08", parent.span_id.to_bytes(8, "big")]
    return out


def encode_fast_span(span: FastSpan) -> bytes:
    """One Span message for an eventlens `FastSpan` (the same fields `encode_span` writes for an SDK span)."""
    parent = span.parent
    out = _ids(span.trace_id, span.span_id, span.trace_state, parent)
    name = _NAME_CACHE.get(span.name)
    if name is None:
        name = _ld(0x2A, span.name.encode("utf-8", "surrogatepass"))
        if len(_NAME_CACHE) >= _NAME_CACHE_MAX:
            _NAME_CACHE.clear()
        _NAME_CACHE[span.name] = name
    out += [name, _KIND[span.kind.value],
            b"\x39", _pack_fixed64(span.start_time), b"\x41", _pack_fixed64(span.end_time or 0),
            _base_encoded(span.base), attributes(0x4A, span.own)]
    if type(span.own) is not dict and span.dropped_attributes:
        out += [b"\x50", varint(span.dropped_attributes)]
    if span.events is not None or span.links is not None:
        _events_and_links(span, out)
    status = span.status
    out.append(_EMPTY_STATUS if status.status_code.value == 0 and not status.description else _status(status))
    out.append(_REMOTE if parent is not None and parent.is_remote else _NOT_REMOTE)
    return b"".join(out)


def encode_span(span: ReadableSpan | FastSpan) -> bytes:
    """One Span message (without its field tag)."""
    if isinstance(span, FastSpan):
        return encode_fast_span(span)
    ctx = span.context
    assert ctx is not None
    parent = span.parent
    out = _ids(ctx.trace_id, ctx.span_id, ctx.trace_state, parent)
    out.append(_ld(0x2A, span.name.encode("utf-8", "surrogatepass")))
    out += [b"\x30", _SMALL[span.kind.value + 1]]
    out += [b"\x39", _pack_fixed64(span.start_time or 0), b"\x41", _pack_fixed64(span.end_time or 0)]
    out.append(attributes(0x4A, span.attributes))
    if span.dropped_attributes:
        out += [b"\x50", varint(span.dropped_attributes)]
    _events_and_links(span, out)
    out.append(_status(span.status))
    flags = _HAS_IS_REMOTE | (_IS_REMOTE if parent is not None and parent.is_remote else 0)
    out += [b"\x85\x01", _pack_fixed32(flags)]
    return b"".join(out)


_HEADER_CACHE: dict[int, tuple[object, bytes]] = {}


def _cached(obj: object, build: Any) -> bytes:
    hit = _HEADER_CACHE.get(id(obj))
    if hit is not None and hit[0] is obj:
        return hit[1]
    encoded: bytes = build(obj)
    if len(_HEADER_CACHE) > 256:
        _HEADER_CACHE.clear()
    _HEADER_CACHE[id(obj)] = (obj, encoded)
    return encoded


def _resource(resource: Any) -> bytes:
    return _ld(0x0A, attributes(0x0A, resource.attributes))


def _scope(scope: Any) -> bytes:
    if scope is None:
        return _ld(0x0A, b"")
    body = _ld(0x0A, scope.name.encode("utf-8"))
    if scope.version:
        body += _ld(0x12, scope.version.encode("utf-8"))
    body += attributes(0x1A, scope.attributes)
    return _ld(0x0A, body)


def encode_spans(spans: Sequence[ReadableSpan | FastSpan]) -> bytes:
    """The ExportTraceServiceRequest body for `spans` (grouped by resource, then instrumentation scope)."""
    groups: dict[int, tuple[Any, dict[int, tuple[Any, list[bytes]]]]] = {}
    for span in spans:
        resource = span.resource
        scope = span.instrumentation_scope
        by_scope = groups.get(id(resource))
        if by_scope is None:
            by_scope = groups[id(resource)] = (resource, {})
        entry = by_scope[1].get(id(scope))
        if entry is None:
            entry = by_scope[1][id(scope)] = (scope, [])
        entry[1].append(_ld(0x12, encode_span(span)))
    out = []
    for resource, scopes in groups.values():
        body = [_cached(resource, _resource)]
        for scope, encoded in scopes.values():
            scope_body = _cached(scope, _scope) + b"".join(encoded)
            if scope is not None and scope.schema_url:
                scope_body += _ld(0x1A, scope.schema_url.encode("utf-8"))
            body.append(_ld(0x12, scope_body))
        if resource.schema_url:
            body.append(_ld(0x1A, resource.schema_url.encode("utf-8")))
        out.append(_ld(0x0A, b"".join(body)))
    return b"".join(out)
