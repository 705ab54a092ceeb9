"""Every export format parsed back: networkx readers (GraphML, GEXF, JSON), pydot (DOT), csv, a Mermaid
structure check, and the AsyncAPI document validated against the official AsyncAPI 3.0.0 JSON Schema."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import jsonschema
import networkx as nx
import pydot
import pytest
import yaml
from analysis_builders import T0, consumed, produced, sighting

from eventlens.collector.analysis.exports import (
    CSV_COLUMNS,
    EXPORT_FORMATS,
    build_asyncapi,
    payload_schema,
    to_csv,
    to_dot,
    to_gexf,
    to_graphml,
    to_json,
    to_mermaid,
)
from eventlens.collector.analysis.topology import build_topology
from eventlens.collector.model import NS_PER_MINUTE, Role

SCHEMA = json.loads((Path(__file__).parent / "fixtures" / "asyncapi-3.0.0-without-id.json").read_text())
WINDOW = (T0, T0 + 10 * NS_PER_MINUTE)
ODD = 'we"ird [svc] <x> & {y} | #1; \\ end'
"""A service name with every character the text formats treat specially."""


def _topology():
    return build_topology([
        produced("orders", "orders.placed", 60),
        consumed("orders", "orders.placed", "billing", "billing", 60, latency_s=0.02),
        consumed(None, "legacy.feed", None, ODD, 5),
        produced(ODD, "audit log", 3),
    ], *WINDOW)


def _edges(topology):
    return {(e.source, e.target): e for e in topology.edges}


def test_graphml_reads_back_with_networkx():
    """GraphML round-trips nodes, edges and their attributes through networkx' reader."""
    topo = _topology()
    graph = nx.parse_graphml(to_graphml(topo))
    assert set(graph.nodes) == {n.id for n in topo.nodes}
    assert set(graph.edges) == set(_edges(topo))
    assert graph.edges["topic:orders.placed", "group:billing"]["messages"] == 60
    assert graph.nodes["topic:legacy.feed"]["partial"] is True


def test_gexf_reads_back_with_networkx():
    """GEXF round-trips nodes, edges and the message counts."""
    topo = _topology()
    graph = nx.read_gexf(io.BytesIO(to_gexf(topo).encode()))
    assert set(graph.nodes) == {n.id for n in topo.nodes}
    assert set(graph.edges) == set(_edges(topo))
    assert graph.edges["service:orders", "topic:orders.placed"]["messages"] == 60


def test_json_node_link_reads_back_with_networkx():
    """JSON node-link data rebuilds the same directed graph."""
    topo = _topology()
    graph = nx.node_link_graph(json.loads(to_json(topo)), edges="edges")
    assert graph.is_directed()
    assert set(graph.edges) == set(_edges(topo))
    assert graph.edges["group:billing", "service:billing"]["latency_p50_s"] == pytest.approx(0.0175, rel=0.2)


def test_dot_parses_with_pydot_and_keeps_awkward_names():
    """DOT parses with pydot; a name full of quotes, brackets and backslashes survives quoting."""
    topo = _topology()
    (graph,) = pydot.graph_from_dot_data(to_dot(topo))
    names = {n.get_name() for n in graph.get_nodes()} - {"node", "edge", "graph"}
    assert len(names) == len(topo.nodes)
    assert f"service:{ODD}" in {_unquote(n) for n in names}
    assert len(graph.get_edges()) == len(topo.edges)
    partial = [e for e in graph.get_edges() if e.get("style") == '"dashed"']
    assert len(partial) == sum(1 for e in topo.edges if e.partial)


def _unquote(text: str) -> str:
    inner = text[1:-1] if text.startswith('"') else text
    return inner.replace('\\"', '"').replace("\\\\", "\\")


def test_mermaid_is_a_flowchart_with_generated_ids_and_escaped_labels():
    """Mermaid lines use generated ids; no label contains a raw quote, bracket or pipe that would break it."""
    topo = _topology()
    lines = to_mermaid(topo).splitlines()
    assert lines[0] == "flowchart LR"
    assert len(lines) == 1 + len(topo.nodes) + len(topo.edges)
    odd_line = next(line for line in lines[1:] if "we#34;ird" in line)
    label = odd_line[odd_line.index('"') + 1:odd_line.rindex('"')]
    assert not set(label) & set('"[]{}()|<>')
    assert sum("-.->" in line for line in lines) == sum(1 for e in topo.edges if e.partial)


