"""One flow across the three Kafka clients, end to end on real parts: a producer, a relay and a consumer, each its
own process on a different client and instrumented with the one line a user writes, exchange records through the
real broker; their spans go over OTLP/HTTP to a running `eventlens collector`. Every record's journey must be one
trace, and the exported topology must show every edge paired (no side missing).
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

from eventlens.collector.model import SpanKind
from eventlens.collector.storage.protocol import open_store
from eventlens.demo.processes import ManagedProcess, port_open
from eventlens.local_kafka import free_port

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(600)]

RECORDS = 4
_HEAD = "import sys\nfrom eventlens.instrumentation import instrument\ninstrument()\n"

PRODUCE = {
    "kafka-python": """
from kafka import KafkaProducer
p = KafkaProducer(bootstrap_servers=sys.argv[1])
for i in range(int(sys.argv[3])):
    p.send(sys.argv[2], key=b"k%d" % i, value=b'{"n": %d}' % i).get(timeout=30)
p.close()
""",
    "confluent-kafka": """
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1]})
for i in range(int(sys.argv[3])):
    p.produce(sys.argv[2], key=b"k%d" % i, value=b'{"n": %d}' % i)
assert p.flush(30) == 0
""",
    "aiokafka": """
import asyncio
from aiokafka import AIOKafkaProducer
async def main():
    p = AIOKafkaProducer(bootstrap_servers=sys.argv[1])
    await p.start()
    try:
        for i in range(int(sys.argv[3])):
            await p.send_and_wait(sys.argv[2], key=b"k%d" % i, value=b'{"n": %d}' % i)
    finally:
        await p.stop()
asyncio.run(main())
""",
}

# argv: bootstrap, topic in, group, count, topic out ("" = consume only). The handling of each record (where the
# relay sends on) happens where the client's users handle it: the iterator body, after `poll`, in `async for`.
CONSUME = {
    "kafka-python": """
from kafka import KafkaConsumer, KafkaProducer
c = KafkaConsumer(sys.argv[2], bootstrap_servers=sys.argv[1], group_id=sys.argv[3], auto_offset_reset="earliest",
                  consumer_timeout_ms=60000)
p = KafkaProducer(bootstrap_servers=sys.argv[1]) if sys.argv[5] else None
seen = 0
for record in c:
    if p is not None:
        p.send(sys.argv[5], key=record.key, value=record.value).get(timeout=30)
    seen += 1
    if seen == int(sys.argv[4]):
        break
c.commit()
c.close()
if p is not None:
    p.close()
print("consumed", seen)
""",
    "confluent-kafka": """
import time
from confluent_kafka import Consumer, Producer
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[3], "auto.offset.reset": "earliest"})
c.subscribe([sys.argv[2]])
p = Producer({"bootstrap.servers": sys.argv[1]}) if sys.argv[5] else None
seen, deadline = 0, time.monotonic() + 60
while seen < int(sys.argv[4]) and time.monotonic() < deadline:
    m = c.poll(0.5)
    if m is None or m.error() is not None:
        continue
    if p is not None:
        p.produce(sys.argv[5], key=m.key(), value=m.value())
    seen += 1
c.commit(asynchronous=False)
c.close()
if p is not None:
    assert p.flush(30) == 0
print("consumed", seen)
""",
    "aiokafka": """
import asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
async def main():
    c = AIOKafkaConsumer(sys.argv[2], bootstrap_servers=sys.argv[1], group_id=sys.argv[3],
                         auto_offset_reset="earliest")
    p = AIOKafkaProducer(bootstrap_servers=sys.argv[1]) if sys.argv[5] else None
    await c.start()
    if p is not None:
        await p.start()
    seen = 0
    try:
        async def loop():
            nonlocal seen
            async for record in c:
                if p is not None:
                    await p.send_and_wait(sys.argv[5], key=record.key, value=record.value)
                seen += 1
                if seen == int(sys.argv[4]):
                    break
        await asyncio.wait_for(loop(), 60)
        await c.commit()
    finally:
        await c.stop()
        if p is not None:
            await p.stop()
    print("consumed", seen)
