"""The demo shop, run for real: `eventlens demo` for about a minute at a high rate against the session broker,
then every pattern it promises is looked for in the stored spans and in the analyses (lineage, topology,
coupling, lag, schemas).

One run (module fixture) serves every test; each test checks one pattern.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from eventlens.collector.analysis import query
from eventlens.collector.model import LineageRelation, SpanKind
from eventlens.collector.storage.protocol import Store, open_store
from eventlens.demo.events import INVENTORY_RESERVED, ORDER_PLACED, STOCK_LEVEL
from eventlens.demo.services import SERVICES
from eventlens.demo.topics import Topics
from eventlens.instrumentation.attributes import DEAD_LETTER, DEAD_LETTER_REASON, RETRY_ATTEMPT
from eventlens.local_kafka import free_port

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(900)]

DURATION_S = 50
RATE = 12


@dataclass(frozen=True)
class DemoRun:
    """What one demo run left behind."""

    store: Store
    workdir: Path
    topics: Topics
    output: str
    returncode: int
    start_ns: int
    end_ns: int


@pytest.fixture(scope="module")
def demo(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    """Run the demo (no dashboard) to its end: traffic, drain, clean stop."""
    workdir = tmp_path_factory.mktemp("demo")
    prefix = f"it{uuid.uuid4().hex[:6]}."
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
    start_ns = time.time_ns()
    result = subprocess.run(
        [sys.executable, "-m", "eventlens", "demo", "--no-dashboard", "--duration", str(DURATION_S),
         "--rate", str(RATE), "--workdir", str(workdir), "--prefix", prefix, "--schema-switch", "15",
         "--burst-every", "20", "--lag-interval", "2", "--drain-timeout", "240", "--otlp-http-port", str(free_port()),
         "--otlp-grpc-port", str(free_port())],
        env=env, capture_output=True, text=True, timeout=600, check=False)
    store = open_store(f"sqlite:///{workdir / 'eventlens.db'}")
    try:
        yield DemoRun(store, workdir, Topics(prefix), result.stdout + result.stderr, result.returncode, start_ns - 60 *
                      10**9, time.time_ns() + 60 * 10**9)
    finally:
        store.close()


def _spans(run: DemoRun, topic: str, service: str | None = None):
    return run.store.find_spans(topic=topic, service=service, limit=100_000)


def test_the_demo_runs_drains_and_stops_cleanly(demo: DemoRun) -> None:
    """The run exits 0 after its traffic, having waited for every consumer to catch up."""
    assert demo.returncode == 0, demo.output
    assert "caught up in" in demo.output
    assert "storefront redeployed" in demo.output
    assert "demo stopped" in demo.output


def test_no_process_outlives_the_demo(demo: DemoRun) -> None:
    """No child (collector, service) of the run is left: none has the work folder on its command line."""
    leftovers = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(demo.workdir) in text:
            leftovers.append(text)
    assert leftovers == []


def test_every_service_reports_spans(demo: DemoRun) -> None:
    """All eight services exported spans to the collector."""
    assert set(SERVICES) <= set(demo.store.services())


def test_orders_are_cloudevents_seen_by_every_consumer(demo: DemoRun) -> None:
    """payments, inventory and order-view process order.placed with its CloudEvent id and type."""
    process = [s for s in _spans(demo, demo.topics.orders) if s.kind is SpanKind.CONSUMER]
    by_service = Counter(s.service for s in process)
    assert {"payments", "inventory", "order-view"} <= set(by_service)
    assert all(s.messaging.event_type == ORDER_PLACED for s in process)
    assert all(s.messaging.event_id for s in process)


def test_the_outbox_hop_is_part_of_an_orders_lineage(demo: DemoRun) -> None:
    """From a dead-lettered payment back to its order: the relay's send is an OUTBOX step of the same lineage."""
    [dead] = _spans(demo, demo.topics.loyalty_dlq, "loyalty")[:1]
    lineage = query.lineage(demo.store, trace_id=dead.trace_id)
    relations = Counter(e.relation for e in lineage.edges)
    assert relations[LineageRelation.OUTBOX] >= 1
    outbox_nodes = [n for n in lineage.nodes if n.outbox]
    assert {n.service for n in outbox_nodes} == {"payments-relay"}
    assert {"storefront", "payments", "payments-relay", "loyalty"} <= {n.service for n in lineage.nodes}


def test_retries_and_the_dead_letter_are_recorded_as_such(demo: DemoRun) -> None:
    """Retry sends carry their attempt, dead-letter sends their reason; lineage shows RETRY and DEAD_LETTER steps."""
    retries = [s for s in _spans(demo, demo.topics.loyalty_retry, "loyalty") if s.kind is SpanKind.PRODUCER]
    dead = [s for s in _spans(demo, demo.topics.loyalty_dlq, "loyalty") if s.kind is SpanKind.PRODUCER]
    assert retries
    assert dead
    assert {s.attributes.get(RETRY_ATTEMPT) for s in retries} >= {1, 2}
    assert all(s.attributes.get(DEAD_LETTER) is True for s in dead)
    assert all(s.attributes.get(DEAD_LETTER_REASON) for s in dead)
    gave_up = [s for s in dead if str(s.attributes.get(DEAD_LETTER_REASON)).startswith("gave up after 3 retries")]
    assert gave_up
    lineage = query.lineage(demo.store, trace_id=gave_up[0].trace_id)
    relations = Counter(e.relation for e in lineage.edges)
    assert relations[LineageRelation.RETRY] >= 3  # more only if a payment was redelivered after a rebalance
    assert relations[LineageRelation.DEAD_LETTER] >= 1


