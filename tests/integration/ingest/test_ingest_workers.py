"""Worker mode (`--ingest-workers N`): OTLP/HTTP bodies decoded and stored by worker processes, answered after
the commit, with the same status codes, back-pressure and durability as in-process ingest."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import requests
from collector_proc import alive, children
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from otlp_builders import body, span
from test_exporters_to_store import check_stored, emit

from eventlens.collector.config import CollectorConfig
from eventlens.collector.service import Collector
from eventlens.collector.storage.protocol import open_store

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def _wait(condition, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def worker_collector(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    c = Collector(CollectorConfig.from_env({}, store=url, http_port=0, grpc_port=-1, ingest_workers=2)).start()
    yield c, url
    c.stop()


def test_real_exporter_spans_are_stored_by_ingest_workers(worker_collector):
    """The SDK's OTLP/HTTP exporter delivers spans that a worker process decodes and stores, fields intact."""
    c, url = worker_collector
    trace_id, span_id = emit(HttpExporter(endpoint=f"http://127.0.0.1:{c.http_port}/v1/traces"), "worker-shop")
    check_stored(url, trace_id, span_id, "worker-shop")


def test_grpc_exporter_spans_are_stored_by_ingest_workers(tmp_path):
    """The SDK's OTLP/gRPC exporter delivers spans that a worker process decodes and stores, fields intact."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    c = Collector(CollectorConfig.from_env({}, store=url, http_port=-1, grpc_port=0, ingest_workers=2)).start()
    try:
        trace_id, span_id = emit(GrpcExporter(endpoint=f"127.0.0.1:{c.grpc_port}", insecure=True), "grpc-shop")
    finally:
        c.stop()
    check_stored(url, trace_id, span_id, "grpc-shop")


def test_undecodable_grpc_request_is_invalid_argument_with_the_reason(tmp_path):
    """A TraceService/Export call whose bytes are not an OTLP request is answered INVALID_ARGUMENT, with why."""
    import grpc

    url = f"sqlite:///{tmp_path / 'store.db'}"
    c = Collector(CollectorConfig.from_env({}, store=url, http_port=-1, grpc_port=0, ingest_workers=1)).start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{c.grpc_port}") as channel:
            export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                                         request_serializer=None, response_deserializer=None)
            with pytest.raises(grpc.RpcError) as raised:
                export(b"\x0a\xff\xff\xff\x0f garbage", timeout=30)
    finally:
        c.stop()
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed protobuf" in raised.value.details()


def test_worker_mode_reports_received_spans_and_its_queue(worker_collector):
    """/metrics counts the spans a worker stored and exposes the body queue; /api/health names the workers."""
    c, _ = worker_collector
    url = f"http://127.0.0.1:{c.http_port}"
    ok = requests.post(f"{url}/v1/traces", data=body([span("a"), span("b")]), headers=PROTOBUF, timeout=30)
    assert ok.status_code == 200
    metrics = requests.get(f"{url}/metrics", timeout=30).text
    assert 'eventlens_collector_spans_received_total{receiver="http"} 2.0' in metrics
    assert "eventlens_collector_spans_stored_total 2.0" in metrics
    assert "eventlens_collector_queue_bytes 0.0" in metrics
    health = requests.get(f"{url}/api/health", timeout=30).json()
    assert (health["ingest_workers"], health["queue_bytes"]) == (2, 0)


def test_bodies_queued_while_the_worker_is_busy_share_one_transaction(tmp_path):
    """Concurrent requests to one busy worker are written together (fewer transactions than requests), and
    every one is answered 200 with its spans stored."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    c = Collector(CollectorConfig.from_env({}, store=url, http_port=0, grpc_port=-1, ingest_workers=1)).start()
    batches = [[span("send orders", attrs={"messaging.destination.name": "orders"}) for _ in range(300)]
               for _ in range(16)]
    barrier = threading.Barrier(len(batches))
    statuses: list[int] = []

    def send(batch) -> None:
        data = body(batch)
        barrier.wait(30)
        statuses.append(requests.post(f"http://127.0.0.1:{c.http_port}/v1/traces", data=data, headers=PROTOBUF,
                                      timeout=120).status_code)

    try:
        threads = [threading.Thread(target=send, args=(b,)) for b in batches]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        transactions = next(sample.value for metric in c.metrics.store_seconds.collect() for sample in metric.samples
                     if sample.name.endswith("_count"))
    finally:
        c.stop()
    assert statuses == [200] * len(batches)
    assert 1 <= transactions < len(batches)
    store = open_store(url)
    try:
        assert store.span_count() == 300 * len(batches)
    finally:
        store.close()


