"""End to end: instrumented services (separate processes) talk through the real broker, export spans over
OTLP/HTTP to the real collector, which stores them in SQLite; the analyses read that store."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from eventlens.collector.analysis import query
from eventlens.collector.model import NS_PER_S, LineageNodeKind, LineageRelation
from eventlens.collector.storage.protocol import open_store

HERE = Path(__file__).parent
pytestmark = [pytest.mark.kafka, pytest.mark.slow]


@pytest.fixture(scope="module")
def collector(tmp_path_factory):
    """`eventlens collector` on a free port with a fresh SQLite store; yields (store URL, OTLP endpoint)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('analysis-e2e') / 'eventlens.db'}"
    proc = subprocess.Popen([sys.executable, "-m", "eventlens", "collector", "--store", url, "--http-port", "0",
                             "--grpc-port", "0", "--host", "127.0.0.1"],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    endpoint = None
    assert proc.stderr is not None
    while endpoint is None:
        assert time.monotonic() < deadline and proc.poll() is None, "collector did not start"
        match = re.search(r"listening http=(\d+)", proc.stderr.readline())
        if match:
            endpoint = f"http://127.0.0.1:{match.group(1)}"
    yield url, endpoint
    proc.terminate()
    proc.wait(timeout=60)


def _run(role, *, bootstrap, topics, event_id, endpoint):
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_METRICS_EXPORTER": "none",
           "OTEL_BSP_SCHEDULE_DELAY": "100", "ANALYSIS_TOPICS": json.dumps(topics)}
    subprocess.run([sys.executable, str(HERE / "analysis_shop_service.py"), role, bootstrap, event_id],
                   env=env, check=True, timeout=180)


def _wait_for(predicate, what, timeout_s=60.0):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


ROLES = ("orders", "billing", "audit", "mailer", "checkout-request", "pricing", "checkout-reply")


@pytest.fixture(scope="module")
def shop(kafka_bootstrap, collector):
    """Every shop role run once, in order, against the real broker and collector; yields what the tests need.
    Topics get unique names and are auto-created (one partition) by their first producer."""
    url, endpoint = collector
    run = uuid.uuid4().hex[:8]
    topics = {name: f"t-analysis-e2e-{name}-{run}" for name in ("placed", "invoices", "dlt", "requests", "replies")}
    event_id = f"evt-{uuid.uuid4()}"
    started = time.time_ns()
    for role in ROLES:
        _run(role, bootstrap=kafka_bootstrap, topics=topics, event_id=event_id, endpoint=endpoint)
    store = open_store(url)
    yield store, topics, event_id, (started - 60 * NS_PER_S, time.time_ns() + 60 * NS_PER_S), endpoint
    store.close()


def _complete_lineage(store, event_id):
    def complete():
        found = query.lineage(store, event_id=event_id)
        services = {n.service for n in found.nodes if n.kind is LineageNodeKind.HANDLING}
        return found if {"billing", "audit", "mailer"} <= services else None

    return _wait_for(complete, "the lineage of every hop")


def test_lineage_of_real_traffic_follows_every_hop(shop):
    """orders → OrderPlaced → billing (child: dead-letter copy, outbox relay of InvoiceIssued) and audit (link
    only, own trace) → mailer (poll + processing): one DAG across traces with queue times, served by the API."""
    store, topics, event_id, _, endpoint = shop
    lineage = _complete_lineage(store, event_id)
    assert lineage.event_types == ("OrderPlaced", "InvoiceIssued")
    relations = {e.relation for e in lineage.edges}
    assert {LineageRelation.PARENT, LineageRelation.LINK, LineageRelation.OUTBOX,
            LineageRelation.DEAD_LETTER} <= relations
    assert len(lineage.trace_ids) >= 2  # the audit consumer started its own trace
    assert all(e.queue_ns is not None and e.queue_ns >= 0 for e in lineage.edges
               if e.relation in (LineageRelation.PARENT, LineageRelation.LINK))
    assert f"orders sent OrderPlaced to {topics['placed']}" in lineage.text
    assert f"billing relayed InvoiceIssued through its outbox to {topics['invoices']}" in lineage.text
    assert f"billing dead-lettered OrderPlaced to {topics['dlt']}" in lineage.text

    # the collector mounts the analysis routes on its own HTTP port
    with urllib.request.urlopen(f"{endpoint}/api/lineage?event_id={event_id}", timeout=30) as resp:  # noqa: S310
        assert json.loads(resp.read())["event_types"] == ["OrderPlaced", "InvoiceIssued"]


def test_topology_of_real_traffic_pairs_every_consumer(shop):
    """Parent-child, link-only and poll consumers are each paired with their producer in the rollups."""
    store, topics, event_id, window, _ = shop
    _complete_lineage(store, event_id)
    topo = _wait_for(lambda: (t := query.topology(store, *window)) and any(
        e.target == "group:checkout" for e in t.edges) and t, "every consuming edge in the rollups")
    edges = {(e.source, e.target): e for e in topo.edges}
    for group, topic in (("billing", "placed"), ("audit", "placed"), ("mailer", "invoices"),
                         ("pricing", "requests"), ("checkout", "replies")):
        edge = edges[(f"topic:{topics[topic]}", f"group:{group}")]
        assert edge.messages == 1 and not edge.partial, (group, edge)
    assert edges[("service:billing", f"topic:{topics['dlt']}")].partial_reason == "no consumer seen"


def test_request_reply_of_real_traffic_is_temporal_coupling_and_a_reply_step(shop):
    """The checkout → pricing request answered on the reply topic is a REPLY step and temporal coupling."""
    store, topics, _, window, _ = shop
    lineage = _wait_for(lambda: (found := query.lineage(store, key="quote-1", topic=topics["requests"]))
                        and any(n.service == "checkout" and n.kind is LineageNodeKind.HANDLING
                                for n in found.nodes) and found, "the reply consumed by checkout")
    assert LineageRelation.REPLY in {e.relation for e in lineage.edges}
    report = query.coupling(store, *window)
    (pair,) = report.temporal
    assert (pair.requester, pair.replier, pair.request_topic, pair.reply_topic) == (
        "checkout", "pricing", topics["requests"], topics["replies"])
    assert pair.within_window == 1
