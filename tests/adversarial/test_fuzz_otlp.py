"""Mutated OTLP bodies (protobuf and JSON), on SQLite and PostgreSQL: whatever arrives, the collector answers 2xx
or 4xx (never 500), stays up, and a good request sent right after is stored."""

from __future__ import annotations

import base64
import json
from typing import Any

from adversarial_support import JSON, PB, Running
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from otlp_builders import request, span

EXAMPLES = 15
"""Per body encoding and backend: enough to hit every branch of the decoder many times, and the tier stays
under a couple of minutes."""


def seed_request() -> Any:
    """A valid request with every kind of attribute value, links, status and messaging fields."""
    attrs = {"messaging.system": "kafka", "messaging.destination.name": "orders",
             "messaging.destination.partition.id": "3", "messaging.kafka.offset": 42,
             "messaging.message.body.size": 120, "messaging.operation.type": "send", "ratio": 0.5, "ok": True,
             "tags": ["a", "b"], "nums": [1, 2, 3], "blob": b"\x00\x01", "map": {"k": {"n": [1, "x"]}}}
    s = span("send orders", 4, attrs, links=[(bytes([1]) * 16, bytes([2]) * 8, {"messaging.operation.type": "x"})],
             status=2)
    return request([s, span("child", 5, {"messaging.batch.message_count": 2})], service="fuzz")


SEED = seed_request()
SEED_PB = SEED.SerializeToString()


def _hex_ids(obj: Any) -> Any:
    """OTLP/JSON writes ids as hex where protobuf's JSON mapping writes base64."""
    if isinstance(obj, dict):
        return {k: (base64.b64decode(v).hex() if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str)
                    else _hex_ids(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_hex_ids(v) for v in obj]
    return obj


SEED_JSON = _hex_ids(json_format.MessageToDict(SEED))

HOSTILE_VALUES = st.one_of(
    st.sampled_from(["9" * 25, -(1 << 70), 1 << 64, 1e308, -1, 0, "", "\x00", "a\x00b", None, True, [], {},
                     "NaN", "Infinity", "zz", "0" * 40, "AQI=", {"stringValue": "\x00"}, {"intValue": "9" * 30},
                     {"kvlistValue": {"values": [{"key": "\x00", "value": {"intValue": "1"}}]}}]),
    st.text(max_size=20), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
    st.integers(1, 300).map(lambda depth: json.loads("[" * depth + "]" * depth)),
)


@st.composite
def byte_mutations(draw: st.DrawFn, seed: bytes) -> bytes:
    """The seed with a few flipped, inserted, deleted or duplicated bytes, or truncated."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "duplicate", "truncate"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 8))]
        elif op == "duplicate":
            data[pos:pos] = data[pos:pos + draw(st.integers(1, 64))]
        else:
            del data[pos:]
    return bytes(data)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.extend(_paths(v, (*prefix, i)))
    return out


SEED_PATHS = _paths(SEED_JSON)[1:]


def _leaf(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


STRING_PATHS = [p for p in SEED_PATHS if isinstance(_leaf(SEED_JSON, p), str)]
VALUE_PATHS = [p for p in SEED_PATHS if p and p[-1] == "value"]
HOSTILE_STRINGS = st.one_of(st.sampled_from(["9" * 25, str(1 << 64), "-" + "9" * 19, "\x00", "a\x00b", "1e999"]),
                            st.text(max_size=10).map(lambda t: t + "\x00"))


DEEP = "__deep__"


def deep_kvlist(depth: int) -> str:
    """An AnyValue kvlist nested `depth` deep, as JSON text (deeper than json.dumps could write)."""
    return '{"kvlistValue":{"values":[{"key":"k","value":' * depth + '{"stringValue":"leaf"}' + "}]}}" * depth


@st.composite
def json_mutations(draw: st.DrawFn) -> bytes:
    """The JSON seed with a few values replaced by hostile ones, sometimes also mutated as bytes."""
    doc = json.loads(json.dumps(SEED_JSON))
    deep = ""
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["any", "string", "deep"]))
        if kind == "string":  # names, topics, ids, numbers as strings: where unstorable values hide
            path, value = draw(st.sampled_from(STRING_PATHS)), draw(HOSTILE_STRINGS)
        elif kind == "deep":
            path, value, deep = draw(st.sampled_from(VALUE_PATHS)), DEEP, deep_kvlist(draw(st.integers(1, 5000)))
        else:
            path, value = draw(st.sampled_from(SEED_PATHS)), draw(HOSTILE_VALUES)
        try:
            _leaf(doc, path[:-1])[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier replacement removed this path
    text = json.dumps(doc).replace(f'"{DEEP}"', deep, 1).encode()
    return draw(byte_mutations(text)) if draw(st.booleans()) else text


def check(collector: Running, data: bytes, content_type: str) -> None:
    answer = collector.post(data, content_type)
    assert 200 <= answer.status < 500, (answer.status, answer.content[:500])
    assert collector.alive()
    assert collector.good_request_is_stored()


@settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=byte_mutations(SEED_PB))
def test_mutated_protobuf_bodies_never_get_a_500(collector: Running, data: bytes):
    """Mutated OTLP protobuf: 2xx or 4xx, the collector stays up and stores the next good request."""
    check(collector, data, PB)


@settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=json_mutations())
def test_mutated_json_bodies_never_get_a_500(collector: Running, data: bytes):
    """Mutated OTLP/JSON (hostile values and bytes): 2xx or 4xx, the collector stays up and stores the next
    good request."""
    check(collector, data, JSON)