def test_malformed_body_gets_400_with_the_workers_reason(worker_collector):
    """A body a worker cannot decode is answered 400 with the decoder's reason; the next good body is stored."""
    c, url = worker_collector
    bad = requests.post(f"http://127.0.0.1:{c.http_port}/v1/traces", data=b"\x0a\xff\xff\xff\x0f garbage",
                        headers=PROTOBUF, timeout=30)
    assert bad.status_code == 400
    assert "malformed protobuf" in bad.text
    good = span("send orders", attrs={"messaging.destination.name": "orders"})
    ok = requests.post(f"http://127.0.0.1:{c.http_port}/v1/traces", data=body([good]), headers=PROTOBUF,
                       timeout=30)
    assert ok.status_code == 200
    store = open_store(url)
    try:
        assert store.get_span(good.trace_id.hex(), good.span_id.hex()) is not None
    finally:
        store.close()


def test_partial_success_is_reported_from_the_worker(worker_collector):
    """Spans with invalid ids are counted as rejected in the answer; the valid ones are stored."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    c, _ = worker_collector
    spans = [span("ok"), span("zero", trace_id=bytes(16))]
    resp = requests.post(f"http://127.0.0.1:{c.http_port}/v1/traces", data=body(spans), headers=PROTOBUF, timeout=30)
    assert resp.status_code == 200
    answer = ExportTraceServiceResponse.FromString(resp.content)
    assert answer.partial_success.rejected_spans == 1


def test_full_worker_queue_answers_429_and_loses_nothing_acknowledged(tmp_path):
    """With a tiny queue, concurrent large bodies get 429 + Retry-After; every 200 is stored."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    c = Collector(CollectorConfig.from_env({}, store=url, http_port=0, grpc_port=-1, ingest_workers=1,
                                           queue_spans=1)).start()
    acked: list[tuple[str, str]] = []
    statuses: list[int] = []
    retry_after: list[str | None] = []
    lock = threading.Lock()

    def send() -> None:
        batch = [span("send orders", attrs={"messaging.destination.name": "orders", "n": i}) for i in range(800)]
        resp = requests.post(f"http://127.0.0.1:{c.http_port}/v1/traces", data=body(batch), headers=PROTOBUF,
                             timeout=120)
        with lock:
            statuses.append(resp.status_code)
            if resp.status_code == 200:
                acked.extend((s.trace_id.hex(), s.span_id.hex()) for s in batch)
            else:
                retry_after.append(resp.headers.get("Retry-After"))

    try:
        threads = [threading.Thread(target=send) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        c.stop()
    assert 429 in statuses and 200 in statuses
    assert set(statuses) <= {200, 429}
    assert all(value == "1" for value in retry_after)
    store = open_store(url)
    try:
        assert [ids for ids in acked if store.get_span(*ids) is None] == []
    finally:
        store.close()


def test_a_dead_worker_costs_retries_not_data(worker_collector):
    """After a worker is killed, requests are answered 503 (retryable) or 200 — never lost — and the pool
    comes back: a request is stored again within the deadline."""
    c, url = worker_collector
    assert c.pool is not None
    pool_pids = c.pool.worker_pids()
    assert len(pool_pids) == 2 and set(pool_pids) <= set(children(os.getpid()))
    os.kill(pool_pids[0], signal.SIGKILL)
    _wait(lambda: not alive(pool_pids[0]), what="the worker to die")
    statuses: list[int] = []
    stored: list[tuple[str, str]] = []
    deadline = time.monotonic() + 60
    while 200 not in statuses[-1:]:
        assert time.monotonic() < deadline, f"the pool did not recover: {statuses}"
        s = span("after the crash")
        resp = requests.post(f"http://127.0.0.1:{c.http_port}/v1/traces", data=body([s]), headers=PROTOBUF,
                             timeout=60)
        statuses.append(resp.status_code)
        if resp.status_code == 200:
            stored.append((s.trace_id.hex(), s.span_id.hex()))
        else:
            assert resp.status_code == 503 and resp.headers.get("Retry-After") == "1"
            time.sleep(0.2)
    store = open_store(url)
    try:
        assert all(store.get_span(*ids) is not None for ids in stored)
    finally:
        store.close()
