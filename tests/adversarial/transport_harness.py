"""Shared by the transport, auth, leaks and queries tests: a real collector process, raw sockets, OTLP bodies,
and throwaway TLS certificates made with `openssl`."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration" / "ingest"))
sys.path.insert(0, str(HERE.parent / "collector" / "ingest"))

from collector_proc import CollectorProcess  # noqa: E402
from otlp_builders import body, span  # noqa: E402

__all__ = ["Certs", "CollectorProcess", "body", "collector", "make_certs", "raw_http", "span", "spans_body"]


@contextlib.contextmanager
def collector(tmp_path: Path, *args: str, store: str | None = None,
              env: dict[str, str] | None = None) -> Iterator[CollectorProcess]:
    """A collector child process on free ports (SQLite in `tmp_path` unless `store` is given)."""
    url = store or f"sqlite:///{tmp_path / 'store.db'}"
    proc = CollectorProcess("--store", url, "--http-port", "0", "--grpc-port", "0", "--host", "127.0.0.1", *args,
                            log=tmp_path / "collector.log", env={**os.environ, **(env or {})})
    try:
        yield proc.wait_ready()
    finally:
        proc.terminate()


def spans_body(n: int, *, trace_id: bytes | None = None, service: str = "svc") -> bytes:
    """An OTLP protobuf trace request of `n` spans (one trace when `trace_id` is given)."""
    tid = trace_id or os.urandom(16)
    return body([span(f"op{i}", trace_id=tid, start=1_700_000_000_000_000_000 + i) for i in range(n)], service)


def raw_http(port: int, request: bytes, *, timeout: float = 10.0) -> bytes:
    """Send raw bytes, return everything the server answers until it closes or `timeout` passes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := sock.recv(65536):
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks) and b"connection: close" not in b"".join(chunks).lower():
                    break
    return b"".join(chunks)


def closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closes `sock` (EOF or reset), None when still open after `seconds`."""
    start = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - start < seconds:
        try:
            if sock.recv(65536) == b"":
                return time.monotonic() - start
        except TimeoutError:
            continue
        except OSError:
            return time.monotonic() - start
    return None


@dataclass(frozen=True)
class Certs:
    """A CA, a server certificate for 127.0.0.1/localhost signed by it, and a client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_certs(folder: Path) -> Certs:
    """Generate a throwaway CA, server and client certificate with `openssl` (valid one day)."""
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
        "-subj", "/CN=eventlens test CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-addext", "subjectKeyIdentifier=hash")
    common = ("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
              "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n")
    (folder / "server.ext").write_text(common + "extendedKeyUsage=serverAuth\n"
                                       "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    (folder / "client.ext").write_text(common + "extendedKeyUsage=clientAuth\n")
    for name, cn in (("server", "localhost"), ("client", "eventlens test client")):
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj",
            f"/CN={cn}")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "1", "-extfile", f"{name}.ext")
    return Certs(folder / "ca.pem", folder / "server.pem", folder / "server.key", folder / "client.pem",
                 folder / "client.key")
