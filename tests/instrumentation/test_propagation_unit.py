"""Unit tests of the header getter/setter: replace on inject, liberal last-wins extract."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from eventlens.instrumentation import _propagation as p

T = "4bf92f3577b34da6a3ce929d0e0e4736"
S = "00f067aa0ba902b7"
TP = f"00-{T}-{S}-01"


def _ctx():
    sc = SpanContext(int(T, 16), int(S, 16), is_remote=False, trace_flags=TraceFlags(1))
    return trace.set_span_in_context(NonRecordingSpan(sc))


def test_setter_replaces_every_same_named_header():
    """Setting a header removes all earlier ones of that name and appends the new value last."""
    headers = [("traceparent", b"old1"), ("a", b"1"), ("traceparent", b"old2"), ("b", b"2")]
    p.SETTER.set(headers, "traceparent", "new")
    assert headers == [("a", b"1"), ("b", b"2"), ("traceparent", b"new")]


def test_inject_into_reused_list_keeps_one_traceparent():
    """Injecting twice into one list leaves exactly one traceparent, the latest."""
    headers: list[tuple[str, bytes | None]] = [("x", b"\x00")]
    p.inject(headers, _ctx())
    p.inject(headers, _ctx())
    assert headers == [("x", b"\x00"), ("traceparent", TP.encode())]


def test_getter_takes_last_value():
    """With duplicate names the getter reads the last one."""
    assert p.GETTER.get([("k", b"1"), ("k", b"2")], "k") == ["2"]


def test_getter_treats_null_and_non_utf8_as_absent():
    """A null or non-UTF-8 last value is absent (no exception)."""
    assert p.GETTER.get([("k", None)], "k") is None
    assert p.GETTER.get([("k", b"ok"), ("k", b"\xff")], "k") is None


def test_getter_survives_malformed_lists():
    """Items that are not pairs make the getter return absent instead of raising."""
    assert p.GETTER.get([("k",)], "k") is None  # type: ignore[list-item]
    assert p.GETTER.get([42], "k") is None  # type: ignore[list-item]
    assert p.GETTER.keys([42]) == []  # type: ignore[list-item]


def test_extract_reads_sampled_bit_as_bitmask():
    """Flags 03 count as sampled."""
    sc = p.span_context_of(p.extract([("traceparent", f"00-{T}-{S}-03".encode())]))
    assert sc.is_valid and sc.trace_flags.sampled


def test_extract_of_nothing_is_empty():
    """No headers (None or empty) give a context without a span."""
    assert not p.span_context_of(p.extract(None)).is_valid
    assert not p.span_context_of(p.extract([])).is_valid


def test_parse_traceparent_rejects_garbage():
    """A malformed ce_traceparent parses to an invalid span context."""
    assert not p.parse_traceparent("nonsense").is_valid
    assert p.parse_traceparent(TP).span_id == int(S, 16)


_HEXISH = "0123456789abcdefABF-x "


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_HEXISH, min_size=53, max_size=57), st.sampled_from(["00", "01", "ff", "0A", "cc"]),
       st.booleans(), st.one_of(st.none(), st.just(b"rojo=00f067aa0ba902b7")))
def test_direct_traceparent_parse_agrees_with_the_sdk_propagator(body, version, canonical, state):
    """eventlens' direct parse of `traceparent` (and `tracestate`) gives the SDK propagator's span context."""
    value = (f"{version}-{T}-{S}-01" if canonical else version + body[2:]).encode()
    headers: list[tuple[str, bytes | None]] = [("traceparent", value)]
    if state is not None:
        headers.append(("tracestate", state))
    expected = trace.get_current_span(p._TRACECONTEXT.extract(headers, getter=p.GETTER)).get_span_context()
    assert p.extract_parts(headers)[0] == expected
    assert p.extract_parts(headers)[0].trace_state == expected.trace_state
