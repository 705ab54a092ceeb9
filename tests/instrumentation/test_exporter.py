"""eventlens' OTLP span encoder and exporter: same protobuf message as the standard exporter, over HTTP."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as standard_encode
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
    set_span_in_context,
)
from otlp_sink import otlp_sink

from eventlens.instrumentation._otlp_encode import encode_spans, varint
from eventlens.instrumentation.exporter import FastOTLPSpanExporter, parse_headers


def _spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "svc", "n": 3}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("eventlens.test", "1.2", schema_url="https://opentelemetry.io/schemas/1.44.0")
    other = provider.get_tracer("other")
    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1),
                         trace_state=TraceState([("rojo", "00f067aa0ba902b7")]))
    with tracer.start_as_current_span("send orders", context=set_span_in_context(NonRecordingSpan(remote)),
                                      kind=SpanKind.PRODUCER, links=[Link(remote, {"messaging.kafka.offset": 7})],
                                      attributes={"s": "é", "i": -5, "big": 2**62, "f": 0.25, "b": False,
                                                  "arr": ["a", "b"], "ints": [1, 2]}) as span:
        span.add_event("retry", {"attempt": 2})
        span.set_status(Status(StatusCode.ERROR, "broker said no"))
    with other.start_as_current_span("process orders", kind=SpanKind.CONSUMER):
        pass
    with tracer.start_as_current_span("commit orders", kind=SpanKind.CLIENT):
        pass
    return exporter.get_finished_spans()


def test_encoding_equals_standard_exporter_message():
    """Decoding eventlens' bytes gives exactly the message the standard OTLP encoder builds."""
    spans = _spans()
    assert ExportTraceServiceRequest.FromString(encode_spans(spans)) == standard_encode(spans)


def test_varint_matches_protobuf():
    """Varints of small, large and negative ints follow the protobuf wire format."""
    assert varint(1) == b"\x01"
    assert varint(300) == b"\xac\x02"
    assert varint(-1) == b"\xff" * 9 + b"\x01"


def test_headers_variable_parsing():
    """OTEL_EXPORTER_OTLP_HEADERS style strings become a dict with percent-decoded values."""
    assert parse_headers("Api-Key=a%20b, x=1,broken") == {"api-key": "a b", "x": "1"}


def test_export_posts_decodable_protobuf():
    """An export POSTs one protobuf body to /v1/traces that decodes to the spans."""
    spans = _spans()
    with otlp_sink() as sink:
        exporter = FastOTLPSpanExporter(endpoint=f"{sink.endpoint}/v1/traces", headers={"x-tenant": "t1"})
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        assert exporter.export(spans) is SpanExportResult.SUCCESS  # kept-alive connection reused
        exporter.shutdown()
        assert sorted(name for _, name in sink.spans()) == sorted([s.name for s in spans] * 2)


@contextmanager
def _answering(answers: list[int], seen: list[str]):
    """A receiver answering the given statuses in order (then 200); yields its traces endpoint."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            seen.append(self.path)
            self.send_response(answers.pop(0) if answers else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
    finally:
        server.shutdown()
        server.server_close()


def test_export_retries_unavailable_then_succeeds():
    """A 503 answer is retried; the export succeeds when the receiver recovers."""
    seen: list[str] = []
    with _answering([503], seen) as endpoint:
        assert FastOTLPSpanExporter(endpoint=endpoint, timeout=30).export(_spans()) is SpanExportResult.SUCCESS
    assert seen == ["/v1/traces", "/v1/traces"]


def test_export_does_not_retry_client_errors():
    """A 400 answer is not retried and reports FAILURE."""
    seen: list[str] = []
    with _answering([400], seen) as endpoint:
        assert FastOTLPSpanExporter(endpoint=endpoint, timeout=30).export(_spans()) is SpanExportResult.FAILURE
    assert seen == ["/v1/traces"]


def test_export_gives_up_within_timeout_when_unreachable():
    """With nothing listening the export reports FAILURE once its timeout is spent (no exception)."""
    exporter = FastOTLPSpanExporter(endpoint="http://127.0.0.1:9/v1/traces", timeout=1)
    assert exporter.export(_spans()) is SpanExportResult.FAILURE
