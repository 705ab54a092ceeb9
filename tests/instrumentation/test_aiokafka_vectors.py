"""Every vector of shared/test-vectors/trace-headers.md, its exact bytes on a real record, consumed by aiokafka.

The record is written verbatim with instrumentation suppressed (the same writer as test_vectors.py), then read
with an instrumented `async for`; the loop body records the current context and sends downstream with
`send_and_wait`. The expectations are test_vectors.py's own checks (`_continues`, `_new_root`).
"""

# ruff: noqa: F811  (the aiokafka fixtures are imported from aiokafka_support, then requested by name)
from __future__ import annotations

from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka_support import aio_instrument, aio_instrumented, consume_each, run  # noqa: F401
from conftest import Otel, raw_send
from opentelemetry import baggage, trace
from test_vectors import S2, T2, TP, Outcome, S, T, _continues, _new_root, _traceparent

pytestmark = pytest.mark.kafka

CE_BINARY: list[tuple[str, bytes | None]] = [
    ("ce_specversion", b"1.0"), ("ce_id", b"1234-1234-1234"), ("ce_source", b"/mycontext/subcontext"),
    ("ce_type", b"com.example.someevent"), ("ce_time", b"2018-04-05T03:56:24Z"),
    ("content-type", b"application/json"),
    ("ce_traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b9c7c989f97918e1-01"), ("traceparent", TP)]
CE_STRUCTURED = b'{"specversion":"1.0","id":"e-1","source":"/s","type":"com.example.placed","data":{"n":1}}'


def run_vector(bootstrap: str, make_topic: Any, otel: Otel, headers: list[tuple[str, bytes | None]],
               value: bytes = b"v") -> Outcome:
    """Send `headers` verbatim, consume with the instrumented `async for`, send downstream while handling."""
    source, sink = make_topic(1, "-v"), make_topic(1, "-d")
    raw_send(bootstrap, source, [(value, headers)])
    seen: dict[str, Any] = {}

    async def main() -> tuple[Any, Any]:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()

        async def handle(_record: Any) -> None:
            seen["current"] = trace.get_current_span().get_span_context()
            seen["baggage"] = dict(baggage.get_all())
            await producer.send_and_wait(sink, b"next")

        try:
            (record,) = await consume_each(bootstrap, source, 1, handle)
        finally:
            await producer.stop()
        (downstream,) = await consume_each(bootstrap, sink, 1, _ignore)
        return record, downstream

    record, downstream = run(main())
    return Outcome(record, seen["current"], seen["baggage"], otel.spans(f"process {source}"),
                   list(downstream.headers))


async def _ignore(_record: Any) -> None:
    return None


def test_v1_traceparent_continues_sampled(kafka_bootstrap, make_topic, aio_instrumented: Otel):
    """V1: a canonical traceparent is continued, sampled, and is current inside the `async for` body."""
    outcome = run_vector(kafka_bootstrap, make_topic, aio_instrumented, [("traceparent", TP)])
    _continues(outcome, T, S)
    assert outcome.current.trace_flags.sampled


def test_v2_tracestate_travels_downstream_verbatim(kafka_bootstrap, make_topic, aio_instrumented: Otel):
    """V2: the tracestate bytes are carried unchanged on records produced while handling."""
    state = b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
    outcome = run_vector(kafka_bootstrap, make_topic, aio_instrumented, [("traceparent", TP), ("tracestate", state)])
    _continues(outcome, T, S)
    assert [v for k, v in outcome.downstream if k == "tracestate"] == [state]


def test_v3_unsampled_parent_records_nothing_and_keeps_flags(kafka_bootstrap, make_topic, aio_instrumented: Otel):
    """V3: flags 00 continue trace T unsampled: no recorded process span, downstream flags stay 00."""
    outcome = run_vector(kafka_bootstrap, make_topic, aio_instrumented,
                         [("traceparent", f"00-{T}-{S}-00".encode())])
    assert outcome.process == []
    assert format(outcome.current.trace_id, "032x") == T
    parts = _traceparent(outcome.downstream).split("-")
    assert parts[1] == T and parts[3] == "00"


