"""Session fixtures for the real services every tier uses: Kafka, PostgreSQL.

An external broker is used when `KAFKA_BOOTSTRAP_SERVERS` is set, an external PostgreSQL when
`EVENTLENS_TEST_POSTGRES_DSN` is set; otherwise the session starts its own on free loopback ports.
A service that cannot start fails the tests that need it (it is never a skip).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventlens.local_kafka import LocalKafka, free_port


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of a real Kafka broker for the whole session."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    broker = LocalKafka(workdir=tmp_path_factory.mktemp("kafka"), port=free_port())
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def topic_name(request: pytest.FixtureRequest) -> str:
    """A topic name unique to this test (the broker auto-creates it on first use)."""
    base = re.sub(r"[^A-Za-z0-9._-]", "-", request.node.name)[:80]
    return f"t-{base}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def make_topic(kafka_bootstrap: str, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Create topics with a given partition count and a name unique to this test: `make_topic(partitions=3)`."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    base = re.sub(r"[^A-Za-z0-9._-]", "-", request.node.name)[:60]

    def _make(partitions: int = 1, suffix: str = "") -> str:
        name = f"t-{base}{suffix}-{uuid.uuid4().hex[:8]}"
        admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        return name

    yield _make
    admin.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """DSN of the session's PostgreSQL server (maintenance database)."""
    external = os.environ.get("EVENTLENS_TEST_POSTGRES_DSN")
    if external:
        yield external
        return
    from _services import local_postgres

    with local_postgres() as pg:
        yield pg.dsn


@pytest.fixture
def postgres_dsn(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database for this test; dropped afterwards."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = postgres_server.rpartition("/")
    yield f"{base}/{name}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def artifacts_dir() -> Path:
    """Where tests leave artifacts for humans (screenshots): `test-artifacts/` at the repository root."""
    path = Path(__file__).resolve().parent.parent / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
