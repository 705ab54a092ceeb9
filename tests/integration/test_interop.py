"""Cross-language flows through the real broker into a running eventlens collector.

Java (kafka-clients + OpenTelemetry Java agent), Python (kafka-python + eventlens) and Node (kafkajs +
@opentelemetry/instrumentation-kafkajs) services each run as their own process and export OTLP/HTTP to
`eventlens collector` (SQLite store). Each flow sends two records producer → topic A → relay → topic B →
consumer; the assertions read the collector's store through the analysis query layer.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from interop.build import JavaBuild, NodeBuild, build_java, build_node
from interop.collector_proc import CollectorProcess, start_collector
from interop.services import Service, Shape, otel_env, python_command

from eventlens.collector.analysis.query import lineage, topology
from eventlens.collector.model import LineageNode, LineageNodeKind, SpanRecord
from eventlens.collector.storage.protocol import Store, open_store
from eventlens.instrumentation._consistent import randomness

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

N = 2
LANGUAGE = {"java": "java", "python": "python", "node": "nodejs"}
BAGGAGE = {"tenant": "acme", "note": "a b", "expr": "x+y"}


@dataclass(frozen=True, slots=True)
class FlowSpec:
    """producer → A → relay → B → consumer, by language; `java_shape` for whichever hop is Java."""

    languages: tuple[str, str, str]
    java_shape: Shape = Shape.JAVA_DEFAULT
    cloudevents: bool = False

    @property
    def id(self) -> str:
        ce = "-cloudevents" if self.cloudevents else ""
        return f"{'-'.join(self.languages)}{ce}[{self.java_shape.value}]"


# Java's default shape produces CloudEvents (binary mode); every assertion holds for that flow as well.
FLOWS = [
    FlowSpec(("java", "python", "node"), Shape.JAVA_DEFAULT, cloudevents=True),
    FlowSpec(("java", "python", "node"), Shape.JAVA_STABLE),
    FlowSpec(("node", "python", "java"), Shape.JAVA_DEFAULT),
    FlowSpec(("node", "python", "java"), Shape.JAVA_STABLE),
]


@dataclass
class Flow:
    """What one flow left behind: its topics, services, printed records and the collector's store."""

    spec: FlowSpec
    topics: tuple[str, str]
    services: tuple[str, str, str]
    out: dict[str, list[dict[str, Any]]]
    store: Store
    start_ns: int
    end_ns: int
    collector: CollectorProcess
    extra: dict[str, Any] = field(default_factory=dict)

    def first(self, role: str, mode: str, key: str = "key-0") -> dict[str, Any]:
        """The record a service printed for `key` in `mode` (produce, relay-in, relay-out, consume)."""
        return next(r for r in self.out[role] if r["mode"] == mode and r["key"] == key)


@pytest.fixture(scope="session")
def builds() -> tuple[JavaBuild, NodeBuild]:
    """Both foreign services, built once (cached across sessions by content hash)."""
    return build_java(), build_node()


def _command(lang: str, builds: tuple[JavaBuild, NodeBuild], *args: str) -> list[str]:
    java, node = builds
    if lang == "java":
        return java.command(*args)
    if lang == "node":
        return node.command(*args)
    return python_command(*args)


def _shape(lang: str, spec: FlowSpec) -> Shape:
    return {"java": spec.java_shape, "node": Shape.KAFKAJS}.get(lang, Shape.EVENTLENS)


def _create_topics(bootstrap: str, *names: str) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(n, num_partitions=1, replication_factor=1) for n in names])
    finally:
        admin.close()


def _service_spans(store: Store, service: str) -> list[SpanRecord]:
    return store.find_spans(service=service, limit=10_000)


def _wait_for(store: Store, want: dict[str, int], timeout_s: float = 60.0) -> None:
    """Poll the store until each service has at least the given number of spans."""
    deadline = time.monotonic() + timeout_s
    while True:
        have = {s: len(_service_spans(store, s)) for s in want}
        if all(have[s] >= n for s, n in want.items()):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"spans in the collector's store: {have}, expected at least {want}")
        time.sleep(0.2)


