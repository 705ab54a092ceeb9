"""OTLP decoding: protobuf and OTLP/JSON export requests become normalised span records."""

from __future__ import annotations

import json

import pytest
from google.protobuf import json_format
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from otlp_builders import body, request, span

from eventlens.collector.model import SpanKind, StatusCode
from eventlens.collector.otlp import (
    DecodeError,
    UnsupportedContentType,
    decode_metric_points,
    decode_trace_request,
    decode_traces,
)

TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
SPAN = bytes.fromhex("b7ad6b7169203331")
PARENT = bytes.fromhex("00f067aa0ba902b7")


def test_protobuf_span_fields_are_flattened():
    """Ids become lowercase hex, kind/status map to the model enums, resource and scope are kept."""
    s = span("send orders", Span.SPAN_KIND_PRODUCER, {"messaging.system": "kafka", "n": 3},
             trace_id=TRACE, span_id=SPAN, parent=PARENT, status=2)
    s.status.message = "boom"
    [rec] = decode_traces(request([s], "shop", {"telemetry.sdk.language": "python"}).SerializeToString(),
                          "application/x-protobuf")
    assert (rec.trace_id, rec.span_id, rec.parent_span_id) == (TRACE.hex(), SPAN.hex(), PARENT.hex())
    assert rec.kind is SpanKind.PRODUCER and rec.status is StatusCode.ERROR and rec.status_message == "boom"
    assert rec.service == "shop" and rec.language == "python" and rec.scope == "test.scope"
    assert rec.attributes == {"messaging.system": "kafka", "n": 3}
    assert rec.duration_ns == 1_000_000


def test_missing_parent_is_none():
    """A root span (empty parent id) has parent_span_id None."""
    [rec] = decode_traces(body([span()]), "application/x-protobuf")
    assert rec.parent_span_id is None


def test_attribute_value_kinds_are_converted():
    """Arrays become tuples, maps JSON text, bytes hex, doubles and bools stay typed."""
    attrs = {"arr": ["a", "b"], "ints": [1, 2], "map": {"k": 1}, "raw": b"\x01\xff", "d": 1.5, "b": True,
             "mixed": [1, "x"]}
    [rec] = decode_traces(body([span(attrs=attrs)]), "application/x-protobuf")
    assert rec.attributes["arr"] == ("a", "b") and rec.attributes["ints"] == (1, 2)
    assert json.loads(str(rec.attributes["map"])) == {"k": 1}
    assert rec.attributes["raw"] == "01ff" and rec.attributes["d"] == 1.5 and rec.attributes["b"] is True
    assert rec.attributes["mixed"] == ("1", "x")


def test_links_are_kept_with_their_attributes():
    """Span links keep the linked ids and their attributes."""
    s = span("poll orders", Span.SPAN_KIND_CLIENT, {"messaging.system": "kafka"},
             links=[(TRACE, SPAN, {"messaging.kafka.offset": 7})])
    [rec] = decode_traces(body([s]), "application/x-protobuf")
    assert rec.links[0].trace_id == TRACE.hex() and rec.links[0].span_id == SPAN.hex()
    assert rec.links[0].attributes == {"messaging.kafka.offset": 7}


def test_missing_service_name_is_unknown_service():
    """A resource without service.name yields `unknown_service`, as the SDKs default."""
    req = request([span()])
    del req.resource_spans[0].resource.attributes[:]
    [rec] = decode_traces(req.SerializeToString(), "application/x-protobuf")
    assert rec.service == "unknown_service"


def test_spans_with_invalid_ids_are_rejected_one_by_one():
    """A span with an all-zero or short id is counted as rejected; the others are kept."""
    good = span("good")
    bad = span("bad", trace_id=bytes(16))
    short = span("short", span_id=b"\x01\x02")
    decoded = decode_trace_request(body([good, bad, short]), "application/x-protobuf")
    assert [s.name for s in decoded.spans] == ["good"]
    assert decoded.rejected == 2 and "invalid trace id" in decoded.reason


