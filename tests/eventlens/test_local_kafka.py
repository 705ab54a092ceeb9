"""The local broker the whole suite runs on: it starts, carries records, and says what is wrong."""

from __future__ import annotations

import pytest
from kafka import KafkaConsumer, KafkaProducer

from eventlens import local_kafka


@pytest.mark.kafka
def test_broker_carries_a_record_with_headers_end_to_end(kafka_bootstrap: str, topic_name: str) -> None:
    """A record sent with headers comes back from the broker with the same value and header bytes."""
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    producer.send(topic_name, b"hello", headers=[("h", b"\x00\xff")]).get(timeout=30)
    producer.close()
    consumer = KafkaConsumer(topic_name, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=20000)
    record = next(iter(consumer))
    consumer.close()
    assert (record.value, record.headers) == (b"hello", [("h", b"\x00\xff")])


def test_missing_java_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Without Java on PATH, resolving the broker fails with a message that names what to install."""
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(local_kafka.LocalKafkaError, match="java"):
        local_kafka.resolve_jars(tmp_path / "home")


def test_config_listens_on_loopback_only(tmp_path) -> None:
    """The generated broker configuration binds 127.0.0.1 on the ports it is given."""
    paths = local_kafka.BrokerPaths(tmp_path)
    local_kafka.write_config(paths, port=19092, controller_port=19093)
    text = paths.config.read_text()
    assert "listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093" in text


@pytest.mark.postgres
def test_postgres_fixture_gives_an_empty_database(postgres_dsn: str) -> None:
    """Each test gets its own empty database on the session's PostgreSQL."""
    import psycopg

    with psycopg.connect(postgres_dsn) as conn:
        tables = conn.execute("select count(*) from information_schema.tables where table_schema='public'")
        assert tables.fetchone() == (0,)


def test_cluster_ids_never_start_with_a_dash() -> None:
    """A cluster id starting with '-' would be read as an option by the storage tool, so none does."""
    ids = [local_kafka.new_cluster_id() for _ in range(2000)]
    assert all(not cid.startswith("-") and len(cid) == 22 for cid in ids)
