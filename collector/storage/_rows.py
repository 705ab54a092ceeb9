"""SpanRecord ⇄ table row codec shared by the SQLite and PostgreSQL backends (no I/O).

Ids are kept as text for exact round trips; small integer keys derived from them (`trace_k`: the low 64 bits
of the trace id, `span_k`: the span id, both as signed 64-bit integers) carry the indexes, because random text
keys make every insert slow. Event id and key lookups go through `msg_keys` rows (32-bit hash of the value →
trace key), written once per (value, trace); queries re-check the real values, so collisions never return
wrong rows. A span row keeps its attribute values only; their key sequence, shared by the spans of one
instrumentation, is stored once (`attr_keys`), content-addressed like resources.
"""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from eventlens.collector.model import (
    AttrValue,
    Messaging,
    Operation,
    SpanKind,
    SpanLink,
    SpanRecord,
    StatusCode,
)

_U64 = 1 << 64
_MASK = _U64 - 1
_I64_MAX = (1 << 63) - 1

SPAN_COLUMNS: tuple[str, ...] = (
    "trace_k", "span_k", "trace_id", "span_id", "parent_span_id", "name", "kind", "service",
    "start_ns", "end_ns", "status", "status_message", "scope", "links", "attributes", "attr_keys_id", "resource_id",
    "m_topic", "m_partition", "m_offset", "m_key", "m_event_id", "m_body_size", "m_more",
)
"""Column order of the `spans` table rows this module builds (both backends use the same names)."""

READ_COLUMNS: tuple[str, ...] = SPAN_COLUMNS[2:]
"""The columns a read needs to rebuild a SpanRecord (everything but the integer keys), in `span_from_row`'s order."""

MORE_FIELDS: tuple[str, ...] = (
    "system", "operation", "operation_name", "consumer_group", "client_id", "message_id", "batch_count",
    "event_type", "event_source", "schema_fingerprint", "lag_offsets", "lag_seconds", "server_address",
    "error_type",
)
"""The `Messaging` fields no query filters on, kept together as one JSON array in `m_more` (NULL when all are
None): one bound value instead of fourteen makes the insert, which runs under the store's write lock, cheaper."""
_NO_MORE: tuple[None, ...] = (None,) * len(MORE_FIELDS)
_LAG_SECONDS = MORE_FIELDS.index("lag_seconds")


def _signed(value: int) -> int:
    return value - _U64 if value > _I64_MAX else value


def id_key(hex_id: str) -> int:
    """A signed 64-bit integer key for an id: its 64-bit halves XOR-folded when it is hex, else a hash of it.

    For a 128-bit trace id that is high ⊕ low (so zero-padded 64-bit ids keep their value); a span id is itself.
    Not cached: at ingest nearly every id is new, and a cache miss costs more than the computation.
    """
    n = len(hex_id)
    if n in (16, 32) and hex_id.isascii() and hex_id.isalnum() and hex_id[1] not in "xX":
        try:
            value = int(hex_id, 16)
        except ValueError:
            pass
        else:
            value = (value ^ (value >> 64)) & _MASK
            return value - _U64 if value > _I64_MAX else value
    return _signed(int.from_bytes(hashlib.blake2b(hex_id.encode("utf-8", "surrogatepass"),
                                                  digest_size=8).digest(), "big"))


def event_hash(event_id: str) -> int:
    """Lookup key of an event id."""
    return zlib.crc32(b"e\x1f" + event_id.encode("utf-8", "surrogatepass"))


def key_hash(key: str) -> int:
    """Lookup key of a message key."""
    return zlib.crc32(b"k\x1f" + key.encode("utf-8", "surrogatepass"))


_STD_ENCODE = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode

try:
    import orjson
except ImportError:  # pragma: no cover - orjson comes with the collector extra; stdlib json is the fallback
    orjson = None  # type: ignore[assignment]


def _encode(value: object) -> str:
    """JSON text of attributes: orjson when it is exact, else the stdlib (NaN/±inf, huge ints, bad Unicode).

    orjson writes NaN and infinities as `null`, which attribute values never are, so any `null` in its output
    (or a string containing that word) sends the value through the stdlib encoder instead.
    """
    if orjson is not None:
        try:
            data: bytes = orjson.dumps(value)
        except TypeError:
            return _STD_ENCODE(value)
        if b"null" not in data:
            return data.decode()
    return _STD_ENCODE(value)


def _more_json(values: tuple[object, ...]) -> str | None:
    """`m_more` of a span: its MORE_FIELDS values as a JSON array, or None when every one is None.

    orjson when it is exact (it writes NaN and infinities as `null`, and refuses huge ints and lone surrogates);
    the stdlib encoder otherwise.
    """
    if values == _NO_MORE:
        return None
    lag = values[_LAG_SECONDS]
    if orjson is not None and (not isinstance(lag, float) or math.isfinite(lag)):
        try:
            data: bytes = orjson.dumps(values)
        except TypeError:
            pass
        else:
            return data.decode()
    return _STD_ENCODE(list(values))


def _decode(text: str) -> Any:
    if orjson is not None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass  # NaN/Infinity written by the stdlib encoder
    return json.loads(text)


