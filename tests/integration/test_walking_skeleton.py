"""The walking skeleton, end to end on real parts: an instrumented kafka-python producer and consumer (each its
own process, instrumented with one line) exchange records through the real broker; their spans go over OTLP/HTTP
to a running `eventlens collector` storing in SQLite; `eventlens graph export --format json` prints the
service → topic → service graph from what was stored.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from eventlens.demo.processes import ManagedProcess, port_open
from eventlens.local_kafka import free_port

RECORDS = 5

PRODUCER = """
import sys
from eventlens.instrumentation import instrument
instrument(service_name="checkout")
from kafka import KafkaProducer
producer = KafkaProducer(bootstrap_servers=sys.argv[1])
for i in range(int(sys.argv[3])):
    producer.send(sys.argv[2], key=f"order-{i}".encode(), value=b'{"order": %d}' % i).get(timeout=30)
producer.close()
"""

CONSUMER = """
import sys
from eventlens.instrumentation import instrument
instrument(service_name="billing")
from kafka import KafkaConsumer
consumer = KafkaConsumer(sys.argv[2], bootstrap_servers=sys.argv[1], group_id=sys.argv[3],
                         auto_offset_reset="earliest", consumer_timeout_ms=60000)
seen = 0
for record in consumer:
    seen += 1
    if seen == int(sys.argv[4]):
        break
consumer.commit()
consumer.close()
print("consumed", seen)
"""


def _run_instrumented(script: str, *args: str, collector_port: int, name: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector_port}",
           "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_METRICS_EXPORTER": "none",
           "OTEL_LOGS_EXPORTER": "none", "OTEL_SERVICE_NAME": name}
    return subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True,
                          timeout=180, check=False)


def _export(store: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "eventlens", "graph", "export", "--format", "json", "--window", "15m",
                          "--store", store], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout)


@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_instrumented_producer_and_consumer_appear_as_a_graph_in_the_export(kafka_bootstrap: str, topic_name: str,
                                                                             tmp_path: Path) -> None:
    """checkout → topic → billing (through billing's group) is exported from spans the collector stored."""
    store = f"sqlite:///{tmp_path / 'eventlens.db'}"
    http_port = free_port()
    collector = ManagedProcess("collector", [sys.executable, "-m", "eventlens", "collector", "--store", store,
                                             "--http-port", str(http_port), "--grpc-port", str(free_port())],
                               tmp_path / "collector.log").start()
    try:
        deadline = time.monotonic() + 90
        while not port_open(http_port):
            assert collector.alive, collector.log_tail()
            assert time.monotonic() < deadline, "collector did not open its OTLP/HTTP port"
            time.sleep(0.2)
        group = f"billing-{uuid.uuid4().hex[:6]}"
        produced = _run_instrumented(PRODUCER, kafka_bootstrap, topic_name, str(RECORDS), collector_port=http_port,
                                     name="checkout")
        assert produced.returncode == 0, produced.stderr
        consumed = _run_instrumented(CONSUMER, kafka_bootstrap, topic_name, group, str(RECORDS),
                                     collector_port=http_port, name="billing")
        assert consumed.returncode == 0, consumed.stderr
        assert f"consumed {RECORDS}" in consumed.stdout

        topic, group_node = f"topic:{topic_name}", f"group:{group}"
        wanted = {("service:checkout", topic), (topic, group_node), (group_node, "service:billing")}
        deadline = time.monotonic() + 60
        while True:  # the collector writes asynchronously: poll the export until the graph is complete
            graph = _export(store)
            edges = {(e["source"], e["target"]) for e in graph["edges"]}
            if wanted <= edges or time.monotonic() > deadline:
                break
            time.sleep(1.0)
    finally:
        collector.stop()

    nodes = {n["id"]: n for n in graph["nodes"]}
    assert wanted <= edges
    assert nodes["service:checkout"]["kind"] == "service"
    assert nodes[topic]["kind"] == "topic"
    assert nodes[group_node]["kind"] == "consumer_group"
    assert nodes["service:billing"]["kind"] == "service"
    into_billing = [e for e in graph["edges"] if e["target"] == "service:billing"]
    assert [e["messages"] for e in into_billing] == [RECORDS]
    assert all(e["topic"] == topic_name for e in into_billing)