@pytest.fixture(scope="module", params=FLOWS, ids=[f.id for f in FLOWS])
def flow(
    request: pytest.FixtureRequest,
    kafka_bootstrap: str,
    builds: tuple[JavaBuild, NodeBuild],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Flow]:
    """Run one flow end to end against its own collector; yield what it left."""
    spec: FlowSpec = request.param
    run = uuid.uuid4().hex[:8]
    topics = (f"interop-a-{run}", f"interop-b-{run}")
    _create_topics(kafka_bootstrap, *topics)
    services = (f"{spec.languages[0]}-producer-{run}", f"{spec.languages[1]}-relay-{run}",
                f"{spec.languages[2]}-consumer-{run}")
    collector = start_collector(tmp_path_factory.mktemp("collector"))
    start_ns = time.time_ns()
    producer_args = ["produce", topics[0], str(N)]
    if spec.cloudevents:
        producer_args.append("--cloudevents")
    for k, v in BAGGAGE.items():
        producer_args += ["--baggage", f"{k}={v}"]
    roles = {
        "relay": (1, ["relay", topics[0], topics[1], f"g-relay-{run}", str(N)]),
        "consumer": (2, ["consume", topics[1], f"g-consume-{run}", str(N)]),
        "producer": (0, producer_args),
    }
    procs: dict[str, Service] = {}
    try:
        for role, (i, args) in roles.items():  # consumers first; they read from the earliest offset
            lang = spec.languages[i]
            env = otel_env(collector.endpoint, services[i], kafka_bootstrap, _shape(lang, spec))
            procs[role] = Service(f"{role} ({lang})", _command(lang, builds, *args), env).start()
        out = {role: procs[role].wait(timeout_s=240) for role in ("producer", "relay", "consumer")}
        store = open_store(collector.store_url)
        # java_stable consumers add one poll span per non-empty poll on top of one process span per record.
        _wait_for(store, {services[0]: N, services[1]: 2 * N, services[2]: N})
        yield Flow(spec, topics, services, out, store, start_ns, time.time_ns(), collector)
        store.close()
    finally:
        for p in procs.values():
            p.kill()
        collector.stop()


def _hop_spans(f: Flow, key: str = "key-0") -> list[SpanRecord]:
    """The four spans one record leaves: send A, process A, send B, process B (by service and topic)."""
    a, b = f.topics
    wanted = [(f.services[0], a, "send"), (f.services[1], a, "process"), (f.services[1], b, "send"),
              (f.services[2], b, "process")]
    found = []
    for service, topic, op in wanted:
        spans = [s for s in _service_spans(f.store, service)
                 if s.messaging.topic == topic and s.messaging.operation is not None
                 and s.messaging.operation.value == op and s.messaging.key == key]
        assert len(spans) == 1, f"{op} {topic} by {service} for {key}: {spans}"
        found.append(spans[0])
    return found


def test_services_continue_one_trace(flow: Flow) -> None:
    """Each service handles the first record inside the trace the producer started (what the services saw)."""
    sent = flow.first("producer", "produce")
    traceparents = [v for k, v in sent["headers"] if k == "traceparent"]
    assert len(traceparents) == 1
    trace_id = traceparents[0].split("-")[1]
    assert flow.first("relay", "relay-in")["trace_id"] == trace_id
    assert flow.first("consumer", "consume")["trace_id"] == trace_id


def test_foreign_producers_send_no_threshold_and_only_java_sets_the_random_flag(flow: Flow) -> None:
    """What consistent sampling reads from foreign producers (default samplers): no `ot=th`/`rv` in
    `tracestate`; the Java agent sets the W3C random flag (its trace id's low 56 bits are the randomness R that
    eventlens' consistent sampler uses), kafkajs does not (R is then presumed from the trace id all the same)."""
    sent = dict(flow.first("producer", "produce")["headers"])
    _, trace_id, _, flags = sent["traceparent"].split("-")
    assert "ot=" not in sent.get("tracestate", "")
    assert bool(int(flags, 16) & 0x02) is (flow.spec.languages[0] == "java")
    assert randomness(int(trace_id, 16), None) == int(trace_id[-14:], 16)


def test_collector_holds_one_trace_end_to_end(flow: Flow) -> None:
    """Send A, process A, send B and process B of the first record share one trace id in the store."""
    hops = _hop_spans(flow)
    assert len({s.trace_id for s in hops}) == 1


def test_baggage_reaches_every_hop(flow: Flow) -> None:
    """The producer's baggage is read by the relay and, re-sent by it, by the last consumer."""
    assert flow.first("relay", "relay-in")["baggage"] == BAGGAGE
    assert flow.first("consumer", "consume")["baggage"] == BAGGAGE


