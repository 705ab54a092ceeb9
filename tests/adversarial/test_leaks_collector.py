"""No leaks from a real collector: the OpenAPI document behind the token, store errors answered with an id only,
store passwords never logged, and a Host allow-list against DNS rebinding."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest
import requests
from transport_harness import collector, spans_body

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def test_the_openapi_document_needs_the_token(tmp_path: Path) -> None:
    """/api/openapi.json answers 401 without the token and 200 with it."""
    with collector(tmp_path, "--token", "s3cret") as proc:
        assert requests.get(f"{proc.url}/api/openapi.json", timeout=10).status_code == 401
        ok = requests.get(f"{proc.url}/api/openapi.json", headers={"authorization": "Bearer s3cret"}, timeout=10)
        assert ok.status_code == 200 and ok.json()["openapi"].startswith("3.")


def test_a_foreign_host_header_is_refused_and_loopback_names_are_answered(tmp_path: Path) -> None:
    """A DNS-rebound request (Host: attacker's name) gets 400; localhost and 127.0.0.1 with a port get 200."""
    with collector(tmp_path) as proc:
        port = proc.http_port
        for path in ("/api/services", "/api/health", "/metrics"):
            assert requests.get(f"{proc.url}{path}", headers={"Host": f"rebind.example:{port}"},
                                timeout=10).status_code == 400
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", "localhost"):
            assert requests.get(f"{proc.url}/api/services", headers={"Host": host}, timeout=10).status_code == 200


def test_allowed_hosts_admits_a_configured_name(tmp_path: Path) -> None:
    """--allowed-hosts replaces the default list."""
    with collector(tmp_path, "--allowed-hosts", "collector.internal") as proc:
        assert requests.get(f"{proc.url}/api/services", headers={"Host": "collector.internal:1"},
                            timeout=10).status_code == 200
        assert requests.get(f"{proc.url}/api/services", timeout=10).status_code == 400


@pytest.mark.postgres
def test_store_errors_are_answered_with_an_id_and_never_the_postgresql_host(
        tmp_path: Path, postgres_server: str, postgres_dsn: str) -> None:
    """With the database gone, /api, /api/health and ingest answer a generic message with an error id; the id
    and the real error are in the collector's log; the store's host, port and database name are not answered."""
    secret_dsn = postgres_dsn.replace("postgres@", "postgres:pw-s3cret@", 1)
    database = postgres_dsn.rsplit("/", 1)[1]
    with collector(tmp_path, store=secret_dsn) as proc:
        assert requests.post(f"{proc.url}/v1/traces", data=spans_body(2), headers=PROTOBUF,
                             timeout=10).status_code == 200
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
        answers = [requests.get(f"{proc.url}{path}", timeout=30) for path in
                   ("/api/health", "/api/services", "/api/spans?service=svc", "/api/topology", "/api/lag")]
        answers.append(requests.post(f"{proc.url}/v1/traces", data=spans_body(2), headers=PROTOBUF,
                                     timeout=30))
        time.sleep(0.5)
        log = proc.log_path.read_text(errors="replace")
    port = postgres_dsn.rsplit(":", maxsplit=1)[-1].split("/", maxsplit=1)[0]
    for answer in answers:
        assert answer.status_code in (500, 503), (answer.url, answer.status_code)
        text = answer.text
        assert "127.0.0.1" not in text and port not in text and database not in text, (answer.url, text)
    for answer in answers[:-1]:
        error_id = answer.json()["error_id"]
        assert f"error id {error_id}" in log
    assert "pw-s3cret" not in log
    assert "postgres:***@" in log