def test_v4_random_flag_is_sampled_and_kept(kafka_bootstrap, make_topic, aio_instrumented: Otel):
    """V4: flags 03 are sampled (bitmask check) and the downstream record keeps 03."""
    outcome = run_vector(kafka_bootstrap, make_topic, aio_instrumented,
                         [("traceparent", f"00-{T}-{S}-03".encode())])
    _continues(outcome, T, S)
    assert _traceparent(outcome.downstream).endswith("-03")


@pytest.mark.parametrize("headers", [
    [("traceparent", f"00-00000000000000000000000000000000-{S}-01".encode())],
    [("traceparent", f"ff-{T}-{S}-01".encode())],
    [("traceparent", f"00-{T}-{S}-01-extra".encode())],
    [("traceparent", b"\xff\xfe00")],
    [("traceparent", None)],
    [("Traceparent", TP)],
], ids=["v5-zero-trace-id", "v5-version-ff", "v5-v00-extra-field", "v8-non-utf8", "v9-null", "v9-mixed-case"])
def test_v5_v8_v9_unusable_traceparent_is_a_new_root(kafka_bootstrap, make_topic, aio_instrumented: Otel, headers):
    """V5, V8, V9: an invalid, non-UTF-8, null or differently-cased traceparent counts as absent."""
    outcome = run_vector(kafka_bootstrap, make_topic, aio_instrumented, headers)
    _new_root(outcome)
    assert list(outcome.record.headers) == headers


def test_v6_future_version_continues(kafka_bootstrap, make_topic, aio_instrumented: Otel):
    """V6: a future version with extra fields is read by its first four fields and continued."""
    outcome = run_vector(kafka_bootstrap, make_topic, aio_instrumented,
                         [("traceparent", f"01-{T}-{S}-01-what-the-future".encode())])
    _continues(outcome, T, S)


def test_v7_last_duplicate_wins(kafka_bootstrap, make_topic, aio_instrumented: Otel):
    """V7: with two traceparent headers the last one is continued."""
    outcome = run_vector(kafka_bootstrap, make_topic, aio_instrumented,
                         [("traceparent", TP), ("traceparent", f"00-{T2}-{S2}-01".encode())])
    _continues(outcome, T2, S2)


def test_v10_baggage_available_and_reinjected(kafka_bootstrap, make_topic, aio_instrumented: Otel):
    """V10: percent-encoded baggage is decoded while handling and carried downstream."""
    outcome = run_vector(kafka_bootstrap, make_topic, aio_instrumented,
                         [("traceparent", TP), ("baggage", b"tenant=acme,user%20id=a%2Fb")])
    _continues(outcome, T, S)
    assert outcome.baggage == {"tenant": "acme", "user id": "a/b"}
    (down,) = [v for k, v in outcome.downstream if k == "baggage"]
    assert down is not None and b"tenant=acme" in down and b"a%2Fb" in down


def test_v11_cloudevents_binary_mode(kafka_bootstrap, make_topic, aio_instrumented: Otel):
    """V11: binary CloudEvents: event id/type on the process span, a link to ce_traceparent."""
    outcome = run_vector(kafka_bootstrap, make_topic, aio_instrumented, CE_BINARY)
    _continues(outcome, T, S)
    (span,) = outcome.process
    attrs = dict(span.attributes or {})
    assert attrs["cloudevents.event_id"] == "1234-1234-1234"
    assert attrs["cloudevents.event_type"] == "com.example.someevent"
    assert [(format(link.context.trace_id, "032x"), format(link.context.span_id, "016x")) for link in span.links] \
        == [("0af7651916cd43dd8448eb211c80319c", "b9c7c989f97918e1")]


def test_v12_cloudevents_structured_mode(kafka_bootstrap, make_topic, aio_instrumented: Otel):
    """V12: structured CloudEvents: event id and type read from the JSON value."""
    outcome = run_vector(kafka_bootstrap, make_topic, aio_instrumented,
                         [("content-type", b"application/cloudevents+json; charset=UTF-8"), ("traceparent", TP)],
                         value=CE_STRUCTURED)
    _continues(outcome, T, S)
    (span,) = outcome.process
    attrs = dict(span.attributes or {})
    assert attrs["cloudevents.event_id"] == "e-1"
    assert attrs["cloudevents.event_type"] == "com.example.placed"
