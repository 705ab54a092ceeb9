"""Memory is bounded on the ingest side, on SQLite and PostgreSQL: span limits, deep JSON, the global memory
limit (429 with Retry-After before the process grows past it) and the peak RSS under hostile requests."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from adversarial_support import PB, Running, post, start_collector
from google.rpc import error_details_pb2, status_pb2
from hostile_bodies import attributes_for, many_attributes
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from otlp_builders import body, request, span

from eventlens.collector.storage.protocol import open_store

MAX_BODY = 16 * 1024 * 1024


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set (VmHWM), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_a_span_with_a_million_attributes_keeps_128_and_counts_the_rest(collector: Running):
    """The first 128 attributes are stored, the rest counted in otel.dropped_attributes_count."""
    data, trace_id, span_id = many_attributes(1_000_000)
    answer = collector.post(data)
    assert answer.status == 200, answer.content
    stored = collector.store.get_span(trace_id.hex(), span_id.hex())
    assert stored is not None and len(stored.attributes) == 2  # "k" (duplicates collapse) + the dropped count
    assert stored.attributes["otel.dropped_attributes_count"] == 1_000_000 - 128
    assert collector.good_request_is_stored()


def test_links_beyond_the_limit_are_dropped_and_counted(collector: Running):
    """1,000 links: 128 stored, 872 counted in otel.dropped_links_count."""
    s = span("fan-in", links=[(bytes([7]) * 16, i.to_bytes(8, "big"), {}) for i in range(1, 1001)])
    assert collector.post(body([s])).status == 200
    stored = collector.store.get_span(s.trace_id.hex(), s.span_id.hex())
    assert stored is not None and len(stored.links) == 128
    assert stored.attributes["otel.dropped_links_count"] == 872


def test_a_huge_attribute_value_is_cut(collector: Running):
    """A 4 MiB string value is stored cut to 65,536 characters."""
    s = span("big", attrs={"payload": "x" * (4 << 20)})
    assert collector.post(body([s])).status == 200
    stored = collector.store.get_span(s.trace_id.hex(), s.span_id.hex())
    assert stored is not None and stored.attributes["payload"] == "x" * 65536


def test_deeply_nested_json_any_value_is_400_not_500(collector: Running):
    """AnyValue nested 100,000 deep in OTLP/JSON is a malformed request; the collector keeps serving."""
    depth = 100_000
    text = ('{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"' + "01" * 16 + '","spanId":"' + "02" * 8
            + '","name":"deep","attributes":[{"key":"a","value":'
            + '{"kvlistValue":{"values":[{"key":"k","value":' * depth + '{"stringValue":"x"}' + "}]}}" * depth
            + "}]}]}]}]}")
    answer = collector.post(text.encode(), "application/json")
    assert answer.status == 400, answer.content
    assert "nested" in json.loads(answer.content)["message"]
    assert collector.good_request_is_stored()


def test_deeply_nested_json_on_the_metrics_signal_is_400_not_500(collector: Running):
    """/v1/metrics parses the same way: JSON nested 100,000 deep is 400."""
    text = '{"resourceMetrics":[{"resource":{"attributes":[{"key":"a","value":' + '{"arrayValue":{"values":[' * 100_000
    text += "]}}" * 100_000 + "}]}}]}"
    answer = post(collector.port, "/v1/metrics", text.encode(), "application/json")
    assert answer.status == 400, answer.content
    assert collector.good_request_is_stored()


@contextlib.contextmanager
def budget_held(store_url: str, tmp_path: Path) -> Iterator[Running]:
    """A collector whose whole memory budget (`--memory-limit-mib 1`: one request at a time) is held by a request
    whose body is still arriving."""
    proc = start_collector(store_url, tmp_path, "--memory-limit-mib", "1")
    store = open_store(store_url)
    try:
        running = Running(proc, store)
        with socket.create_connection(("127.0.0.1", running.port)) as holder:
            holder.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n"
                           b"Content-Length: 1000000\r\n\r\n" + b"\x0a" * 1000)
            deadline = time.monotonic() + 30
            while "eventlens_collector_memory_reserved_bytes 0.0" in metrics(running.port):
                assert time.monotonic() < deadline, "the held request never reserved memory"
                time.sleep(0.05)
            yield running
        deadline = time.monotonic() + 30
        while not running.good_request_is_stored():
            assert time.monotonic() < deadline, "requests were not taken again once the budget was free"
            time.sleep(0.1)
    finally:
        store.close()
        proc.terminate()


def test_memory_limit_answers_429_with_retry_after(store_url: str, tmp_path: Path):
    """While one request holds the whole memory budget, another is refused at once with 429 and Retry-After;
    once the first is gone, requests are taken again."""
    with budget_held(store_url, tmp_path) as running:
        refused = running.post(body([span()]))
        assert refused.status == 429 and refused.headers.get("retry-after")
        assert 'reason="memory_limit"' in metrics(running.port)


def test_memory_limit_answers_resource_exhausted_with_retry_info_on_grpc(store_url: str, tmp_path: Path):
    """The same on OTLP/gRPC: RESOURCE_EXHAUSTED with a RetryInfo detail (which makes it retryable in OTLP)."""
    with budget_held(store_url, tmp_path) as running, \
            grpc.insecure_channel(f"127.0.0.1:{running.proc.grpc_port}") as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
        with pytest.raises(grpc.RpcError) as err:
            stub.Export(request([span()]), timeout=60)
        assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        details = dict(err.value.trailing_metadata())["grpc-status-details-bin"]
        status = status_pb2.Status.FromString(details)
        retry = error_details_pb2.RetryInfo()
        assert status.details[0].Unpack(retry) and retry.retry_delay.seconds >= 1


def metrics(port: int) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()


@pytest.mark.slow
def test_peak_rss_stays_within_512_mib_under_16_concurrent_maximum_size_hostile_requests(tmp_path: Path):
    """16 senders each post a maximum-size body of tiny attributes at once (decoded naively: ~16x their size
    each): every answer is 200 or 429, the collector's peak RSS stays at most 512 MiB, and it keeps serving.
    Memory does not depend on the backend: measured once, on SQLite."""
    store_url = f"sqlite:///{tmp_path / 'rss.db'}"
    proc = start_collector(store_url, tmp_path)
    store = open_store(store_url)
    data, _, _ = many_attributes(attributes_for(MAX_BODY))
    assert len(data) <= MAX_BODY
    answers: list[int] = []
    try:
        running = Running(proc, store)

        def send() -> None:
            answers.append(running.post(data, PB, timeout=120).status)

        threads = [threading.Thread(target=send) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        assert len(answers) == 16 and set(answers) <= {200, 429} and 200 in answers
        assert peak_rss_mib(proc.proc.pid) <= 512
        assert running.good_request_is_stored()
    finally:
        store.close()
        proc.terminate()