def _path(lin_nodes: dict[str, LineageNode], edges: set[tuple[str, str]], hops: list[SpanRecord]) -> list[LineageNode]:
    by_span = {(n.trace_id, n.span_id): n for n in lin_nodes.values()}
    path = []
    for span in hops:
        node = by_span.get((span.trace_id, span.span_id))
        assert node is not None, f"lineage lacks {span.name} by {span.service}"
        path.append(node)
    for src, dst in itertools.pairwise(path):
        assert (src.id, dst.id) in edges, f"no lineage edge {src.id} → {dst.id}"
    return path


def test_lineage_of_first_event_shows_every_hop_in_order(flow: Flow) -> None:
    """lineage(trace of the first record): event A → handling A → event B → handling B, services and languages."""
    hops = _hop_spans(flow)
    lin = lineage(flow.store, trace_id=hops[0].trace_id)
    nodes = {n.id: n for n in lin.nodes}
    path = _path(nodes, {(e.source, e.target) for e in lin.edges}, hops)
    assert [n.kind for n in path] == [LineageNodeKind.EVENT, LineageNodeKind.HANDLING, LineageNodeKind.EVENT,
                                      LineageNodeKind.HANDLING]
    assert [n.service for n in path] == [flow.services[0], flow.services[1], flow.services[1], flow.services[2]]
    assert [n.topic for n in path] == [flow.topics[0], flow.topics[0], flow.topics[1], flow.topics[1]]
    langs = [LANGUAGE[flow.spec.languages[i]] for i in (0, 1, 1, 2)]
    assert [n.language for n in path] == langs
    assert [n.start_ns for n in path] == sorted(n.start_ns for n in path)
    assert {n.service for n in lin.nodes} <= set(flow.services)
    assert len(lin.edges) == len({(e.source, e.target) for e in lin.edges}), "one edge per causal hop"


def test_topology_shows_services_and_topics_without_partial_edges(flow: Flow) -> None:
    """The topology holds the three services and two topics, both flows, and nothing partial."""
    topo = topology(flow.store, flow.start_ns - 60 * 10**9, flow.end_ns + 60 * 10**9)
    ids = {n.id for n in topo.nodes}
    assert {f"service:{s}" for s in flow.services} <= ids
    assert {f"topic:{t}" for t in flow.topics} <= ids
    assert [n.id for n in topo.nodes if n.partial] == []
    assert [(e.source, e.target) for e in topo.edges if e.partial] == []
    flows = {(f.producer, f.topic, f.consumer) for f in topo.flows}
    assert (flow.services[0], flow.topics[0], flow.services[1]) in flows
    assert (flow.services[1], flow.topics[1], flow.services[2]) in flows


CLOUDEVENTS_FLOW = next(f for f in FLOWS if f.cloudevents)


@pytest.mark.parametrize("flow", [CLOUDEVENTS_FLOW], ids=[CLOUDEVENTS_FLOW.id], indirect=True)
def test_cloudevents_event_id_finds_the_lineage(flow: Flow) -> None:
    """A Java CloudEvents binary-mode record's `ce_id` finds its lineage; the relay's handling carries id and type."""
    headers = dict(flow.first("producer", "produce")["headers"])
    lin = lineage(flow.store, event_id=headers["ce_id"])
    assert set(flow.services) <= {n.service for n in lin.nodes}
    handled = [n for n in lin.nodes if n.kind is LineageNodeKind.HANDLING and n.service == flow.services[1]]
    assert [(n.event_id, n.event_type) for n in handled] == [(headers["ce_id"], headers["ce_type"])]


# --- What eventlens writes, read by the Java agent (both shapes) and kafkajs -------------------------------

EVENTLENS_BAGGAGE = {"tenant": "acme", "note": "a b", "expr": "x+y", "path": "a/b;c", "name": "Zoë"}
READERS = (Shape.JAVA_DEFAULT, Shape.JAVA_STABLE, Shape.KAFKAJS)


@dataclass
class EventlensRecords:
    """What the readers printed for a record eventlens produced (`direct`) and for its relay (`relayed`)."""

    produced: dict[str, Any]
    relayed: dict[str, Any]
    direct: dict[Shape, dict[str, Any]]
    relayed_by_node: dict[str, Any]
    spans: list[tuple[dict[str, Any], Any]]


