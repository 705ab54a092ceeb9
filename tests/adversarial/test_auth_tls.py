"""Auth and TLS against a real collector: no token-less exposure, TLS and mutual TLS on HTTP and gRPC with real
OTLP exporters, and what stays open without the token."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace.export import SpanExportResult
from slowloris import make_spans
from transport_harness import Certs, CollectorProcess, collector, make_certs


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A throwaway CA with a server certificate for 127.0.0.1 and a client certificate."""
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def tls_collector(tmp_path_factory: pytest.TempPathFactory, certs: Certs) -> Iterator[CollectorProcess]:
    """A collector serving OTLP/HTTP, the API and OTLP/gRPC over TLS, with a token."""
    with collector(tmp_path_factory.mktemp("tls"), "--tls-cert", str(certs.server_cert), "--tls-key",
                   str(certs.server_key), "--token", "s3cret") as proc:
        yield proc


@pytest.fixture(scope="module")
def mtls_collector(tmp_path_factory: pytest.TempPathFactory, certs: Certs) -> Iterator[CollectorProcess]:
    """A collector requiring client certificates signed by the test CA."""
    with collector(tmp_path_factory.mktemp("mtls"), "--tls-cert", str(certs.server_cert), "--tls-key",
                   str(certs.server_key), "--tls-client-ca", str(certs.ca)) as proc:
        yield proc


@pytest.fixture(autouse=True)
def _requests_honours_the_given_ca(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override a session's CA file (the exporter sets one)."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "eventlens.cli", "collector", *args], capture_output=True,
                          text=True, timeout=60, check=False)


def test_a_non_loopback_bind_without_a_token_is_refused_and_says_why(tmp_path: Path) -> None:
    """--host 0.0.0.0 without a token exits 2 naming the token and --insecure-no-auth."""
    done = _run_cli("--host", "0.0.0.0", "--store", f"sqlite:///{tmp_path / 's.db'}", "--http-port", "0",
                    "--grpc-port", "0")
    assert done.returncode == 2
    assert "without a token" in done.stderr and "--insecure-no-auth" in done.stderr


def test_insecure_no_auth_allows_a_non_loopback_bind(tmp_path: Path) -> None:
    """With --insecure-no-auth the same command starts (and says where it listens)."""
    with collector(tmp_path, "--host", "0.0.0.0", "--insecure-no-auth") as proc:
        assert proc.http_port and proc.grpc_port


def test_otlp_http_exporter_sends_over_tls(tls_collector: CollectorProcess, certs: Certs) -> None:
    """The real OTLP/HTTP exporter, trusting the test CA, exports over https with the token."""
    exporter = HttpExporter(endpoint=f"https://127.0.0.1:{tls_collector.http_port}/v1/traces",
                            certificate_file=str(certs.ca), headers={"authorization": "Bearer s3cret"}, timeout=10)
    assert exporter.export(make_spans(5, "tls-http")) is SpanExportResult.SUCCESS
    found = requests.get(f"https://127.0.0.1:{tls_collector.http_port}/api/spans", params={"service": "tls-http"},
                         headers={"authorization": "Bearer s3cret"}, verify=str(certs.ca), timeout=10)
    assert len(found.json()["spans"]) == 5


def test_otlp_grpc_exporter_sends_over_tls(tls_collector: CollectorProcess, certs: Certs) -> None:
    """The real OTLP/gRPC exporter, trusting the test CA, exports over TLS with the token."""
    credentials = grpc.ssl_channel_credentials(root_certificates=certs.ca.read_bytes())
    exporter = GrpcExporter(endpoint=f"localhost:{tls_collector.grpc_port}", credentials=credentials,
                            headers={"authorization": "Bearer s3cret"}, timeout=10)
    assert exporter.export(make_spans(4, "tls-grpc")) is SpanExportResult.SUCCESS
    exporter.shutdown()


def test_plain_http_is_not_served_on_a_tls_port(tls_collector: CollectorProcess) -> None:
    """A cleartext request to the TLS port gets no HTTP answer."""
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{tls_collector.http_port}/api/health", timeout=5)


def test_health_and_metrics_stay_open_without_the_token_but_the_api_does_not(
        tls_collector: CollectorProcess, certs: Certs) -> None:
    """/api/health and /metrics answer without a token; /api/services and /v1/traces need it."""
    base = f"https://127.0.0.1:{tls_collector.http_port}"
    assert requests.get(f"{base}/api/health", verify=str(certs.ca), timeout=10).status_code == 200
    assert requests.get(f"{base}/metrics", verify=str(certs.ca), timeout=10).status_code == 200
    assert requests.get(f"{base}/api/services", verify=str(certs.ca), timeout=10).status_code == 401
    assert requests.post(f"{base}/v1/traces", data=b"", headers={"content-type": "application/x-protobuf"},
                         verify=str(certs.ca), timeout=10).status_code == 401


def test_mutual_tls_refuses_a_client_without_a_certificate(mtls_collector: CollectorProcess, certs: Certs) -> None:
    """With a client CA, a TLS client that shows no certificate gets no answer (TLS 1.3 ends it after the
    handshake, so the client sees an SSL error or a closed connection)."""
    with pytest.raises(requests.ConnectionError):
        requests.get(f"https://127.0.0.1:{mtls_collector.http_port}/api/health", verify=str(certs.ca), timeout=10)


def test_mutual_tls_accepts_the_otlp_exporters_with_a_client_certificate(
        mtls_collector: CollectorProcess, certs: Certs) -> None:
    """The HTTP and gRPC exporters with a certificate signed by the client CA export successfully."""
    http = HttpExporter(endpoint=f"https://127.0.0.1:{mtls_collector.http_port}/v1/traces",
                        certificate_file=str(certs.ca), client_certificate_file=str(certs.client_cert),
                        client_key_file=str(certs.client_key), timeout=10)
    assert http.export(make_spans(3, "mtls-http")) is SpanExportResult.SUCCESS
    credentials = grpc.ssl_channel_credentials(root_certificates=certs.ca.read_bytes(),
                                               private_key=certs.client_key.read_bytes(),
                                               certificate_chain=certs.client_cert.read_bytes())
    exporter = GrpcExporter(endpoint=f"localhost:{mtls_collector.grpc_port}", credentials=credentials, timeout=10)
    assert exporter.export(make_spans(3, "mtls-grpc")) is SpanExportResult.SUCCESS
    exporter.shutdown()


def test_mutual_tls_refuses_a_grpc_client_without_a_certificate(
        mtls_collector: CollectorProcess, certs: Certs) -> None:
    """The gRPC exporter without a client certificate cannot export (the handshake fails)."""
    credentials = grpc.ssl_channel_credentials(root_certificates=certs.ca.read_bytes())
    exporter = GrpcExporter(endpoint=f"localhost:{mtls_collector.grpc_port}", credentials=credentials, timeout=3)
    assert exporter.export(make_spans(1, "mtls-none")) is SpanExportResult.FAILURE
    exporter.shutdown()