def dumps(value: Mapping[str, AttrValue]) -> str:
    """Attributes as compact JSON (tuples become arrays; ASCII-escaped so any Python string survives)."""
    return _encode(value if isinstance(value, dict) else dict(value))


def key_sequence(keys: Sequence[str]) -> tuple[int, str]:
    """An attribute key sequence's `attr_keys` row: (content-addressed id, JSON)."""
    text = _encode(list(keys))
    return content_key(text), text


def keys_from(text: str) -> tuple[str, ...]:
    """An attribute key sequence back from its JSON."""
    return tuple(_decode(text))


def values_json(attrs: Mapping[str, AttrValue]) -> str | None:
    """A span's attribute values as a JSON array, in key order (the keys are stored apart); None when empty."""
    return _encode(list(attrs.values())) if attrs else None


def attributes_from(values: str | None, keys: Sequence[str]) -> dict[str, AttrValue]:
    """Attributes back from their values' JSON and their key sequence, arrays as tuples."""
    if not values:
        return {}
    raw: list[Any] = _decode(values)
    if len(raw) != len(keys):
        raise ValueError(f"{len(raw)} attribute values stored for {len(keys)} keys")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in zip(keys, raw, strict=True)}


def loads(text: str | None) -> dict[str, AttrValue]:
    """Attributes back from JSON, arrays as tuples."""
    if not text:
        return {}
    raw: dict[str, Any] = _decode(text)
    return {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}


def _links_json(links: Sequence[SpanLink]) -> str | None:
    if not links:
        return None
    return _encode([[link.trace_id, link.span_id, dict(link.attributes)] for link in links])


def _links_from(text: str | None) -> tuple[SpanLink, ...]:
    if not text:
        return ()
    out = []
    for trace_id, span_id, attrs in _decode(text):
        out.append(SpanLink(trace_id, span_id,
                            {k: tuple(v) if isinstance(v, list) else v for k, v in attrs.items()}))
    return tuple(out)


def span_row(span: SpanRecord, resource_id: int, attr_keys_id: int | None = None, trace_k: int | None = None,
             span_k: int | None = None) -> tuple[object, ...]:
    """The `spans` row of one record, in SPAN_COLUMNS order (pass the keys' ids when already computed)."""
    m = span.messaging
    attrs = span.attributes
    op = m.operation
    if attrs and attr_keys_id is None:
        attr_keys_id = key_sequence(tuple(attrs))[0]
    return (
        id_key(span.trace_id) if trace_k is None else trace_k, id_key(span.span_id) if span_k is None else span_k,
        span.trace_id, span.span_id, span.parent_span_id,
        span.name, int(span.kind), span.service, span.start_ns, span.end_ns, int(span.status),
        span.status_message, span.scope, _links_json(span.links), values_json(attrs),
        attr_keys_id if attrs else None, resource_id,
        m.topic, m.partition, m.offset, m.key, m.event_id, m.body_size,
        _more_json((m.system, op.value if op is not None else None, m.operation_name, m.consumer_group,
                    m.client_id, m.message_id, m.batch_count, m.event_type, m.event_source, m.schema_fingerprint,
                    m.lag_offsets, m.lag_seconds, m.server_address, m.error_type)),
    )


def content_key(text: str) -> int:
    """Content-addressed id of a JSON text (a resource's attributes, a sequence of attribute keys)."""
    return _signed(int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big"))


def span_from_row(row: Sequence[Any], resource_of: Callable[[int], Mapping[str, AttrValue]],
                  attr_keys_of: Callable[[int | None], Sequence[str]]) -> SpanRecord:
    """Rebuild a SpanRecord from a row in READ_COLUMNS order; the caller looks up its resource attributes and
    attribute key sequence by their ids (both are stored once, shared by many spans)."""
    (trace_id, span_id, parent, name, kind, service, start_ns, end_ns, status, status_message, scope, links,
     attrs, attr_keys_id, resource_id, topic, partition, offset, key, event_id, body_size, more) = row
    (system, operation, operation_name, group, client_id, message_id, batch_count, event_type, event_source,
     fingerprint, lag_offsets, lag_seconds, server_address, error_type) = _decode(more) if more else _NO_MORE
    messaging = Messaging(
        system=system, operation=Operation(operation) if operation is not None else None,
        operation_name=operation_name, topic=topic, partition=partition, offset=offset, key=key,
        consumer_group=group, client_id=client_id, message_id=message_id, batch_count=batch_count,
        body_size=body_size, event_id=event_id, event_type=event_type, event_source=event_source,
        schema_fingerprint=fingerprint, lag_offsets=lag_offsets,
        lag_seconds=float(lag_seconds) if lag_seconds is not None else None,
        server_address=server_address, error_type=error_type,
    )
    return SpanRecord(
        trace_id=trace_id, span_id=span_id, parent_span_id=parent, name=name, kind=SpanKind(kind),
        service=service, start_ns=start_ns, end_ns=end_ns, status=StatusCode(status),
        status_message=status_message, links=_links_from(links), messaging=messaging,
        attributes=attributes_from(attrs, attr_keys_of(attr_keys_id)),
        resource=resource_of(resource_id), scope=scope,
    )
