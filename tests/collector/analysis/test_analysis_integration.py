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
from eventlens.collector.storage.api import open_store

HERE = Path(__file__).parent
pytestmark = [pytest.mark.kafka, pytest.mark.slow]


@pytest.fixture
def collector(tmp_path):
    """`eventlens collector` on a free port with a fresh SQLite store; yields (store URL, OTLP endpoint)."""
    url = f"sqlite:///{tmp_path / 'eventlens.db'}"
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


def _run(role, *, bootstrap, placed, invoices, event_id, endpoint):
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_METRICS_EXPORTER": "none",
           "OTEL_BSP_SCHEDULE_DELAY": "100", "PYTHONPATH": str(HERE)}
    subprocess.run([sys.executable, str(HERE / "analysis_shop_service.py"), role, bootstrap, placed, invoices,
                    event_id], env=env, check=True, timeout=180)


def _wait_for(predicate, what, timeout_s=60.0):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_lineage_and_topology_of_real_traffic(kafka_bootstrap, make_topic, collector):
    """orders → OrderPlaced → billing (child) and audit (link only) → InvoiceIssued → mailer (poll):
    the lineage follows every hop across traces and the topology pairs every consumer with its producer."""
    url, endpoint = collector
    placed, invoices = make_topic(partitions=1), make_topic(partitions=1)
    event_id = f"evt-{uuid.uuid4()}"
    started = time.time_ns()
    for role in ("orders", "billing", "audit", "mailer"):
        _run(role, bootstrap=kafka_bootstrap, placed=placed, invoices=invoices, event_id=event_id,
             endpoint=endpoint)

    store = open_store(url)
    try:
        def complete():
            found = query.lineage(store, event_id=event_id)
            services = {n.service for n in found.nodes if n.kind is LineageNodeKind.HANDLING}
            return found if {"billing", "audit", "mailer"} <= services else None

        lineage = _wait_for(complete, "the lineage of every hop")
        assert lineage.event_types == ("OrderPlaced", "InvoiceIssued")
        relations = {e.relation for e in lineage.edges}
        assert {LineageRelation.PARENT, LineageRelation.LINK, LineageRelation.PRODUCED} <= relations
        assert len(lineage.trace_ids) >= 2  # the audit consumer started its own trace
        assert all(e.queue_ns is not None and e.queue_ns >= 0 for e in lineage.edges
                   if e.relation in (LineageRelation.PARENT, LineageRelation.LINK))
        assert f"orders sent OrderPlaced to {placed}" in lineage.text

        window = (started - 60 * NS_PER_S, time.time_ns() + 60 * NS_PER_S)
        topo = _wait_for(lambda: (t := query.topology(store, *window)) and any(
            e.target == "group:mailer" for e in t.edges) and t, "the mailer edge in the rollups")
        edges = {(e.source, e.target): e for e in topo.edges}
        for group, topic in (("billing", placed), ("audit", placed), ("mailer", invoices)):
            edge = edges[(f"topic:{topic}", f"group:{group}")]
            assert edge.messages == 1 and not edge.partial, (group, edge)
        assert ("service:orders", f"topic:{placed}") in edges

        # the collector mounts the analysis routes on its own HTTP port
        with urllib.request.urlopen(f"{endpoint}/api/lineage?event_id={event_id}", timeout=30) as resp:  # noqa: S310
            assert json.loads(resp.read())["event_types"] == ["OrderPlaced", "InvoiceIssued"]
    finally:
        store.close()
