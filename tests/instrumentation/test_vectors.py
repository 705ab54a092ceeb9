"""Every vector of shared/test-vectors/trace-headers.md, its exact bytes put on a real record.

Each test writes the header list with instrumentation suppressed, consumes it with an instrumented
iterator, and checks the process span, the context current while handling, and what a record produced
while handling carries downstream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from conftest import Otel, consume_each, raw_send
from kafka import KafkaProducer
from opentelemetry import baggage, trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext

pytestmark = pytest.mark.kafka

T = "4bf92f3577b34da6a3ce929d0e0e4736"
S = "00f067aa0ba902b7"
TP = f"00-{T}-{S}-01".encode()
T2, S2 = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"


@dataclass
class Outcome:
    """What the consumer made of one record."""

    record: Any
    current: SpanContext
    baggage: dict[str, object]
    process: list[ReadableSpan]
    downstream: list[tuple[str, bytes | None]]


def run_vector(bootstrap: str, make_topic, otel: Otel, headers: list[tuple[str, bytes | None]],
               value: bytes = b"v") -> Outcome:
    """Send `headers` verbatim, consume with the instrumented iterator, produce downstream while handling."""
    source, sink = make_topic(1, "-v"), make_topic(1, "-d")
    raw_send(bootstrap, source, [(value, headers)])
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    seen: dict[str, Any] = {}

    def handle(_record):
        seen["current"] = trace.get_current_span().get_span_context()
        seen["baggage"] = dict(baggage.get_all())
        producer.send(sink, b"next").get(timeout=60)

    (record,) = consume_each(bootstrap, source, 1, handle)
    producer.close()
    (downstream,) = consume_each(bootstrap, sink, 1, lambda _r: None)
    return Outcome(record, seen["current"], seen["baggage"], otel.spans(f"process {source}"),
                   downstream.headers)


def _traceparent(headers: list[tuple[str, bytes | None]]) -> str:
    (value,) = [v for k, v in headers if k == "traceparent"]
    assert value is not None
    return value.decode()


def _continues(outcome: Outcome, trace_id: str, span_id: str) -> None:
    (span,) = outcome.process
    assert format(span.context.trace_id, "032x") == trace_id
    assert span.parent is not None and format(span.parent.span_id, "016x") == span_id
    assert outcome.current.span_id == span.context.span_id
    assert _traceparent(outcome.downstream).split("-")[1] == trace_id


def _new_root(outcome: Outcome) -> None:
    (span,) = outcome.process
    assert span.parent is None
    assert format(span.context.trace_id, "032x") != T
    assert outcome.record.value == b"v"


def test_v1_traceparent_continues_sampled(kafka_bootstrap, make_topic, instrumented: Otel):
    """V1: a canonical traceparent is continued, sampled."""
    outcome = run_vector(kafka_bootstrap, make_topic, instrumented, [("traceparent", TP)])
    _continues(outcome, T, S)
    assert outcome.current.trace_flags.sampled


def test_v2_tracestate_travels_downstream_verbatim(kafka_bootstrap, make_topic, instrumented: Otel):
    """V2: the tracestate bytes are carried unchanged on records produced while handling."""
    state = b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
    outcome = run_vector(kafka_bootstrap, make_topic, instrumented, [("traceparent", TP), ("tracestate", state)])
    _continues(outcome, T, S)
    assert [v for k, v in outcome.downstream if k == "tracestate"] == [state]


def test_v3_unsampled_parent_records_nothing_and_keeps_flags(kafka_bootstrap, make_topic, instrumented: Otel):
    """V3: flags 00 continue trace T unsampled: no recorded process span, downstream flags stay 00."""
    outcome = run_vector(kafka_bootstrap, make_topic, instrumented, [("traceparent", f"00-{T}-{S}-00".encode())])
    assert outcome.process == []
    assert format(outcome.current.trace_id, "032x") == T
    assert not outcome.current.trace_flags.sampled
    parts = _traceparent(outcome.downstream).split("-")
    assert parts[1] == T and parts[3] == "00"


def test_v4_random_flag_is_sampled_and_kept(kafka_bootstrap, make_topic, instrumented: Otel):
    """V4: flags 03 are sampled (bitmask check) and the downstream record keeps 03."""
    outcome = run_vector(kafka_bootstrap, make_topic, instrumented, [("traceparent", f"00-{T}-{S}-03".encode())])
    _continues(outcome, T, S)
    assert _traceparent(outcome.downstream).endswith("-03")


@pytest.mark.parametrize("value", [
    f"00-00000000000000000000000000000000-{S}-01".encode(),
    f"ff-{T}-{S}-01".encode(),
    f"00-{T}-{S}-01-extra".encode(),
], ids=["zero-trace-id", "version-ff", "v00-extra-field"])
def test_v5_invalid_traceparent_is_absent(kafka_bootstrap, make_topic, instrumented: Otel, value):
    """V5: an invalid traceparent counts as absent: a new root, the record delivered, no exception."""
    _new_root(run_vector(kafka_bootstrap, make_topic, instrumented, [("traceparent", value)]))


def test_v6_future_version_continues(kafka_bootstrap, make_topic, instrumented: Otel):
    """V6: a future version with extra fields is read by its first four fields and continued."""
    outcome = run_vector(kafka_bootstrap, make_topic, instrumented,
                         [("traceparent", f"01-{T}-{S}-01-what-the-future".encode())])
    _continues(outcome, T, S)


def test_v7_last_duplicate_wins(kafka_bootstrap, make_topic, instrumented: Otel):
    """V7: with two traceparent headers the last one is continued (as Java's lastHeader)."""
    outcome = run_vector(kafka_bootstrap, make_topic, instrumented,
                         [("traceparent", TP), ("traceparent", f"00-{T2}-{S2}-01".encode())])
    _continues(outcome, T2, S2)


def test_v8_non_utf8_traceparent_is_absent(kafka_bootstrap, make_topic, instrumented: Otel):
    """V8: a traceparent that is not UTF-8 counts as absent and the record still reaches user code."""
    _new_root(run_vector(kafka_bootstrap, make_topic, instrumented, [("traceparent", b"\xff\xfe00")]))


def test_v9_null_traceparent_is_absent(kafka_bootstrap, make_topic, instrumented: Otel):
    """V9: a null traceparent value counts as absent."""
    outcome = run_vector(kafka_bootstrap, make_topic, instrumented, [("traceparent", None)])
    assert outcome.record.headers == [("traceparent", None)]
    _new_root(outcome)


def test_v9_mixed_case_key_is_absent(kafka_bootstrap, make_topic, instrumented: Otel):
    """V9 (reference): a `Traceparent` key is not `traceparent` (case-sensitive, as Python and Java)."""
    _new_root(run_vector(kafka_bootstrap, make_topic, instrumented, [("Traceparent", TP)]))


def test_v10_baggage_available_and_reinjected(kafka_bootstrap, make_topic, instrumented: Otel):
    """V10: percent-encoded baggage is decoded while handling and carried downstream."""
    outcome = run_vector(kafka_bootstrap, make_topic, instrumented,
                         [("traceparent", TP), ("baggage", b"tenant=acme,user%20id=a%2Fb")])
    _continues(outcome, T, S)
    assert outcome.baggage == {"tenant": "acme", "user id": "a/b"}
    (down,) = [v for k, v in outcome.downstream if k == "baggage"]
    assert down is not None and b"tenant=acme" in down and b"a%2Fb" in down


def test_v11_cloudevents_binary_mode(kafka_bootstrap, make_topic, instrumented: Otel):
    """V11: binary CloudEvents: continue from traceparent, event id/type on the span, a link to ce_traceparent."""
    headers: list[tuple[str, bytes | None]] = [
        ("ce_specversion", b"1.0"), ("ce_id", b"1234-1234-1234"), ("ce_source", b"/mycontext/subcontext"),
        ("ce_type", b"com.example.someevent"), ("ce_time", b"2018-04-05T03:56:24Z"),
        ("content-type", b"application/json"),
        ("ce_traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b9c7c989f97918e1-01"), ("traceparent", TP)]
    outcome = run_vector(kafka_bootstrap, make_topic, instrumented, headers)
    _continues(outcome, T, S)
    (span,) = outcome.process
    attrs = dict(span.attributes or {})
    assert attrs["cloudevents.event_id"] == "1234-1234-1234"
    assert attrs["cloudevents.event_type"] == "com.example.someevent"
    assert attrs["cloudevents.event_source"] == "/mycontext/subcontext"
    assert [(format(link.context.trace_id, "032x"), format(link.context.span_id, "016x")) for link in span.links] \
        == [("0af7651916cd43dd8448eb211c80319c", "b9c7c989f97918e1")]


def test_v12_cloudevents_structured_mode(kafka_bootstrap, make_topic, instrumented: Otel):
    """V12: structured CloudEvents: continue from traceparent; event id and type read from the JSON value."""
    value = b'{"specversion":"1.0","id":"e-1","source":"/s","type":"com.example.placed","data":{"n":1}}'
    headers: list[tuple[str, bytes | None]] = [
        ("content-type", b"application/cloudevents+json; charset=UTF-8"), ("traceparent", TP)]
    outcome = run_vector(kafka_bootstrap, make_topic, instrumented, headers, value=value)
    _continues(outcome, T, S)
    (span,) = outcome.process
    attrs = dict(span.attributes or {})
    assert attrs["cloudevents.event_id"] == "e-1"
    assert attrs["cloudevents.event_type"] == "com.example.placed"
