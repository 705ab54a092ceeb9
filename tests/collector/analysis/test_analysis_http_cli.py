"""The analysis HTTP routes on a real uvicorn server, and the `eventlens graph` CLI, over a real SQLite store
holding spans at the current time (the CLI's window ends now)."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import networkx as nx
import pydot
import pytest
import uvicorn
from analysis_builders import T0, process, send
from starlette.applications import Starlette
from typer.testing import CliRunner

from eventlens.cli import app as root_app
from eventlens.collector.analysis.http import routes
from eventlens.collector.storage.protocol import open_store

NOW_MS = (time.time_ns() - T0) / 1_000_000 - 60_000  # a minute ago, relative to the builders' T0


@pytest.fixture
def store_url(tmp_path):
    """A SQLite store with one paired flow and one event with an id, written a minute ago."""
    url = f"sqlite:///{tmp_path / 'eventlens.db'}"
    placed = send("orders", "orders.placed", event_type="OrderPlaced", event_id="evt-42", at_ms=NOW_MS)
    handled = process("billing", placed, group="billing", at_ms=NOW_MS + 8)
    store = open_store(url)
    store.write_spans([placed, handled])
    store.close()
    return url


@pytest.fixture
def server(store_url):
    """The analysis routes served by uvicorn on a free loopback port, the store on app.state."""
    app = Starlette(routes=routes)
    app.state.store = open_store(store_url)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=30)
    app.state.store.close()


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 (a loopback http URL we built)
            return resp.status, resp.headers.get("content-type", ""), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("content-type", ""), exc.read().decode()


def test_topology_route_returns_the_graph_as_json(server):
    """GET /api/topology?window=15m answers the window's nodes and edges."""
    status, _, body = _get(f"{server}/api/topology?window=15m")
    data = json.loads(body)
    assert status == 200
    assert {"service:orders", "topic:orders.placed", "group:billing"} <= {n["id"] for n in data["nodes"]}
    assert data["nodes"][0]["kind"] in ("service", "topic", "consumer_group")


def test_lineage_route_by_event_id(server):
    """GET /api/lineage?event_id=… answers the story; an unknown id is a 404, no criteria a 400."""
    status, _, body = _get(f"{server}/api/lineage?event_id=evt-42")
    assert status == 200
    assert json.loads(body)["event_types"] == ["OrderPlaced"]
    assert _get(f"{server}/api/lineage?event_id=missing")[0] == 404
    assert _get(f"{server}/api/lineage")[0] == 400


def test_coupling_and_schemas_routes_answer_json(server):
    """GET /api/coupling and /api/schemas answer their reports."""
    status, _, body = _get(f"{server}/api/coupling?window=1h")
    assert status == 200
    assert {s["service"] for s in json.loads(body)["services"]} == {"orders", "billing"}
    assert _get(f"{server}/api/schemas?window=1h")[0] == 200


def test_export_route_serves_each_format_with_its_media_type(server):
    """GET /api/export/dot answers DOT with the graphviz media type; an unknown format is a 400."""
    status, ctype, body = _get(f"{server}/api/export/dot?window=15m")
    assert status == 200 and ctype.startswith("text/vnd.graphviz")
    assert pydot.graph_from_dot_data(body)
    assert _get(f"{server}/api/export/png")[0] == 400


def test_bad_window_is_a_400(server):
    """A window that is not a duration answers 400 with the reason."""
    status, _, body = _get(f"{server}/api/topology?window=soon")
    assert status == 400 and "window" in json.loads(body)["error"]


def test_a_from_to_range_selects_the_same_graph_as_the_window(server):
    """`from`/`to` (ISO-8601 or epoch ms) name the range directly; a range before the data is empty."""
    now_ms = time.time_ns() // 1_000_000
    status, _, body = _get(f"{server}/api/topology?from={now_ms - 900_000}&to={now_ms}")
    assert status == 200 and "service:orders" in {n["id"] for n in json.loads(body)["nodes"]}
    _, _, early = _get(f"{server}/api/topology?from=2001-01-01T00:00:00Z&to=2001-01-02T00:00:00Z")
    assert json.loads(early)["nodes"] == []


def test_a_reversed_range_is_a_400_saying_so(server):
    """`to` before `from` answers 400 naming the problem."""
    status, _, body = _get(f"{server}/api/topology?from=2001-01-02T00:00:00Z&to=2001-01-01T00:00:00Z")
    assert status == 400 and "before" in json.loads(body)["error"]