def test_truncated_protobuf_raises_decode_error():
    """A protobuf body cut short fails with a reason."""
    data = body([span(attrs={"k": "v" * 50})])
    with pytest.raises(DecodeError, match="malformed protobuf"):
        decode_traces(data[: len(data) // 2], "application/x-protobuf")


def test_garbage_protobuf_raises_decode_error():
    """Random bytes are not an export request."""
    with pytest.raises(DecodeError):
        decode_traces(b"\xff\xff\xff\xff\x0f garbage", "application/x-protobuf")


def test_content_type_parameters_are_ignored():
    """`application/json; charset=utf-8` is OTLP/JSON."""
    assert decode_traces(b"{}", "application/json; charset=utf-8") == []


def test_unknown_content_type_is_unsupported():
    """text/plain is neither protobuf nor JSON."""
    with pytest.raises(UnsupportedContentType):
        decode_traces(b"", "text/plain")


def _json_request() -> dict:
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "node-shop"}}]},
        "scopeSpans": [{"scope": {"name": "@opentelemetry/instrumentation-kafkajs"}, "spans": [{
            "traceId": TRACE.hex().upper(), "spanId": SPAN.hex(), "parentSpanId": PARENT.hex(),
            "name": "process orders", "kind": 5, "startTimeUnixNano": "1700000000000000000",
            "endTimeUnixNano": 1700000000002000000, "status": {"code": 2},
            "attributes": [{"key": "messaging.system", "value": {"stringValue": "kafka"}},
                           {"key": "messaging.kafka.offset", "value": {"intValue": "42"}}],
            "links": [{"traceId": TRACE.hex(), "spanId": PARENT.hex(), "attributes": []}],
        }]}],
    }]}


def test_otlp_json_with_hex_ids_and_int_enums():
    """OTLP/JSON: hex ids (any case), integer kind/status, int64 as strings or numbers."""
    [rec] = decode_traces(json.dumps(_json_request()).encode(), "application/json")
    assert rec.trace_id == TRACE.hex() and rec.parent_span_id == PARENT.hex()
    assert rec.kind is SpanKind.CONSUMER and rec.status is StatusCode.ERROR
    assert rec.start_ns == 1700000000000000000 and rec.end_ns == 1700000000002000000
    assert rec.attributes["messaging.kafka.offset"] == 42 and rec.messaging.offset == 42
    assert rec.links[0].span_id == PARENT.hex() and rec.service == "node-shop"


def test_otlp_json_matches_protobuf():
    """The same request as protobuf and as OTLP/JSON decodes to the same records."""
    req = request([span("send t", Span.SPAN_KIND_PRODUCER, {"messaging.system": "kafka", "x": [1.5]},
                        trace_id=TRACE, span_id=SPAN, links=[(TRACE, PARENT, {"a": "b"})])])
    as_json = json_format.MessageToDict(req)
    for s in as_json["resourceSpans"][0]["scopeSpans"][0]["spans"]:  # protobuf's JSON uses base64: make it hex
        s["traceId"], s["spanId"] = TRACE.hex(), SPAN.hex()
        s["links"][0]["traceId"], s["links"][0]["spanId"] = TRACE.hex(), PARENT.hex()
    assert decode_traces(json.dumps(as_json).encode(), "application/json") == \
        decode_traces(req.SerializeToString(), "application/x-protobuf")


def test_json_with_non_hex_id_raises():
    """A trace id that is not hex is a malformed request."""
    doc = _json_request()
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] = "not-hex!"
    with pytest.raises(DecodeError, match="not hex"):
        decode_traces(json.dumps(doc).encode(), "application/json")


BAD_TIME = b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "abc"}]}]}]}'


@pytest.mark.parametrize("payload", [b"{", b"[]", b"\xff\xfe", b'{"resourceSpans": 5}', BAD_TIME])
def test_malformed_json_raises_decode_error(payload):
    """Broken JSON, a non-object body or wrongly typed fields fail with a reason."""
    with pytest.raises(DecodeError):
        decode_traces(payload, "application/json")


def test_metric_points_are_counted():
    """A metrics request is validated and its data points counted."""
    doc = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "a", "sum": {"dataPoints": [{"asInt": "1"}, {"asInt": "2"}]}},
        {"name": "b", "gauge": {"dataPoints": [{"asDouble": 1.0}]}}]}]}]}
    assert decode_metric_points(json.dumps(doc).encode(), "application/json") == 3
