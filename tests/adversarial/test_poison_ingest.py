"""Poison input over OTLP/HTTP and OTLP/gRPC, on SQLite and PostgreSQL: what no store column can hold (integers
beyond int64, NUL characters, times past 2262) never fails a request or its neighbours, and is never retried."""

from __future__ import annotations

import threading

import grpc
from adversarial_support import Running
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from otlp_builders import body, request, span

BIG = "9" * 20
"""A decimal beyond int64."""


def messaging(**extra: object) -> dict[str, object]:
    return {"messaging.system": "kafka", "messaging.destination.name": "orders", **extra}


def test_partition_offset_and_body_size_beyond_int64_are_stored_without_them(collector: Running):
    """The span is acknowledged and stored; only the fields no column can hold are empty."""
    s = span("send orders", 4, messaging(**{"messaging.destination.partition.id": BIG,
                                            "messaging.kafka.offset": BIG, "messaging.message.body.size": BIG}))
    answer = collector.post(body([s]))
    assert answer.status == 200, answer.content
    stored = collector.store.get_span(s.trace_id.hex(), s.span_id.hex())
    assert stored is not None and stored.messaging.topic == "orders"
    assert (stored.messaging.partition, stored.messaging.offset, stored.messaging.body_size) == (None, None, None)


def test_nul_characters_are_stripped_the_same_on_every_backend(collector: Running):
    """NUL in a span name, status message, service and topic is removed, and the span stored."""
    s = span("send\x00 orders", 4, messaging(**{"messaging.destination.name": "ord\x00ers"}))
    s.status.message = "oops\x00"
    answer = collector.post(body([s], service="pay\x00ments"))
    assert answer.status == 200, answer.content
    stored = collector.store.get_span(s.trace_id.hex(), s.span_id.hex())
    assert stored is not None
    assert (stored.name, stored.status_message, stored.service, stored.messaging.topic) == \
        ("send orders", "oops", "payments", "orders")


def test_a_time_beyond_int64_rejects_only_that_span(collector: Running):
    """Partial success: the span with an impossible time is rejected, its neighbours stored."""
    good, late = span("good"), span("late", start=(1 << 64) - 1, end=(1 << 64) - 1)
    answer = collector.post(body([good, late]))
    assert answer.status == 200, answer.content
    response = ExportTraceServiceResponse.FromString(answer.content)
    assert response.partial_success.rejected_spans == 1 and "int64" in response.partial_success.error_message
    assert collector.store.get_span(good.trace_id.hex(), good.span_id.hex()) is not None


def test_senders_of_unstorable_values_cost_other_senders_nothing(collector: Running):
    """Two clients keep sending beyond-int64 partitions while four send good spans: every request is 200."""
    answers: list[int] = []
    lock = threading.Lock()

    def send(bad: bool) -> None:
        for _ in range(10):
            attrs = messaging(**{"messaging.destination.partition.id": BIG}) if bad else messaging()
            status = collector.post(body([span("send orders", 4, attrs) for _ in range(20)])).status
            with lock:
                answers.append(status)

    threads = [threading.Thread(target=send, args=(i < 2,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert answers == [200] * 60


def test_grpc_export_with_unstorable_values_is_stored(collector: Running):
    """OTLP/gRPC: the same poison is stored cleaned, the call succeeds."""
    s = span("send\x00 orders", 4, messaging(**{"messaging.kafka.offset": BIG}))
    with grpc.insecure_channel(f"127.0.0.1:{collector.proc.grpc_port}") as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
        stub.Export(request([s]), timeout=60)
    stored = collector.store.get_span(s.trace_id.hex(), s.span_id.hex())
    assert stored is not None and stored.name == "send orders" and stored.messaging.offset is None