def test_cli_export_writes_graphml_to_a_file(store_url, tmp_path):
    """`eventlens graph export --format graphml --window 15m --store URL --output F` writes a readable file."""
    out = tmp_path / "graph.graphml"
    result = CliRunner().invoke(root_app, ["graph", "export", "--format", "graphml", "--window", "15m",
                                           "--store", store_url, "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert nx.read_graphml(out).has_edge("topic:orders.placed", "group:billing")


def test_cli_export_reads_the_store_from_the_environment(store_url):
    """Without --store, EVENTLENS_STORE names the store; the export goes to stdout."""
    result = CliRunner().invoke(root_app, ["graph", "export", "--format", "mermaid"],
                                env={"EVENTLENS_STORE": store_url})
    assert result.exit_code == 0, result.output
    assert result.output.startswith("flowchart LR")


def test_cli_lineage_prints_the_story(store_url):
    """`eventlens graph lineage --event-id` prints the event types and the story."""
    result = CliRunner().invoke(root_app, ["graph", "lineage", "--event-id", "evt-42", "--store", store_url])
    assert result.exit_code == 0, result.output
    assert "events: OrderPlaced" in result.output
    assert "billing consumed it after 8.0 ms" in result.output


def test_cli_coupling_prints_a_table(store_url):
    """`eventlens graph coupling` prints one row per service with its instability."""
    result = CliRunner().invoke(root_app, ["graph", "coupling", "--store", store_url, "--window", "1h"])
    assert result.exit_code == 0, result.output
    assert any(line.startswith("orders") and line.rstrip().endswith("0.00") for line in result.output.splitlines())


def test_cli_from_to_selects_a_range_and_a_bad_one_is_refused(store_url):
    """`--from`/`--to` name the range (epoch ms or ISO-8601); a range before the data has no rows; `--to`
    before `--from` exits 2 with the reason."""
    now_ms = time.time_ns() // 1_000_000
    found = CliRunner().invoke(root_app, ["graph", "coupling", "--store", store_url, "--json",
                                          "--from", str(now_ms - 3_600_000), "--to", str(now_ms)])
    assert found.exit_code == 0, found.output
    assert {s["service"] for s in json.loads(found.output)["services"]} == {"orders", "billing"}
    early = CliRunner().invoke(root_app, ["graph", "coupling", "--store", store_url, "--json",
                                          "--from", "2001-01-01T00:00:00Z", "--to", "2001-01-02T00:00:00Z"])
    assert json.loads(early.output)["services"] == []
    reversed_range = CliRunner().invoke(root_app, ["graph", "coupling", "--store", store_url,
                                                   "--from", "2001-01-02", "--to", "2001-01-01"])
    assert reversed_range.exit_code == 2 and "before" in reversed_range.output


def test_cli_rejects_an_unknown_format_and_a_missing_store(store_url, tmp_path):
    """An unknown format and a store file that does not exist exit non-zero with a message."""
    bad = CliRunner().invoke(root_app, ["graph", "export", "--format", "png", "--store", store_url])
    assert bad.exit_code != 0
    missing = CliRunner().invoke(root_app, ["graph", "export", "--store", f"sqlite:///{tmp_path / 'none.db'}"])
    assert missing.exit_code == 2


def test_cli_lineage_draws_dot(store_url):
    """`eventlens graph lineage --format dot` prints a DOT graph of the lineage."""
    result = CliRunner().invoke(root_app, ["graph", "lineage", "--event-id", "evt-42", "--format", "dot",
                                           "--store", store_url])
    assert result.exit_code == 0, result.output
    (graph,) = pydot.graph_from_dot_data(result.output)
    assert len(graph.get_edges()) == 1


def test_sampling_route_answers_estimates_per_edge_side(server):
    """GET /api/sampling: per edge side the stored spans' estimate (no exact counters in this app)."""
    status, _, body = _get(f"{server}/api/sampling?window=1h")
    rows = json.loads(body)
    assert status == 200
    assert {(r["side"], r["service"], r["topic"], r["estimated"], r["exact"]) for r in rows} == {
        ("send", "orders", "orders.placed", 1.0, None), ("consume", "billing", "orders.placed", 1.0, None)}


def test_graph_sampling_prints_the_check_from_the_store_or_a_collector(store_url, server):
    """`eventlens graph sampling` prints one line per edge side, from the store or through a collector's API."""
    local = CliRunner().invoke(root_app, ["graph", "sampling", "--window", "1h", "--store", store_url])
    remote = CliRunner().invoke(root_app, ["graph", "sampling", "--window", "1h", "--collector", server])
    for result in (local, remote):
        assert result.exit_code == 0, result.output
        assert "orders.placed" in result.output and "billing" in result.output
