"""The vectors of shared/test-vectors/trace-headers.md as data, and what a consumer must make of each.

Every client's vector test puts each vector's exact header bytes on a real record, consumes it with the
instrumented client, produces a record downstream while handling it, and checks the `Outcome` with `check`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext

T = "4bf92f3577b34da6a3ce929d0e0e4736"
S = "00f067aa0ba902b7"
TP = f"00-{T}-{S}-01".encode()
T2, S2 = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
Headers = list[tuple[str, bytes | None]]


@dataclass(frozen=True)
class Vector:
    """One vector: the headers (and value) on the wire, and the expected result."""

    id: str
    headers: Headers
    expect: str  # "continue" (trace_id/span_id continued), "root" (a new root), "unsampled" (T continued, not recorded)
    trace_id: str = T
    span_id: str = S
    value: bytes = b"v"
    downstream_flags: str | None = None
    downstream_same: tuple[str, ...] = ()  # headers carried downstream with exactly these bytes
    baggage: dict[str, str] | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    links: tuple[tuple[str, str], ...] = ()


_CE_BINARY: Headers = [
    ("ce_specversion", b"1.0"), ("ce_id", b"1234-1234-1234"), ("ce_source", b"/mycontext/subcontext"),
    ("ce_type", b"com.example.someevent"), ("ce_time", b"2018-04-05T03:56:24Z"),
    ("content-type", b"application/json"),
    ("ce_traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b9c7c989f97918e1-01"), ("traceparent", TP)]

VECTORS: tuple[Vector, ...] = (
    Vector("v1-sampled", [("traceparent", TP)], "continue", downstream_flags="01"),
    Vector("v2-tracestate", [("traceparent", TP), ("tracestate", b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")],
           "continue", downstream_same=("tracestate",)),
    Vector("v3-unsampled", [("traceparent", f"00-{T}-{S}-00".encode())], "unsampled", downstream_flags="00"),
    Vector("v4-random-flag", [("traceparent", f"00-{T}-{S}-03".encode())], "continue", downstream_flags="03"),
    Vector("v5-zero-trace-id", [("traceparent", f"00-00000000000000000000000000000000-{S}-01".encode())], "root"),
    Vector("v5-version-ff", [("traceparent", f"ff-{T}-{S}-01".encode())], "root"),
    Vector("v5-v00-extra-field", [("traceparent", f"00-{T}-{S}-01-extra".encode())], "root"),
    Vector("v6-future-version", [("traceparent", f"01-{T}-{S}-01-what-the-future".encode())], "continue"),
    Vector("v7-last-duplicate", [("traceparent", TP), ("traceparent", f"00-{T2}-{S2}-01".encode())], "continue",
           trace_id=T2, span_id=S2),
    Vector("v8-non-utf8", [("traceparent", b"\xff\xfe00")], "root"),
    Vector("v9-null", [("traceparent", None)], "root"),
    Vector("v9-mixed-case-key", [("Traceparent", TP)], "root"),
    Vector("v10-baggage", [("traceparent", TP), ("baggage", b"tenant=acme,user%20id=a%2Fb")], "continue",
           baggage={"tenant": "acme", "user id": "a/b"}),
    Vector("v11-cloudevents-binary", _CE_BINARY, "continue",
           attributes={"cloudevents.event_id": "1234-1234-1234", "cloudevents.event_type": "com.example.someevent",
                       "cloudevents.event_source": "/mycontext/subcontext"},
           links=(("0af7651916cd43dd8448eb211c80319c", "b9c7c989f97918e1"),)),
    Vector("v12-cloudevents-structured",
           [("content-type", b"application/cloudevents+json; charset=UTF-8"), ("traceparent", TP)], "continue",
           value=b'{"specversion":"1.0","id":"e-1","source":"/s","type":"com.example.placed","data":{"n":1}}',
           attributes={"cloudevents.event_id": "e-1", "cloudevents.event_type": "com.example.placed"}),
)


@dataclass
class Outcome:
    """What an instrumented consumer made of one record."""

    headers: Headers  # the record's headers as the consumer handed them to user code
    value: bytes | None
    current: SpanContext
    baggage: dict[str, object]
    process: list[ReadableSpan]
    downstream: Headers


def _header(headers: Headers, name: str) -> list[bytes | None]:
    return [v for k, v in headers if k == name]


def check(vector: Vector, outcome: Outcome) -> None:
    """Assert that `outcome` is what the vector specifies."""
    assert outcome.value == vector.value, "the record reached user code unchanged"
    assert list(outcome.headers) == vector.headers, "user code sees the headers as sent"
    (down,) = _header(outcome.downstream, "traceparent")
    assert down is not None
    parts = down.decode().split("-")
    if vector.expect == "root":
        (span,) = outcome.process
        assert span.parent is None
        assert format(span.context.trace_id, "032x") != T
    elif vector.expect == "unsampled":
        assert outcome.process == []
        assert format(outcome.current.trace_id, "032x") == T and not outcome.current.trace_flags.sampled
        assert parts[1] == T
    else:
        (span,) = outcome.process
        assert format(span.context.trace_id, "032x") == vector.trace_id
        assert span.parent is not None and format(span.parent.span_id, "016x") == vector.span_id
        assert outcome.current.span_id == span.context.span_id and outcome.current.trace_flags.sampled
        assert parts[1] == vector.trace_id
        attrs = dict(span.attributes or {})
        for name, value in vector.attributes.items():
            assert attrs[name] == value, name
        assert [(format(link.context.trace_id, "032x"), format(link.context.span_id, "016x"))
                for link in span.links] == list(vector.links)
    if vector.downstream_flags is not None:
        assert parts[3] == vector.downstream_flags
    for name in vector.downstream_same:
        assert _header(outcome.downstream, name) == _header(vector.headers, name)
    if vector.baggage is not None:
        assert outcome.baggage == vector.baggage
        (carried,) = _header(outcome.downstream, "baggage")
        assert carried is not None and b"tenant=acme" in carried and b"a%2Fb" in carried
