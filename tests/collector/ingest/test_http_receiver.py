"""OTLP/HTTP receiver on a real uvicorn server (in-memory store): answers, status codes and reasons."""

from __future__ import annotations

import gzip
import json
import threading
import time

import pytest
import requests
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from otlp_builders import body, span

from eventlens.collector.config import CollectorConfig
from eventlens.collector.service import Collector
from eventlens.collector.storage.protocol import StoreError

PB = {"Content-Type": "application/x-protobuf"}


@pytest.fixture
def make_collector(memory_store):
    started: list[Collector] = []

    def _make(**overrides) -> tuple[Collector, str]:
        config = CollectorConfig.from_env({}, store="memory", http_port=0, grpc_port=-1, **overrides)
        c = Collector(config, store=memory_store).start()
        started.append(c)
        return c, f"http://127.0.0.1:{c.http_port}"

    yield _make
    for c in started:
        if memory_store.gate is not None:
            memory_store.gate.set()
        c.stop()


def wait_until(cond, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def status_message(resp: requests.Response) -> str:
    if resp.headers["content-type"].startswith("application/json"):
        return json.loads(resp.content)["message"]
    return status_pb2.Status.FromString(resp.content).message


def test_protobuf_request_is_stored_and_acknowledged(make_collector, memory_store):
    """A protobuf export is answered 200 with an ExportTraceServiceResponse after the spans are stored."""
    _, url = make_collector()
    resp = requests.post(f"{url}/v1/traces", data=body([span("a"), span("b")]), headers=PB, timeout=30)
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/x-protobuf"
    assert not ExportTraceServiceResponse.FromString(resp.content).HasField("partial_success")
    assert sorted(s.name for s in memory_store.spans.values()) == ["a", "b"]


def test_json_request_is_answered_in_json(make_collector, memory_store):
    """An OTLP/JSON export gets a JSON response."""
    _, url = make_collector()
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "0af7651916cd43dd8448eb211c80319c",
                                                         "spanId": "b7ad6b7169203331", "name": "j"}]}]}]}
    resp = requests.post(f"{url}/v1/traces", json=doc, timeout=30)
    assert resp.status_code == 200 and resp.json() == {}
    assert [s.name for s in memory_store.spans.values()] == ["j"]


def test_gzip_body_is_decompressed(make_collector, memory_store):
    """Content-Encoding: gzip is accepted."""
    _, url = make_collector()
    resp = requests.post(f"{url}/v1/traces", data=gzip.compress(body([span("z")])),
                         headers={**PB, "Content-Encoding": "gzip"}, timeout=30)
    assert resp.status_code == 200 and memory_store.span_count() == 1


def test_truncated_body_is_400_with_reason_and_server_keeps_serving(make_collector, memory_store):
    """A truncated protobuf is refused with 400 and a reason; the next request still succeeds."""
    _, url = make_collector()
    data = body([span("a", attrs={"k": "v" * 100})])
    resp = requests.post(f"{url}/v1/traces", data=data[:-20], headers=PB, timeout=30)
    assert resp.status_code == 400 and "malformed protobuf" in status_message(resp)
    assert requests.post(f"{url}/v1/traces", data=data, headers=PB, timeout=30).status_code == 200


@pytest.mark.parametrize("payload", [b"\x00\x01\x02garbage\xff" * 10, b"GET / HTTP/1.1\r\n\r\n"])
def test_garbage_body_is_400(make_collector, payload):
    """Random bytes are refused with 400."""
    _, url = make_collector()
    resp = requests.post(f"{url}/v1/traces", data=payload, headers=PB, timeout=30)
    assert resp.status_code == 400 and status_message(resp)


def test_corrupt_gzip_is_400(make_collector):
    """A body that claims gzip but is not is refused with 400."""
    _, url = make_collector()
    resp = requests.post(f"{url}/v1/traces", data=b"not gzip", headers={**PB, "Content-Encoding": "gzip"},
                         timeout=30)
    assert resp.status_code == 400 and "gzip" in status_message(resp)


def test_oversized_body_is_413(make_collector):
    """A body over max_body_bytes is refused with 413."""
    _, url = make_collector(max_body_bytes=1000)
    resp = requests.post(f"{url}/v1/traces", data=b"\x00" * 5000, headers=PB, timeout=30)
    assert resp.status_code == 413 and "limit" in status_message(resp)


