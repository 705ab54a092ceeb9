"""What users see of lag: Prometheus gauges, `/api/lag` JSON and the `eventlens lag` table."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from typer.testing import CliRunner

from eventlens.collector.lag.cli import app, format_seconds, render_table
from eventlens.collector.lag.http import lag_routes, routes
from eventlens.collector.lag.memory import MemoryLagStore
from eventlens.collector.lag.metrics import register_lag_metrics
from eventlens.collector.lag.query import group_statuses
from eventlens.collector.model import NS_PER_S, LagSample, LagStatus
from eventlens.local_kafka import free_port

NOW = 1_700_000_000 * NS_PER_S


def _store() -> MemoryLagStore:
    """Group `slow` falls behind on orders/0 (WARN); group `idle` is caught up on audit/0 and audit/1."""
    store = MemoryLagStore()
    for step in range(4):
        t = NOW - (3 - step) * 30 * NS_PER_S
        store.write_lag_samples([
            LagSample("slow", "orders", 0, step * 5, 10 + step * 20, t, 2.0 + step, step == 3),
            LagSample("idle", "audit", 0, 7, 7, t, 0.0),
            LagSample("idle", "audit", 1, 3, 3, t, 0.0),
        ])
    return store


class Client:
    """GETs against a real uvicorn server serving the app on a free loopback port."""

    def __init__(self, base: str) -> None:
        self.base = base

    def get(self, path: str, params: dict[str, str] | None = None) -> tuple[int, str]:
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        try:
            with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (our loopback http URL)
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


@contextmanager
def serve(asgi: Starlette) -> Iterator[Client]:
    """Run the app with uvicorn in a thread until the block ends."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(asgi, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield Client(f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(10)


def _scrape(store: MemoryLagStore) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    register_lag_metrics(registry, store, lambda: NOW)
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_prometheus_gauges_per_partition_and_group() -> None:
    """A scrape exposes lag, seconds and status under Kafka Lag Exporter's names, read from the store."""
    values = _scrape(_store())
    part = (("group", "slow"), ("partition", "0"), ("topic", "orders"))
    assert values[("kafka_consumergroup_group_lag", part)] == 55
    assert values[("kafka_consumergroup_group_lag_seconds", part)] == 5.0
    assert values[("eventlens_consumergroup_group_lag_seconds_estimated", part)] == 1.0
    assert values[("eventlens_consumergroup_partition_status", part)] == LagStatus.WARN
    assert values[("kafka_consumergroup_group_max_lag", (("group", "slow"),))] == 55
    assert values[("kafka_consumergroup_group_max_lag_seconds", (("group", "slow"),))] == 5.0
    assert values[("kafka_consumergroup_group_sum_lag", (("group", "idle"),))] == 0
    assert values[("eventlens_consumergroup_status", (("group", "slow"),))] == LagStatus.WARN
    assert values[("eventlens_consumergroup_status", (("group", "idle"),))] == LagStatus.OK


def test_scrape_reflects_the_latest_state() -> None:
    """The gauges are computed on each scrape, so a newer sample shows at the next scrape."""
    store = _store()
    registry = CollectorRegistry()
    register_lag_metrics(registry, store, lambda: NOW)
    store.write_lag_samples([LagSample("slow", "orders", 0, 70, 70, NOW, 0.0)])
    text = generate_latest(registry).decode()
    assert 'kafka_consumergroup_group_lag{group="slow",partition="0",topic="orders"} 0.0' in text


def test_api_lag_lists_group_statuses() -> None:
    """`GET /api/lag` returns every group with its partitions, statuses by name, as plain JSON."""
    with serve(Starlette(routes=lag_routes(_store(), now_fn=lambda: NOW))) as client:
        status, text = client.get("/api/lag")
    body = json.loads(text)
    assert status == 200
    assert [(g["group"], g["status"]) for g in body["groups"]] == [("idle", "OK"), ("slow", "WARN")]
    assert body["groups"][1]["partitions"][0]["lag"] == 55


def test_api_lag_history_and_bad_parameters() -> None:
    """History lists each partition's samples (store from app.state); a bad window is a 400, not a crash."""
    asgi = Starlette(routes=routes)
    asgi.state.store = _store()
    with serve(asgi) as client:
        _, text = client.get("/api/lag/slow/history", params={"since": str(10**9)})
        bad, _ = client.get("/api/lag", params={"window": "soon"})
    assert [s["lag"] for s in json.loads(text)["partitions"][0]["samples"]] == [10, 25, 40, 55]
    assert bad == 400