@pytest.fixture(scope="module")
def eventlens_records(kafka_bootstrap: str, builds: tuple[JavaBuild, NodeBuild]) -> Iterator[EventlensRecords]:
    """Python produces one record inside baggage to P and relays it to Q forwarding the incoming headers
    list (stale `traceparent` included); Java (both shapes) and Node read P, Node reads Q."""
    from interop.otlp_capture import OtlpCapture

    run = uuid.uuid4().hex[:8]
    p, q = f"interop-p-{run}", f"interop-q-{run}"
    _create_topics(kafka_bootstrap, p, q)
    capture = OtlpCapture().start()
    procs: list[Service] = []

    def start(name: str, cmd: list[str], shape: Shape) -> Service:
        procs.append(Service(name, cmd, otel_env(capture.endpoint, f"{name}-{run}", kafka_bootstrap, shape)).start())
        return procs[-1]

    try:
        readers = {
            shape: start(shape.value, _command("node" if shape is Shape.KAFKAJS else "java", builds, "consume", p,
                                               f"g-{shape.value}-{run}", "1"), shape)
            for shape in READERS
        }
        relay_reader = start("node-q", builds[1].command("consume", q, f"g-node-q-{run}", "1"), Shape.KAFKAJS)
        relay = start("python-relay", python_command("relay", p, q, f"g-relay-{run}", "1", "--copy-headers"),
                      Shape.EVENTLENS)
        baggage_args = [a for k, v in EVENTLENS_BAGGAGE.items() for a in ("--baggage", f"{k}={v}")]
        producer = start("python-producer", python_command("produce", p, "1", *baggage_args), Shape.EVENTLENS)
        produced = producer.wait()[0]
        relayed = next(r for r in relay.wait() if r["mode"] == "relay-out")
        direct = {shape: s.wait()[0] for shape, s in readers.items()}
        by_node = relay_reader.wait()[0]
        deadline = time.monotonic() + 30
        while len([s for _, s in capture.spans() if s.kind == 5]) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        yield EventlensRecords(produced, relayed, direct, by_node, capture.spans())
    finally:
        for s in procs:
            s.kill()
        capture.stop()


def _traceparents(record: dict[str, Any]) -> list[str]:
    return [v for k, v in record["headers"] if k.lower() == "traceparent"]


def test_eventlens_writes_one_lowercase_traceparent(eventlens_records: EventlensRecords) -> None:
    """A record eventlens sent carries exactly one `traceparent` and one `baggage`, both lowercase names."""
    names = [k for k, _ in eventlens_records.produced["headers"]]
    assert names.count("traceparent") == 1
    assert names.count("baggage") == 1
    assert all(k == k.lower() for k in names)


def test_eventlens_replaces_a_forwarded_traceparent(eventlens_records: EventlensRecords) -> None:
    """Relaying with the incoming headers list still sends one `traceparent`: the relay's own send span."""
    produced, relayed = _traceparents(eventlens_records.produced), _traceparents(eventlens_records.relayed)
    assert len(relayed) == 1
    assert relayed[0].split("-")[1] == produced[0].split("-")[1]
    assert relayed[0] != produced[0]


@pytest.mark.parametrize("reader", READERS, ids=[r.value for r in READERS])
def test_foreign_consumers_continue_the_eventlens_trace(eventlens_records: EventlensRecords, reader: Shape) -> None:
    """The Java agent (both shapes) and kafkajs handle an eventlens record inside its trace."""
    trace_id = _traceparents(eventlens_records.produced)[0].split("-")[1]
    assert eventlens_records.direct[reader]["trace_id"] == trace_id


@pytest.mark.parametrize("reader", READERS, ids=[r.value for r in READERS])
def test_foreign_consumers_read_the_eventlens_baggage(eventlens_records: EventlensRecords, reader: Shape) -> None:
    """Baggage values with a space, `+`, `/`, `;` and non-ASCII read back unchanged in Java and Node."""
    assert eventlens_records.direct[reader]["baggage"] == EVENTLENS_BAGGAGE


def test_node_continues_the_relay_send_not_the_forwarded_one(eventlens_records: EventlensRecords) -> None:
    """kafkajs reading the relayed record parents its process span on the relay's send span."""
    relay_send = _traceparents(eventlens_records.relayed)[0].split("-")
    node = eventlens_records.relayed_by_node
    assert node["trace_id"] == relay_send[1]
    process = [s for _, s in eventlens_records.spans if s.kind == 5 and s.span_id.hex() == node["span_id"]]
    assert [s.parent_span_id.hex() for s in process] == [relay_send[2]]
