"""Real eventlens, Java-agent and kafkajs OTLP payloads (captured by the interop part) normalise to one model."""

from __future__ import annotations

from pathlib import Path

import pytest
from eventlens.collector.model import Operation, SpanKind, SpanRecord
from eventlens.collector.otlp import decode_traces

FIXTURES = Path(__file__).resolve().parents[2] / "interop" / "fixtures"


def kafka_spans(name: str) -> list[SpanRecord]:
    spans = decode_traces((FIXTURES / f"{name}.json").read_bytes(), "application/json")
    found = [s for s in spans if s.messaging.system == "kafka"]
    assert found, f"{name}: no Kafka span"
    return found


@pytest.mark.parametrize("name", ["eventlens_produce", "java_default_produce", "java_stable_produce",
                                  "kafkajs_produce"])
def test_produce_spans_are_sends_with_topic_and_key(name):
    """Every producer span is a send with its topic and the record key."""
    for s in kafka_spans(name):
        assert s.kind is SpanKind.PRODUCER and s.messaging.operation is Operation.SEND, s.name
        assert s.messaging.topic and s.messaging.topic in s.name
        assert s.messaging.key is not None and s.messaging.key.startswith("key-")


@pytest.mark.parametrize("name", ["eventlens_produce", "java_default_produce", "java_stable_produce"])
def test_acknowledged_sends_carry_partition_offset_and_client(name):
    """eventlens' and the Java agent's send spans (legacy and stable names) give partition, offset, client id."""
    for s in kafka_spans(name):
        assert s.messaging.partition == 0 and s.messaging.offset is not None and s.messaging.client_id


@pytest.mark.parametrize("name", ["eventlens_consume", "java_default_consume", "java_stable_consume",
                                  "kafkajs_consume"])
def test_process_spans_carry_the_record_coordinates(name):
    """Every per-record consumer span is a process span with topic, partition and offset, child of the send."""
    process = [s for s in kafka_spans(name) if s.kind is SpanKind.CONSUMER]
    assert process
    for s in process:
        assert s.messaging.operation is Operation.PROCESS, s.name
        assert s.messaging.topic and s.messaging.partition == 0 and s.messaging.offset is not None
        assert s.parent_span_id is not None


@pytest.mark.parametrize("name", ["eventlens_consume", "java_default_consume", "java_stable_consume"])
def test_process_spans_name_the_consumer_group(name):
    """eventlens and the Java agent record the consumer group (current and legacy keys)."""
    assert all(s.messaging.consumer_group for s in kafka_spans(name) if s.kind is SpanKind.CONSUMER)


def test_java_stable_poll_is_a_receive_batch_linking_its_records():
    """With OTEL_SEMCONV_STABILITY_OPT_IN=messaging the Java poll span is a receive with count and links."""
    polls = [s for s in kafka_spans("java_stable_consume") if s.messaging.operation_name == "poll"]
    assert polls
    for s in polls:
        assert s.messaging.operation is Operation.RECEIVE and s.messaging.batch_count == len(s.links) > 0


@pytest.mark.parametrize("name", ["eventlens_relay", "java_default_relay", "java_stable_relay", "kafkajs_relay"])
def test_relay_send_continues_the_trace_of_its_input(name):
    """A relay's send span is in the trace of the record it handles (a child within the process span's trace)."""
    spans = kafka_spans(name)
    sends = [s for s in spans if s.messaging.operation is Operation.SEND]
    processes = {s.trace_id for s in spans if s.messaging.operation is Operation.PROCESS}
    assert sends and all(s.parent_span_id is not None and s.trace_id in processes for s in sends)


def test_eventlens_commit_spans_settle_with_group_and_topic():
    """eventlens `commit {topic}` CLIENT spans are settle operations naming the group and topic."""
    commits = [s for s in kafka_spans("eventlens_consume") if s.messaging.operation_name == "commit"]
    assert commits and all(s.messaging.operation is Operation.SETTLE and s.messaging.consumer_group
                           and s.messaging.topic for s in commits)