asyncio.run(main())
""",
}


def _run(script: str, *args: str, port: int, name: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}", "OTEL_METRICS_EXPORTER": "none",
           "OTEL_LOGS_EXPORTER": "none", "OTEL_SERVICE_NAME": name}
    return subprocess.run([sys.executable, "-c", _HEAD + script, *args], env=env, capture_output=True, text=True,
                          timeout=180, check=False)


def _export(store: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "eventlens", "graph", "export", "--format", "json", "--window", "15m",
                          "--store", store], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout)


@pytest.mark.parametrize("chain", [("kafka-python", "confluent-kafka", "aiokafka"),
                                   ("aiokafka", "confluent-kafka", "kafka-python")],
                         ids="-to-".join)
def test_a_flow_across_the_three_clients_is_one_trace_with_every_edge_paired(
        chain: tuple[str, str, str], kafka_bootstrap: str, make_topic, tmp_path: Path) -> None:
    """first client → topic → relay on the second → topic → third: one trace per record, no partial edge."""
    first, middle, last = chain
    store_url = f"sqlite:///{tmp_path / 'eventlens.db'}"
    port = free_port()
    collector = ManagedProcess("collector", [sys.executable, "-m", "eventlens", "collector", "--store", store_url,
                                             "--http-port", str(port), "--grpc-port", str(free_port())],
                               tmp_path / "collector.log").start()
    inbound, outbound = make_topic(), make_topic()
    run = uuid.uuid4().hex[:6]
    try:
        deadline = time.monotonic() + 90
        while not port_open(port):
            assert collector.alive, collector.log_tail()
            assert time.monotonic() < deadline, "collector did not open its OTLP/HTTP port"
            time.sleep(0.2)
        produced = _run(PRODUCE[first], kafka_bootstrap, inbound, str(RECORDS), port=port, name="origin")
        assert produced.returncode == 0, produced.stderr
        relayed = _run(CONSUME[middle], kafka_bootstrap, inbound, f"relay-{run}", str(RECORDS), outbound, port=port,
                       name="relay")
        assert relayed.returncode == 0, relayed.stderr
        assert f"consumed {RECORDS}" in relayed.stdout
        consumed = _run(CONSUME[last], kafka_bootstrap, outbound, f"sink-{run}", str(RECORDS), "", port=port,
                        name="sink")
        assert consumed.returncode == 0, consumed.stderr
        assert f"consumed {RECORDS}" in consumed.stdout

        wanted = {("service:origin", f"topic:{inbound}"), (f"topic:{inbound}", f"group:relay-{run}"),
                  (f"group:relay-{run}", "service:relay"), ("service:relay", f"topic:{outbound}"),
                  (f"topic:{outbound}", f"group:sink-{run}"), (f"group:sink-{run}", "service:sink")}
        deadline = time.monotonic() + 60
        while True:  # the collector writes asynchronously: poll the export until the graph is complete
            graph = _export(store_url)
            edges = {(e["source"], e["target"]): e for e in graph["edges"]}
            if wanted <= set(edges) or time.monotonic() > deadline:
                break
            time.sleep(1.0)
    finally:
        collector.stop()

    assert wanted <= set(edges), collector.log_tail()
    assert [key for key in wanted if edges[key]["partial"]] == []
    store = open_store(store_url)
    try:
        sent = {s.trace_id for s in store.find_spans(topic=inbound, service="origin", limit=1000)
                if s.kind is SpanKind.PRODUCER}
        handled = {s.trace_id for s in store.find_spans(topic=outbound, service="sink", limit=1000)
                   if s.kind is SpanKind.CONSUMER}
    finally:
        store.close()
    assert len(sent) == RECORDS
    assert handled == sent
