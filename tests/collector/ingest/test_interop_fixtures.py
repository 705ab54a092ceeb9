"""Real eventlens, Java-agent and kafkajs OTLP payloads (captured by the interop part) normalise to one model."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventlens.collector import rollup
from eventlens.collector.analysis.lineage import causal_graph, is_handling
from eventlens.collector.analysis.topology import build_topology
from eventlens.collector.model import LineageNodeKind, Operation, SpanKind, SpanRecord
from eventlens.collector.otlp import decode_traces

FIXTURES = Path(__file__).resolve().parents[2] / "interop" / "fixtures"
T0 = 0


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


# -- the upstream confluent-kafka and aiokafka instrumentations (0.66b1), captured by capture_upstream_fixtures.py --

UPSTREAM = ("confluent", "aiokafka")


def all_spans(name: str) -> list[SpanRecord]:
    return decode_traces((FIXTURES / f"{name}.json").read_bytes(), "application/json")


def upstream_chain(client: str) -> list[SpanRecord]:
    """Produce, relay and consume spans of one client, as a collector would hold them."""
    return [s for mode in ("produce", "relay", "consume") for s in all_spans(f"upstream_{client}_{mode}")]


@pytest.mark.parametrize("client", UPSTREAM)
def test_upstream_send_spans_are_sends_with_their_topic(client):
    """`{topic} send` PRODUCER spans (`messaging.operation` publish / `.type` publish) are sends with the topic."""
    sends = kafka_spans(f"upstream_{client}_produce")
    assert len(sends) == 2
    for s in sends:
        assert s.kind is SpanKind.PRODUCER and s.messaging.operation is Operation.SEND
        assert s.messaging.topic and s.name == f"{s.messaging.topic} send"
        assert s.messaging.server_address


def test_upstream_aiokafka_sends_carry_partition_key_and_client():
    """aiokafka's send spans name the partition (string id), the key and the client id."""
    for s in kafka_spans("upstream_aiokafka_produce"):
        assert s.messaging.partition == 0 and s.messaging.key.startswith("key-")
        assert s.messaging.client_id == "upstream-aiokafka"


def test_upstream_confluent_poll_process_span_links_its_record_and_gives_its_offset():
    """confluent `poll()`: a `{topic} process` CONSUMER span, child of an empty `recv` span, linking the producer
    span; the offset comes from `messaging.message.id` (`{topic}.{partition}.{offset}`)."""
    process = [s for s in kafka_spans("upstream_confluent_relay") if s.kind is SpanKind.CONSUMER]
    assert sorted(s.messaging.offset for s in process) == [0, 1]
    for s in process:
        assert s.messaging.operation is Operation.PROCESS and s.messaging.partition == 0
        assert len(s.links) == 1 and s.messaging.consumer_group is None


def test_upstream_confluent_recv_spans_are_not_messaging_spans():
    """The empty `recv` spans confluent's poll wrapper starts carry no messaging attribute: no topic, no count."""
    recv = [s for s in all_spans("upstream_confluent_relay") if s.name == "recv"]
    assert len(recv) == 2 and all(s.messaging.topic is None and s.messaging.system is None for s in recv)


def test_upstream_confluent_recv_spans_are_neither_counted_nor_handlings():
    """The empty `recv` spans stand for no message: no rollup row, no process emitter, no lineage node."""
    recv = [s for s in upstream_chain("confluent") if s.name == "recv"]
    planned = rollup.plan(recv, lambda _t, _s: None, set(), T0)
    assert recv and not planned.edges and not planned.new_emitters and not planned.pending
    assert not [s for s in recv if is_handling(s)]


def test_upstream_confluent_consume_is_one_batch_process_span_linking_every_record():
    """confluent `consume()`: one parentless-by-producer process span with a link per record and no count."""
    [batch] = [s for s in kafka_spans("upstream_confluent_consume") if s.kind is SpanKind.CONSUMER]
    assert batch.messaging.operation is Operation.PROCESS and len(batch.links) == 2
    assert batch.messaging.batch_count is None and batch.messaging.topic


def test_upstream_aiokafka_record_spans_are_receives_parented_on_the_send():
    """aiokafka `getone()`/`getmany()` record spans: `{topic} receive` with type receive, group, partition, offset,
    parented on the producer span."""
    records = [s for s in kafka_spans("upstream_aiokafka_relay") if s.kind is SpanKind.CONSUMER]
    sends = {s.span_id for s in kafka_spans("upstream_aiokafka_produce")}
    assert len(records) == 2
    for s in records:
        assert s.messaging.operation is Operation.RECEIVE and s.messaging.consumer_group
        assert s.messaging.partition == 0 and s.messaging.offset is not None and s.parent_span_id in sends


def test_upstream_aiokafka_getmany_envelope_has_no_topic():
    """aiokafka `getmany()`'s envelope span (`{topics} receive`, batch count, no destination) takes no topic from
    its name; its per-topic child keeps the topic and links the record spans."""
    spans = kafka_spans("upstream_aiokafka_consume")
    batches = [s for s in spans if s.messaging.batch_count is not None]
    envelope = [s for s in batches if not s.parent_span_id]
    per_topic = [s for s in batches if s.parent_span_id]
    assert len(envelope) == 1 and envelope[0].messaging.topic is None
    assert len(per_topic) == 1 and per_topic[0].messaging.topic and len(per_topic[0].links) == 2


@pytest.mark.parametrize("client", UPSTREAM)
def test_upstream_chain_topology_pairs_every_edge(client):
    """Produce → relay → consume of one client makes two complete flows of two messages each, none partial."""
    spans = upstream_chain(client)
    topo = build_topology(rollup.plan(spans, lambda _t, _s: None, set(), T0).edge_rollups(), 0, 2**62)
    consumed = {(f.producer, f.topic, f.consumer): f.messages for f in topo.flows if f.consumer is not None}
    a = kafka_spans(f"upstream_{client}_produce")[0].messaging.topic
    b = next(s.messaging.topic for s in kafka_spans(f"upstream_{client}_relay") if s.kind is SpanKind.PRODUCER)
    assert consumed == {(f"{client}-producer", a, f"{client}-relay"): 2,
                        (f"{client}-relay", b, f"{client}-consumer"): 2}
    assert not [f for f in topo.flows if f.partial]
    assert not [e for e in topo.edges if e.partial]


@pytest.mark.parametrize("client", UPSTREAM)
def test_upstream_chain_lineage_agrees_with_topology(client):
    """Lineage's event → handling edges per (producer, topic, consumer) equal the topology's flows."""
    spans = upstream_chain(client)
    topo = build_topology(rollup.plan(spans, lambda _t, _s: None, set(), T0).edge_rollups(), 0, 2**62)
    flows = {(f.producer, f.topic, f.consumer_group, f.consumer): f.messages for f in topo.flows if f.consumer}
    graph = causal_graph(spans)
    edges: dict[tuple[str | None, str, str | None, str | None], int] = {}
    for u, v in graph.edges():
        src, dst = graph.nodes[u]["data"], graph.nodes[v]["data"]
        if src.kind is LineageNodeKind.EVENT and dst.kind is LineageNodeKind.HANDLING:
            key = (src.service, src.topic or "", dst.consumer_group, dst.service)
            edges[key] = edges.get(key, 0) + 1
    assert edges == flows
