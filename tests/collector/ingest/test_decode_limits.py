"""Decoding keeps only what both stores can hold and what the span limits allow (pure, no services)."""

from __future__ import annotations

import json

import pytest
from otlp_builders import body, span

from eventlens.collector.budget import MemoryBudget, MemoryLimitReached
from eventlens.collector.normalise import as_int
from eventlens.collector.otlp import (
    DROPPED_ATTRIBUTES,
    DROPPED_LINKS,
    DecodeError,
    SpanLimits,
    decode_trace_request,
    set_span_limits,
    span_limits,
)

PB = "application/x-protobuf"
BIG = "9" * 20


@pytest.fixture(autouse=True)
def default_limits():
    before = span_limits()
    set_span_limits(SpanLimits())
    yield
    set_span_limits(before)


@pytest.mark.parametrize("value", [BIG, str(1 << 63), float(1 << 70), -(1 << 64), "1" * 5000])
def test_integers_beyond_int64_are_dropped(value):
    """A value no signed 64-bit column can hold is None, as a number, decimal string or whole float."""
    assert as_int(value) is None


@pytest.mark.parametrize("value", [str((1 << 63) - 1), (1 << 63) - 1, -(1 << 63), " 42 "])
def test_integers_within_int64_are_kept(value):
    """The int64 bounds themselves are kept."""
    assert as_int(value) == int(value)


def test_partition_offset_and_size_beyond_int64_leave_the_span_without_them():
    """The span is kept (its attributes too); only the messaging fields that cannot be stored are empty."""
    attrs = {"messaging.system": "kafka", "messaging.destination.name": "t",
             "messaging.destination.partition.id": BIG, "messaging.kafka.offset": BIG,
             "messaging.message.body.size": BIG}
    (s,) = decode_trace_request(body([span("send t", 4, attrs)]), PB).spans
    m = s.messaging
    assert (m.topic, m.partition, m.offset, m.body_size) == ("t", None, None, None)
    assert s.attributes["messaging.kafka.offset"] == BIG


def test_nul_is_stripped_from_names_messages_and_values():
    """NUL characters disappear from every string that becomes a column, and from attribute values."""
    s = span("send\x00 t", 4, {"messaging.system": "kafka", "messaging.destination.name": "t\x00opic",
                               "messaging.kafka.message.key": "k\x00"})
    s.status.message = "bad\x00"
    (rec,) = decode_trace_request(body([s], service="svc\x00"), PB).spans
    assert (rec.name, rec.service, rec.status_message) == ("send t", "svc", "bad")
    assert (rec.messaging.topic, rec.messaging.key) == ("topic", "k")


def test_time_beyond_int64_rejects_that_span_only():
    """A start time past int64 nanoseconds is a partial success; the other spans of the request are kept."""
    decoded = decode_trace_request(body([span("ok"), span("late", start=1 << 63, end=(1 << 64) - 1)]), PB)
    assert [s.name for s in decoded.spans] == ["ok"] and decoded.rejected == 1 and "int64" in decoded.reason


def test_attributes_beyond_the_limit_are_dropped_and_counted():
    """128 attributes are kept (the first ones) and the rest counted in otel.dropped_attributes_count."""
    (s,) = decode_trace_request(body([span("x", attrs={f"k{i}": i for i in range(1000)})]), PB).spans
    assert len(s.attributes) == 129 and s.attributes["k127"] == 127 and "k128" not in s.attributes
    assert s.attributes[DROPPED_ATTRIBUTES] == 872


def test_links_beyond_the_limit_are_dropped_and_counted():
    """128 links are kept and the rest counted in otel.dropped_links_count."""
    links = [(bytes([1]) * 16, i.to_bytes(8, "big"), {}) for i in range(1, 201)]
    (s,) = decode_trace_request(body([span("x", links=links)]), PB).spans
    assert len(s.links) == 128 and s.attributes[DROPPED_LINKS] == 72


def test_long_string_values_are_cut():
    """A string value is cut to max_attribute_value_length characters (configurable)."""
    set_span_limits(SpanLimits(max_attribute_value_length=10))
    (s,) = decode_trace_request(body([span("x", attrs={"a": "y" * 100, "b": ["z" * 50]})]), PB).spans
    assert s.attributes["a"] == "y" * 10 and s.attributes["b"] == ("z" * 10,)


def test_spans_within_the_limits_carry_no_dropped_counts():
    """The common case adds nothing to the attributes."""
    (s,) = decode_trace_request(body([span("x", attrs={"a": 1})]), PB).spans
    assert dict(s.attributes) == {"a": 1}


@pytest.mark.parametrize("depth", [200, 5000, 100_000])
def test_deeply_nested_json_any_value_is_a_decode_error(depth):
    """JSON AnyValue nested very deep is a malformed request (400), never a RecursionError."""
    value: dict = {"stringValue": "leaf"}
    for _ in range(depth):
        value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": "01" * 16, "spanId": "02" * 8, "name": "deep", "attributes": [{"key": "a", "value": value}]}]}]}]}
    try:
        text = json.dumps(doc)
    except RecursionError:
        text = ('{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"' + "01" * 16 + '","spanId":"' + "02" * 8
                + '","attributes":[{"key":"a","value":' + '{"kvlistValue":{"values":[{"key":"k","value":' * depth
                + '{"stringValue":"x"}' + "}]}}" * depth + "}]}]}]}]}")
    try:
        decoded = decode_trace_request(text.encode(), "application/json")
    except DecodeError:
        return
    assert len(decoded.spans) == 1  # shallow enough to decode: fine too, as long as it is not a crash


def test_memory_budget_refuses_what_does_not_fit_and_takes_it_back():
    """Reservations beyond the capacity are refused until earlier ones are released."""
    budget = MemoryBudget(1000, expansion=10)
    first = budget.reserve(60)
    with pytest.raises(MemoryLimitReached):
        budget.reserve(50)
    first.release()
    budget.reserve(50).release()
    assert budget.reserved == 0


def test_memory_budget_always_takes_one_request_when_idle():
    """A request larger than the whole budget is still taken when nothing else is in flight."""
    budget = MemoryBudget(100, expansion=10)
    big = budget.reserve(1000)
    with pytest.raises(MemoryLimitReached):
        budget.reserve(1)
    big.release()


def test_memory_reservation_grows_for_an_inflated_body():
    """A gzip body's reservation grows once inflated, and fails when the larger size does not fit."""
    budget = MemoryBudget(1000, expansion=10)
    held = budget.reserve(10)
    other = budget.reserve(10)
    other.grow(50)
    assert budget.reserved == 600
    with pytest.raises(MemoryLimitReached):
        other.grow(100)
    held.release()
    other.release()
    assert budget.reserved == 0