def test_csv_edge_list_reads_back():
    """The CSV has the documented header and one row per edge with its numbers."""
    topo = _topology()
    rows = list(csv.DictReader(io.StringIO(to_csv(topo))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == len(topo.edges)
    row = next(r for r in rows if r["source"] == "topic:orders.placed")
    assert (row["target"], row["messages"], row["lag_offsets"]) == ("group:billing", "60", "")


def _asyncapi(**kwargs):
    sightings = [sighting("OrderPlaced", "json:1", "orders", Role.PRODUCER, "orders.placed"),
                 sighting("OrderPlaced", "json:1", "billing", Role.CONSUMER, "orders.placed")]
    return build_asyncapi(_topology(), sightings, **kwargs)


def test_asyncapi_document_is_valid_against_the_official_schema():
    """The inferred document validates against the AsyncAPI 3.0.0 JSON Schema, as YAML and as JSON."""
    from eventlens.collector.analysis.exports import asyncapi_json, asyncapi_yaml

    doc = _asyncapi(payloads={("orders.placed", "OrderPlaced"): ['{"id": 1, "total": 9.5, "items": [{"sku": "a"}]}']})
    jsonschema.validate(yaml.safe_load(asyncapi_yaml(doc)), SCHEMA)
    jsonschema.validate(json.loads(asyncapi_json(doc)), SCHEMA)


def test_asyncapi_has_a_channel_per_topic_and_operations_per_service():
    """Channels carry topic addresses; each producing/consuming service gets a send/receive operation."""
    doc = _asyncapi()
    assert {c["address"] for c in doc["channels"].values()} == {"orders.placed", "legacy.feed", "audit log"}
    ops = {(o["x-eventlens-service"], o["action"], o["channel"]["$ref"]) for o in doc["operations"].values()}
    assert ("orders", "send", "#/channels/orders.placed") in ops
    assert ("billing", "receive", "#/channels/orders.placed") in ops
    assert all(k.replace(".", "").replace("-", "").replace("_", "").isalnum() for k in doc["operations"])


def test_asyncapi_message_payload_is_inferred_from_samples():
    """Opted-in payload samples become a JSON schema; fields in every sample are required."""
    doc = _asyncapi(payloads={("orders.placed", "OrderPlaced"): ['{"id": 1, "note": "x"}', '{"id": 2}']})
    payload = doc["components"]["messages"]["orders.placed.OrderPlaced"]["payload"]
    assert payload["properties"]["id"] == {"type": "integer"}
    assert payload["required"] == ["id"]


def test_asyncapi_without_samples_names_the_fingerprints():
    """Without payload samples the message lists its schema fingerprints as an extension."""
    message = _asyncapi()["components"]["messages"]["orders.placed.OrderPlaced"]
    assert message["x-eventlens-schema-fingerprints"] == ["json:1"]
    assert message["payload"] == {}


def test_payload_schema_ignores_non_json_samples():
    """Samples that are not JSON (truncated, binary) are skipped, not fatal."""
    assert payload_schema(["{not json", '"text"']) == {"type": "string"}
    assert payload_schema(["\x00\x01"]) is None


def test_every_format_has_a_media_type_and_extension():
    """EXPORT_FORMATS lists the eight formats with a media type and a file extension each."""
    assert set(EXPORT_FORMATS) == {"graphml", "gexf", "dot", "mermaid", "json", "csv", "asyncapi", "asyncapi-json"}
    assert all("/" in media and ext for media, ext in EXPORT_FORMATS.values())


def _small_lineage():
    from analysis_builders import process, send

    from eventlens.collector.analysis.lineage import build_lineage

    placed = send("orders", "orders.placed", event_type='Order"Placed')
    handle = process("billing", placed, at_ms=12, error=True)
    return build_lineage([placed, handle], [(placed.trace_id, placed.span_id)])


def test_lineage_dot_parses_with_pydot():
    """A lineage drawn as DOT parses back with its nodes, edges and queue-time labels."""
    from eventlens.collector.analysis.exports import lineage_to_dot

    lineage = _small_lineage()
    (graph,) = pydot.graph_from_dot_data(lineage_to_dot(lineage))
    assert {_unquote(n.get_name()) for n in graph.get_nodes()} >= {n.id for n in lineage.nodes}
    (edge,) = graph.get_edges()
    assert _unquote(edge.get("label")) == "parent, 12.0 ms queued"


def test_lineage_mermaid_has_a_line_per_node_and_edge():
    """A lineage drawn as Mermaid lists every node and edge, with the quote in the event type escaped."""
    from eventlens.collector.analysis.exports import lineage_to_mermaid

    lines = lineage_to_mermaid(_small_lineage()).splitlines()
    assert lines[0] == "flowchart LR" and len(lines) == 1 + 2 + 1
    assert "Order#34;Placed" in lines[1]


def test_asyncapi_keys_of_names_that_sanitise_alike_do_not_collide():
    """Topics `a b` and `a_b` both map to key `a_b`; the second gets a suffix and both channels survive."""
    topo = build_topology([produced("p", "a b", 1), produced("p", "a_b", 1)], *WINDOW)
    doc = build_asyncapi(topo)
    assert sorted(c["address"] for c in doc["channels"].values()) == ["a b", "a_b"]
    assert len(doc["operations"]) == 2
    jsonschema.validate(doc, SCHEMA)
