"""What the Java agent and kafkajs read from the trace headers other clients write (real broker, real readers).

Records with hand-written headers go through the broker to the Java service (agent default shape) and the
Node service; each prints the trace id current while it handles a record and the baggage it reads. These
pin the divergences docs/interop.md lists, from which eventlens' writing rules follow.
"""

from __future__ import annotations

from typing import Any

import pytest
from kafka import KafkaProducer
from opentelemetry.instrumentation.utils import suppress_instrumentation

from interop.build import JavaBuild, NodeBuild
from interop.otlp_capture import OtlpCapture
from interop.services import Service, Shape, otel_env

pytestmark = pytest.mark.kafka

T = "4bf92f3577b34da6a3ce929d0e0e4736"
S = "00f067aa0ba902b7"
T2 = "0af7651916cd43dd8448eb211c80319c"
S2 = "b7ad6b7169203331"
TP = f"00-{T}-{S}-01"

VECTORS: dict[str, list[tuple[str, str]]] = {
    "canonical": [("traceparent", TP)],
    "random-flag": [("traceparent", f"00-{T}-{S}-03")],
    "duplicate": [("traceparent", TP), ("traceparent", f"00-{T2}-{S2}-01")],
    "mixed-case": [("Traceparent", TP)],
    "baggage-percent": [("traceparent", TP), ("baggage", "tenant=acme,user%20id=a%2Fb")],
    "baggage-plus": [("traceparent", TP), ("baggage", "k=a+b")],
    "baggage-pct20": [("traceparent", TP), ("baggage", "k=a%20b,p=a%2Bb")],
    "baggage-props": [("traceparent", TP), ("baggage", "k=v;prop=1")],
}


@pytest.fixture(scope="module")
def seen(
    kafka_bootstrap: str, java_build: JavaBuild, node_build: NodeBuild, otlp_capture: OtlpCapture
) -> dict[str, dict[str, dict[str, Any]]]:
    """Send every vector once; return {reader: {vector: what the reader printed for it}}."""
    import uuid

    topic = f"t-wire-readers-{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    with suppress_instrumentation():  # the headers exactly as written, even if a test left kafka-python traced
        for name, headers in VECTORS.items():
            producer.send(topic, key=name.encode(), value=b"{}", headers=[(k, v.encode()) for k, v in headers])
        producer.flush()
    producer.close()
    n = str(len(VECTORS))
    readers = {
        "java": Service(
            "java",
            java_build.command("consume", topic, f"g-java-{topic}", n),
            otel_env(otlp_capture.endpoint, "java-reader", kafka_bootstrap, Shape.JAVA_DEFAULT),
        ),
        "node": Service(
            "node",
            node_build.command("consume", topic, f"g-node-{topic}", n),
            otel_env(otlp_capture.endpoint, "node-reader", kafka_bootstrap, Shape.KAFKAJS),
        ),
    }
    for service in readers.values():
        service.start()
    try:
        return {name: {rec["key"]: rec for rec in service.wait()} for name, service in readers.items()}
    finally:
        for service in readers.values():
            service.kill()


@pytest.mark.parametrize("reader", ["java", "node"])
@pytest.mark.parametrize("vector", ["canonical", "random-flag"])
def test_canonical_traceparent_is_continued(seen: dict[str, Any], reader: str, vector: str) -> None:
    """A lowercase `traceparent` with flags 01 or 03 continues the trace in both readers."""
    assert seen[reader][vector]["trace_id"] == T


def test_duplicate_traceparent_java_takes_the_last(seen: dict[str, Any]) -> None:
    """With two `traceparent` headers the Java agent continues the last one (`lastHeader`)."""
    assert seen["java"]["duplicate"]["trace_id"] == T2


def test_duplicate_traceparent_node_continues_neither(seen: dict[str, Any]) -> None:
    """kafkajs delivers duplicate keys as an array, joined with `,`: invalid, so a new trace starts."""
    assert seen["node"]["duplicate"]["trace_id"] not in (T, T2, None)


def test_mixed_case_header_name_is_ignored_by_java(seen: dict[str, Any]) -> None:
    """`Traceparent` is not `traceparent` for the Java agent (case-sensitive): a new trace starts."""
    assert seen["java"]["mixed-case"]["trace_id"] not in (T, None)


def test_mixed_case_header_name_is_matched_by_node(seen: dict[str, Any]) -> None:
    """kafkajs' getter also matches header names case-insensitively: the trace continues."""
    assert seen["node"]["mixed-case"]["trace_id"] == T


@pytest.mark.parametrize("reader", ["java", "node"])
def test_percent_encoded_baggage_reads_the_same(seen: dict[str, Any], reader: str) -> None:
    """Percent-encoded values (`%20`, `%2F`) decode identically; keys are taken as written."""
    assert seen[reader]["baggage-percent"]["baggage"]["tenant"] == "acme"
    assert seen[reader]["baggage-pct20"]["baggage"] == {"k": "a b", "p": "a+b"}


@pytest.mark.parametrize("reader", ["java", "node"])
def test_plus_in_baggage_value_stays_a_plus(seen: dict[str, Any], reader: str) -> None:
    """Neither reader turns `+` into a space (Python's `unquote_plus` does): a space must be written `%20`."""
    assert seen[reader]["baggage-plus"]["baggage"] == {"k": "a+b"}


@pytest.mark.parametrize("reader", ["java", "node"])
def test_baggage_properties_are_not_part_of_the_value(seen: dict[str, Any], reader: str) -> None:
    """`k=v;prop=1` reads as value `v` (the property is metadata) in both readers."""
    assert seen[reader]["baggage-props"]["baggage"] == {"k": "v"}


def test_baggage_keys_are_decoded_by_node_but_not_by_java(seen: dict[str, Any]) -> None:
    """`user%20id` stays `user%20id` in Java and becomes `user id` in Node: only token keys read the same."""
    assert "user%20id" in seen["java"]["baggage-percent"]["baggage"]
    assert "user id" in seen["node"]["baggage-percent"]["baggage"]
