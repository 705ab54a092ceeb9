"""Unit tests of small pure helpers and the not-instrumented fallbacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kafka.consumer.fetcher import ConsumerRecord
from opentelemetry.trace import INVALID_SPAN

from eventlens.instrumentation import processing
from eventlens.instrumentation._runtime import error_type, key_text, server_of
from eventlens.instrumentation.cli import autoinit_dir, child_environment


def test_processing_without_instrumentation_is_a_no_op():
    """`processing(record)` yields the invalid span when kafka-python is not instrumented."""
    record = ConsumerRecord("t", 0, None, 0, 0, 0, None, b"v", [], None, -1, 1, -1)
    with processing(record) as span:
        assert span is INVALID_SPAN


def test_key_text_caps_and_decodes():
    """Keys become strings capped at 256 characters; undecodable bytes are replaced, None stays None."""
    assert key_text(None) is None
    assert key_text(b"\xffk") == "\ufffdk"
    assert key_text("x" * 1000) == "x" * 256
    assert key_text(42) == "42"


def test_server_of_reads_first_bootstrap_server():
    """server.address/port come from the first bootstrap server in any accepted form."""
    assert server_of({"bootstrap_servers": "h1:9093,h2:9094"}) == ("h1", 9093)
    assert server_of({"bootstrap_servers": ["[::1]:9092"]}) == ("::1", 9092)
    assert server_of({"bootstrap_servers": "host"}) == ("host", None)
    assert server_of({}) == (None, None)


def test_error_type_prefers_kafka_error_names():
    """Broker errors use their upper-case Kafka name, other exceptions their class name."""
    from kafka.errors import UnknownTopicOrPartitionError

    assert error_type(UnknownTopicOrPartitionError()) == "UNKNOWN_TOPIC_OR_PARTITION"
    assert error_type(ValueError("x")) == "ValueError"


def test_child_environment_puts_sitecustomize_first():
    """The child's PYTHONPATH starts with eventlens' sitecustomize directory and keeps the rest."""
    env = child_environment({"PYTHONPATH": "/a"}, "svc", "http://c:4318")
    assert env["PYTHONPATH"].split(":") == [str(autoinit_dir()), "/a"]
    assert env["OTEL_SERVICE_NAME"] == "svc"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://c:4318"
    assert (autoinit_dir() / "sitecustomize.py").is_file()


def test_cli_without_command_is_a_usage_error():
    """`eventlens instrument` with no program exits 2 with a usage line."""
    tool = Path(sys.executable).parent / "eventlens"
    done = subprocess.run([str(tool), "instrument"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert "usage" in done.stderr
