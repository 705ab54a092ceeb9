"""Hostile OTLP protobuf bodies built straight as bytes (a repeated field is its encodings concatenated), so a
16 MiB body of a million attributes takes milliseconds to make, not a protobuf object graph of gigabytes."""

from __future__ import annotations

import os


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def many_attributes(count: int) -> tuple[bytes, bytes, bytes]:
    """An ExportTraceServiceRequest of one span with `count` integer attributes: (body, trace id, span id)."""
    trace_id, span_id = os.urandom(16), os.urandom(8)
    kv = field(9, field(1, b"k") + field(2, b"\x18\x01"))  # Span.attributes: KeyValue{key "k", int_value 1}
    span = field(1, trace_id) + field(2, span_id) + field(5, b"hostile") + kv * count
    service = field(1, field(1, b"service.name") + field(2, field(1, b"hostile")))  # Resource.attributes
    resource_spans = field(1, service) + field(2, field(2, span))
    return field(1, resource_spans), trace_id, span_id


def attributes_for(body_bytes: int) -> int:
    """How many attributes make a body of about `body_bytes` (each costs 9 bytes)."""
    return max(1, (body_bytes - 200) // 9)