def test_gzip_bomb_is_413(make_collector):
    """A small gzip body inflating past the limit is refused with 413, not inflated into memory."""
    _, url = make_collector(max_body_bytes=10_000)
    resp = requests.post(f"{url}/v1/traces", data=gzip.compress(b"\x00" * 1_000_000),
                         headers={**PB, "Content-Encoding": "gzip"}, timeout=30)
    assert resp.status_code == 413


def test_unknown_content_type_is_415(make_collector):
    """A content type other than protobuf or JSON is refused with 415."""
    _, url = make_collector()
    resp = requests.post(f"{url}/v1/traces", data=b"x", headers={"Content-Type": "text/plain"}, timeout=30)
    assert resp.status_code == 415 and "unsupported content type" in status_message(resp)


def test_unknown_content_encoding_is_415(make_collector):
    """A content encoding other than gzip is refused with 415."""
    _, url = make_collector()
    resp = requests.post(f"{url}/v1/traces", data=b"x", headers={**PB, "Content-Encoding": "br"}, timeout=30)
    assert resp.status_code == 415


def test_token_is_required_when_configured(make_collector, memory_store):
    """With a token set, a request without it is 401 and one with it is stored."""
    _, url = make_collector(token="s3cret")
    assert requests.post(f"{url}/v1/traces", data=body([span()]), headers=PB, timeout=30).status_code == 401
    resp = requests.post(f"{url}/v1/traces", data=body([span()]), headers={**PB, "Authorization": "Bearer s3cret"},
                         timeout=30)
    assert resp.status_code == 200 and memory_store.span_count() == 1


def test_invalid_span_gives_partial_success(make_collector, memory_store):
    """A span with an all-zero trace id is rejected alone and reported in partial_success."""
    _, url = make_collector()
    resp = requests.post(f"{url}/v1/traces", data=body([span("ok"), span("bad", trace_id=bytes(16))]), headers=PB,
                         timeout=30)
    answer = ExportTraceServiceResponse.FromString(resp.content)
    assert resp.status_code == 200 and answer.partial_success.rejected_spans == 1
    assert [s.name for s in memory_store.spans.values()] == ["ok"]


def test_full_queue_answers_429_with_retry_after(make_collector, memory_store):
    """When the queue is full the receiver answers 429 with Retry-After at once; queued requests still succeed."""
    memory_store.gate = threading.Event()
    collector, url = make_collector(queue_spans=10, retry_after_s=2)
    answers: list[int] = []
    senders = [threading.Thread(target=lambda n=n: answers.append(requests.post(
        f"{url}/v1/traces", data=body([span() for _ in range(n)]), headers=PB, timeout=60).status_code))
        for n in (5, 8)]
    received = collector.metrics.spans_received.labels("http")
    senders[0].start()  # its 5 spans go to the writer, which blocks on the gate
    wait_until(lambda: received._value.get() >= 5 and collector.pipeline.queued_spans == 0)
    senders[1].start()  # its 8 spans wait in the queue
    wait_until(lambda: collector.pipeline.queued_spans == 8)
    resp = requests.post(f"{url}/v1/traces", data=body([span() for _ in range(5)]), headers=PB, timeout=30)
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "2"
    memory_store.gate.set()
    for s in senders:
        s.join(60)
    assert sorted(answers) == [200, 200] and memory_store.span_count() == 13


def test_store_error_answers_503_with_retry_after(make_collector, memory_store):
    """A failing store write is answered 503 with Retry-After (retryable), never 200."""
    memory_store.fail = StoreError("database is locked")
    _, url = make_collector()
    resp = requests.post(f"{url}/v1/traces", data=body([span()]), headers=PB, timeout=30)
    assert resp.status_code == 503 and "Retry-After" in resp.headers and "store error" in status_message(resp)
    assert "locked" not in status_message(resp) and "error id" in status_message(resp)  # logged, never answered


def test_metrics_signal_is_validated_and_counted(make_collector):
    """/v1/metrics accepts a valid request (200) and refuses garbage (400)."""
    collector, url = make_collector()
    doc = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "m", "gauge": {"dataPoints": [{}]}}]}]}]}
    assert requests.post(f"{url}/v1/metrics", json=doc, timeout=30).status_code == 200
    assert requests.post(f"{url}/v1/metrics", data=b"\xff" * 20, headers=PB, timeout=30).status_code == 400
    assert collector.metrics.metric_points.labels("http")._value.get() == 1


