"""Slow, idle and oversized HTTP/gRPC clients against a real collector: they never lock others out."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from transport_harness import CollectorProcess, closed_within, collector, raw_http, spans_body

PROTOBUF = {"Content-Type": "application/x-protobuf"}


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProcess]:
    """A collector with the default connection cap (256) and one-second read and idle timeouts."""
    with collector(tmp_path_factory.mktemp("quick"), "--header-timeout", "1", "--body-timeout", "1",
                   "--idle-timeout", "1") as proc:
        yield proc


def _open(port: int, n: int, first_bytes: bytes = b"") -> list[socket.socket]:
    socks = []
    for _ in range(n):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if first_bytes:
            sock.sendall(first_bytes)
        socks.append(sock)
    return socks


def _everything_answers(url: str) -> None:
    assert requests.get(f"{url}/api/health", timeout=10).status_code == 200
    assert requests.get(f"{url}/metrics", timeout=10).status_code == 200
    assert requests.get(f"{url}/api/services", timeout=10).status_code == 200
    assert requests.post(f"{url}/v1/traces", data=spans_body(3), headers=PROTOBUF, timeout=10).status_code == 200


def test_three_hundred_idle_connections_do_not_lock_out_ingest_api_and_metrics(tmp_path: Path) -> None:
    """More silent sockets than the connection cap (256): every endpoint still answers 200, not 503."""
    with collector(tmp_path, "--max-connections", "256") as proc:
        socks = _open(proc.http_port or 0, 300)
        try:
            _everything_answers(proc.url)
        finally:
            for s in socks:
                s.close()


def test_three_hundred_half_sent_bodies_do_not_lock_out_ingest_api_and_metrics(tmp_path: Path) -> None:
    """More stalled uploads than the connection cap (256): every endpoint still answers 200, not 503."""
    head = (b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n"
            b"Content-Length: 100000\r\n\r\n" + b"\n\x00" * 5)
    with collector(tmp_path, "--max-connections", "256") as proc:
        socks = _open(proc.http_port or 0, 300, head)
        try:
            _everything_answers(proc.url)
        finally:
            for s in socks:
                s.close()


def _response(sock: socket.socket) -> bytes:
    """One whole HTTP response from `sock`: the head, then as many body bytes as its Content-Length says."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def test_an_exporters_kept_alive_connection_survives_a_flood_of_new_connections(tmp_path: Path) -> None:
    """At the cap, never-served sockets are dropped before a connection that completed a request."""
    request = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with collector(tmp_path, "--max-connections", "64") as proc, \
            socket.create_connection(("127.0.0.1", proc.http_port or 0), timeout=10) as served:
        served.sendall(request)
        assert _response(served).startswith(b"HTTP/1.1 200")
        socks = _open(proc.http_port or 0, 200)
        try:
            served.sendall(request)
            assert _response(served).startswith(b"HTTP/1.1 200")  # the same TCP connection still answers
        finally:
            for s in socks:
                s.close()


def test_a_64_mib_request_header_is_refused_with_431(quick: CollectorProcess) -> None:
    """A huge header is answered 431 after the first 64 KiB, long before 64 MiB is read."""
    with socket.create_connection(("127.0.0.1", quick.http_port or 0), timeout=10) as sock:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
        sent = 0
        chunk = b"a" * (1 << 20)
        try:
            while sent < 64 << 20:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the server closed the connection while we were still sending
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]


def test_an_ordinary_request_with_a_large_body_in_one_packet_is_not_taken_for_a_large_head(
        quick: CollectorProcess) -> None:
    """Headers plus a 1 MiB body arriving together: counted as a small head, stored (200)."""
    big = spans_body(6000)
    assert len(big) > 128 * 1024
    answer = requests.post(f"{quick.url}/v1/traces", data=big, headers=PROTOBUF, timeout=30)
    assert answer.status_code == 200


def test_a_silent_connection_is_closed_after_the_header_timeout(quick: CollectorProcess) -> None:
    """A connection that never sends a byte is closed once the header timeout (1 s) passes."""
    with socket.create_connection(("127.0.0.1", quick.http_port or 0), timeout=10) as sock:
        took = closed_within(sock, 5)
    assert took is not None and took < 3


def test_headers_sent_too_slowly_are_answered_408(quick: CollectorProcess) -> None:
    """Half a request head, then silence: 408 and the connection closed after the header timeout."""
    answer = raw_http(quick.http_port or 0, b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n", timeout=5)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]


def test_a_body_sent_too_slowly_is_answered_408(quick: CollectorProcess) -> None:
    """Headers, part of the body, then silence: 408 after the body timeout, and nothing stored."""
    answer = raw_http(quick.http_port or 0,
                      b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n"
                      b"Content-Length: 5000\r\n\r\n\n\x00", timeout=5)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]


def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(quick: CollectorProcess) -> None:
    """After a complete exchange the kept-alive connection is closed once it idles for the idle timeout."""
    with socket.create_connection(("127.0.0.1", quick.http_port or 0), timeout=10) as sock:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        took = closed_within(sock, 5)
    assert took is not None and took < 3


def test_a_silent_grpc_connection_is_closed_after_the_handshake_timeout(quick: CollectorProcess) -> None:
    """A TCP connection to the gRPC port that never speaks HTTP/2 is dropped after the header timeout."""
    with socket.create_connection(("127.0.0.1", quick.grpc_port or 0), timeout=10) as sock:
        started = time.monotonic()
        took = closed_within(sock, 6)
    assert took is not None and took < 4, time.monotonic() - started