def test_api_lag_reads_durations_in_the_shared_grammar() -> None:
    """`window=10m` is the same evaluation window as `window=600`; history's `window` is its older `since`."""
    asgi = Starlette(routes=routes)
    asgi.state.store = _store()
    with serve(asgi) as client:
        _, seconds = client.get("/api/lag", params={"window": "600"})
        _, minutes = client.get("/api/lag", params={"window": "10m"})
        _, since = client.get("/api/lag/slow/history", params={"since": str(10**9)})
        _, window = client.get("/api/lag/slow/history", params={"window": f"{10**9}s"})
    assert json.loads(seconds)["groups"] == json.loads(minutes)["groups"]
    assert json.loads(since) == json.loads(window)


def test_seconds_format_marks_estimates() -> None:
    """Durations are short and human; estimates carry a ~, unknown is a dash."""
    assert [format_seconds(0.0), format_seconds(0.25), format_seconds(12.34, True), format_seconds(245),
            format_seconds(7380), format_seconds(None)] == ["0s", "250ms", "~12.3s", "4m05s", "2h03m", "-"]


def test_table_has_the_documented_columns() -> None:
    """The table shows group, topic, partition, lag, seconds, status and time to drain."""
    table = render_table(group_statuses(_store(), NOW))
    assert [c.header for c in table.columns] == ["group", "topic", "partition", "lag", "seconds", "status",
                                                 "time to drain"]
    assert table.row_count == 3


def test_cli_without_broker_or_store_explains_itself() -> None:
    """`eventlens lag` with nothing to read says what to give and exits 2."""
    result = CliRunner().invoke(app, [])
    assert result.exit_code == 2 and "--bootstrap" in result.output


def test_cli_window_reads_the_shared_duration_grammar(tmp_path) -> None:
    """`--window 2m` keeps a sample from five minutes ago out of the evaluation that `--window 600` sees."""
    from eventlens.collector.storage.protocol import open_store

    url = f"sqlite:///{tmp_path / 'lag.db'}"
    store = open_store(url)
    store.write_lag_samples([LagSample("g", "t", 0, 1, 5, time.time_ns() - 300 * NS_PER_S, 0.5)])
    store.close()
    groups = {}
    for window in ("600", "10m", "2m"):
        result = CliRunner().invoke(app, ["--store", url, "--json", "--window", window])
        assert result.exit_code == 0, result.output
        groups[window] = [(g["group"], g["status"], g["total_lag"]) for g in json.loads(result.output)["groups"]]
    assert groups["600"] == groups["10m"] == [("g", "ERR", 4)]
    assert groups["2m"] != groups["600"], groups["2m"]


def test_cli_refuses_a_malformed_window() -> None:
    """`--window soon` exits 2 naming the option, before reading anything."""
    result = CliRunner().invoke(app, ["--store", "sqlite:///never.db", "--window", "soon"])
    assert result.exit_code == 2 and "--window" in result.output


def test_memory_store_answers_like_the_sqlite_store(tmp_path) -> None:
    """The standalone CLI's in-memory store filters, orders and forgets exactly as the SQLite backend does."""
    from eventlens.collector.storage.protocol import open_store

    sqlite = open_store(f"sqlite:///{tmp_path / 'lag.db'}")
    memory = MemoryLagStore()
    rows = [LagSample(g, "t", p, 1, 5, NOW + i, 0.5, bool(i % 2))
            for i, (g, p) in enumerate([("b", 0), ("a", 1), ("a", 0), ("b", 1)])]
    for backend in (sqlite, memory):
        backend.write_lag_samples(rows)
        backend.forget_group("b")
    try:
        for kwargs in ({}, {"group": "a"}, {"since_ns": NOW + 2}, {"until_ns": NOW + 2}):
            assert memory.lag_samples(**kwargs) == sqlite.lag_samples(**kwargs), kwargs
    finally:
        sqlite.close()


def test_memory_store_prune_keeps_only_recent_samples() -> None:
    """Pruning drops what is older than the cut and keeps the rest, so a long --watch stays bounded."""
    store = _store()
    assert store.prune(NOW - 30 * NS_PER_S) == 6
    assert min(s.observed_at_ns for s in store.lag_samples()) == NOW - 30 * NS_PER_S