def test_prometheus_metrics_report_ingest(make_collector):
    """/metrics exposes received, stored and rejected counters and the queue gauge."""
    _, url = make_collector()
    requests.post(f"{url}/v1/traces", data=body([span(), span()]), headers=PB, timeout=30)
    requests.post(f"{url}/v1/traces", data=b"junk", headers=PB, timeout=30)
    text = requests.get(f"{url}/metrics", timeout=30).text
    assert 'eventlens_collector_spans_received_total{receiver="http"} 2.0' in text
    assert "eventlens_collector_spans_stored_total 2.0" in text
    assert 'eventlens_collector_requests_rejected_total{reason="malformed",receiver="http"} 1.0' in text
    assert "eventlens_collector_queue_spans" in text and "eventlens_collector_store_seconds_bucket" in text


def test_api_trace_spans_services_and_health(make_collector):
    """The query API returns a stored trace, finds spans by topic, lists services and reports health."""
    _, url = make_collector()
    tid = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
    s = span("send orders", Span.SPAN_KIND_PRODUCER, {"messaging.system": "kafka",
                                                      "messaging.destination.name": "orders"}, trace_id=tid)
    requests.post(f"{url}/v1/traces", data=body([s], service="shop"), headers=PB, timeout=30)
    trace = requests.get(f"{url}/api/traces/{tid.hex()}", timeout=30).json()
    assert trace["spans"][0]["name"] == "send orders" and trace["spans"][0]["kind"] == "PRODUCER"
    assert trace["spans"][0]["messaging"]["operation"] == "send"
    found = requests.get(f"{url}/api/spans", params={"topic": "orders"}, timeout=30).json()["spans"]
    assert [f["service"] for f in found] == ["shop"]
    assert requests.get(f"{url}/api/services", timeout=30).json() == {"services": ["shop"]}
    health = requests.get(f"{url}/api/health", timeout=30).json()
    assert health["status"] == "ok" and health["spans_stored"] == 1


def test_api_errors(make_collector):
    """A malformed trace id is 400, an unknown one 404, a non-integer partition 400."""
    _, url = make_collector()
    assert requests.get(f"{url}/api/traces/xyz", timeout=30).status_code == 400
    assert requests.get(f"{url}/api/traces/{'ab' * 16}", timeout=30).status_code == 404
    assert requests.get(f"{url}/api/spans", params={"partition": "two"}, timeout=30).status_code == 400


def test_api_needs_the_token_when_set(make_collector):
    """With a token, /api endpoints other than health answer 401 without it."""
    _, url = make_collector(token="t")
    assert requests.get(f"{url}/api/services", timeout=30).status_code == 401
    assert requests.get(f"{url}/api/services", headers={"Authorization": "Bearer t"}, timeout=30).status_code == 200
    assert requests.get(f"{url}/api/health", timeout=30).status_code == 200


def test_openapi_document_lists_the_endpoints(make_collector):
    """/api/openapi.json is an OpenAPI 3.1 document with the built-in paths."""
    _, url = make_collector()
    doc = requests.get(f"{url}/api/openapi.json", timeout=30).json()
    assert doc["openapi"].startswith("3.1")
    assert {"/api/traces/{trace_id}", "/api/spans", "/api/services", "/api/health"} <= set(doc["paths"])


def test_token_is_checked_before_anything_else(make_collector):
    """Without the token, even a request with an unsupported content type learns only 401."""
    _, url = make_collector(token="s3cret")
    resp = requests.post(f"{url}/v1/traces", data=b"x", headers={"Content-Type": "text/plain"}, timeout=30)
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"] == "Bearer"


def test_large_body_is_decoded_and_stored(make_collector, memory_store):
    """A body over 1 MiB (decoded on a worker thread) is stored completely."""
    _, url = make_collector()
    data = body([span(f"s{i}", attrs={"blob": "x" * 600}) for i in range(3000)])
    assert len(data) > 1 << 20
    assert requests.post(f"{url}/v1/traces", data=data, headers=PB, timeout=60).status_code == 200
    assert memory_store.span_count() == 3000


def test_body_cut_off_by_a_disconnect_is_counted_and_server_keeps_serving(make_collector, memory_store):
    """A client that announces 10,000 bytes, sends 100 and disconnects is counted as malformed; others go on."""
    import socket

    collector, url = make_collector()
    with socket.create_connection(("127.0.0.1", collector.http_port), timeout=30) as sock:
        sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n"
                     b"Content-Length: 10000\r\n\r\n" + b"\x0a" * 100)
    rejected = collector.metrics.requests_rejected.labels("http", "malformed")
    wait_until(lambda: rejected._value.get() == 1)
    assert requests.post(f"{url}/v1/traces", data=body([span()]), headers=PB, timeout=30).status_code == 200
    assert memory_store.span_count() == 1