def test_the_dead_letter_topic_is_an_edge_of_the_topology(demo: DemoRun) -> None:
    """loyalty → its DLQ topic appears in the topology (and the retry loop through the retry topic)."""
    topology = query.topology(demo.store, demo.start_ns, demo.end_ns)
    edges = {(e.source, e.target) for e in topology.edges}
    assert ("service:loyalty", f"topic:{demo.topics.loyalty_dlq}") in edges
    assert ("service:loyalty", f"topic:{demo.topics.loyalty_retry}") in edges
    assert (f"topic:{demo.topics.loyalty_retry}", f"group:{demo.topics.group('loyalty')}") in edges


def test_the_command_and_its_reply_are_paired(demo: DemoRun) -> None:
    """inventory's schedule-pickup commands and shipping's replies are found as request/reply pairs."""
    report = query.coupling(demo.store, demo.start_ns, demo.end_ns)
    pairs = [t for t in report.temporal if (t.requester, t.replier) == ("inventory", "shipping")]
    assert pairs
    assert pairs[0].request_topic == demo.topics.shipping_commands
    assert pairs[0].reply_topic == demo.topics.inventory_replies
    assert pairs[0].pairs > 0


def test_the_projection_lag_is_measured(demo: DemoRun) -> None:
    """order-view falls behind in bursts: the lag poller saw it behind, its process spans carry queue time."""
    samples = demo.store.lag_samples(group=demo.topics.group("order-view"))
    behind = [s.end_offset - (s.committed_offset or 0) for s in samples]
    assert max(behind) > 0
    process = [s for s in _spans(demo, demo.topics.orders, "order-view") if s.kind is SpanKind.CONSUMER]
    assert max(s.messaging.lag_seconds or 0.0 for s in process) > 1.0


def test_the_rate_limited_consumer_falls_behind_and_catches_up(demo: DemoRun) -> None:
    """notifications' lag rises during a burst and comes down again afterwards."""
    samples = demo.store.lag_samples(group=demo.topics.group("notifications"))
    totals: Counter[int] = Counter()
    for s in samples:
        totals[s.observed_at_ns] += max(0, s.end_offset - (s.committed_offset or 0))
    series = [totals[t] for t in sorted(totals)]
    peak = max(series)
    assert peak > 0
    assert min(series[series.index(peak):]) < peak / 2


def test_the_schema_change_shows_as_drift_and_the_deprecated_version_as_a_violation(demo: DemoRun) -> None:
    """order.placed has two versions; storefront's switch is a drift; v1 is still produced after its date."""
    report = query.schemas(demo.store, demo.start_ns, demo.end_ns, demo.workdir / "deprecations.yaml")
    [orders] = [et for et in report.event_types if et.event_type == ORDER_PLACED]
    assert [v.label for v in orders.versions][:2] == ["v1", "v2"]
    assert any(d.event_type == ORDER_PLACED and d.producer == "storefront" for d in report.drifts)
    [violation] = [v for v in report.violations if v.deprecation.event_type == ORDER_PLACED]
    assert violation.deprecation.version == "v1"
    assert "storefront" in violation.producers


def test_shipment_events_carry_a_claim_check_not_the_label(demo: DemoRun) -> None:
    """The ~96 KiB labels are stored aside; the shipment events stay small and are read without errors."""
    sends = [s for s in _spans(demo, demo.topics.shipments, "shipping") if s.kind is SpanKind.PRODUCER]
    assert sends
    assert max(s.messaging.body_size or 0 for s in sends) < 2048
    labels = list((demo.workdir / "claims").glob("*/*"))
    assert labels
    assert min(p.stat().st_size for p in labels) >= 96 * 1024
    handled = [s for s in _spans(demo, demo.topics.shipments, "notifications") if s.kind is SpanKind.CONSUMER]
    assert handled
    assert not any(s.is_error for s in handled)


def test_fat_state_events_are_much_larger_than_thin_notifications(demo: DemoRun) -> None:
    """inventory's stock-level events carry the whole item; its reserved notifications only ids."""
    def mean_size(topic: str, event_type: str) -> float:
        sizes = [s.messaging.body_size or 0 for s in _spans(demo, topic, "order-view")
                 if s.kind is SpanKind.CONSUMER and s.messaging.event_type == event_type]
        assert sizes
        return sum(sizes) / len(sizes)

    assert mean_size(demo.topics.stock, STOCK_LEVEL) > 5 * mean_size(demo.topics.inventory, INVENTORY_RESERVED)


def test_one_order_is_one_trace_across_the_three_kafka_clients(demo: DemoRun) -> None:
    """storefront (kafka-python) → … → shipping (confluent-kafka) → notifications (aiokafka): one trace."""
    shipped = {s.trace_id for s in _spans(demo, demo.topics.shipments, "shipping") if s.kind is SpanKind.PRODUCER}
    mailed = {s.trace_id for s in _spans(demo, demo.topics.shipments, "notifications")
              if s.kind is SpanKind.CONSUMER}
    ordered = {s.trace_id for s in _spans(demo, demo.topics.orders, "storefront") if s.kind is SpanKind.PRODUCER}
    assert ordered & shipped & mailed
