"""Dependency-graph exports of a topology: GraphML, GEXF, DOT, Mermaid, JSON node-link, CSV edge list, and an
AsyncAPI 3.0 document inferred from observed traffic (YAML or JSON).

Names come from spans and are untrusted. Every format is safe for its consumer and parses back: characters a
format cannot carry are written as a visible escape (`\\x01`, `\\ud800`), distinct for distinct characters;
CSV text cells that a spreadsheet would run as a formula get a leading `'` (OWASP CSV injection). DOT ids
and labels are quoted by `analysis.dot`, the rule the dashboard's drawings use too.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import networkx as nx
import yaml

from eventlens.collector.analysis.dot import quote, quote_id
from eventlens.collector.model import (
    Lineage,
    LineageNode,
    LineageNodeKind,
    NodeKind,
    Role,
    SchemaSighting,
    Topology,
    TopologyEdge,
)

EXPORT_FORMATS: dict[str, tuple[str, str]] = {
    "graphml": ("application/graphml+xml", "graphml"),
    "gexf": ("application/gexf+xml", "gexf"),
    "dot": ("text/vnd.graphviz", "dot"),
    "mermaid": ("text/vnd.mermaid", "mmd"),
    "json": ("application/json", "json"),
    "csv": ("text/csv", "csv"),
    "asyncapi": ("application/yaml", "asyncapi.yaml"),
    "asyncapi-json": ("application/json", "asyncapi.json"),
}
"""Export format name → (media type, file extension)."""

CSV_COLUMNS = ("source", "target", "topic", "messages", "rate_per_s", "errors", "bytes", "latency_p50_s",
               "latency_p95_s", "latency_p99_s", "lag_offsets", "lag_seconds", "partial", "partial_reason")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_XML_FORBIDDEN = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""Characters outside XML 1.0's `Char` production (C0 controls but tab/LF/CR, lone surrogates, U+FFFE/F)."""
_SURROGATE_OR_NUL = re.compile("[\x00\ud800-\udfff]")
"""NUL (some CSV readers stop at it) and lone surrogates (no UTF-8 encoding; from JSON `\\ud800` escapes)."""


def xml_safe(text: str) -> str:
    """`text` with every character XML 1.0 forbids written as a visible escape (`\\x01`)."""
    return _XML_FORBIDDEN.sub(_visible, text)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(text: str) -> str:
    """A CSV text cell safe for spreadsheets: a leading `'` when it would start a formula (OWASP), NUL and lone
    surrogates escaped."""
    text = _SURROGATE_OR_NUL.sub(_visible, text)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _edge_attrs(e: TopologyEdge) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "topic": e.topic, "messages": e.messages, "rate_per_s": float(e.rate_per_s), "errors": e.errors,
        "bytes": e.bytes, "latency_p50_s": e.latency.p50_s, "latency_p95_s": e.latency.p95_s,
        "latency_p99_s": e.latency.p99_s, "lag_offsets": e.lag_offsets, "lag_seconds": e.lag_seconds,
        "partial": e.partial, "partial_reason": e.partial_reason,
    }
    return {k: v for k, v in attrs.items() if v is not None}  # GraphML/GEXF have no null


def topology_graph(topology: Topology) -> nx.DiGraph:
    """The topology as a networkx DiGraph with plain (str/int/float/bool) attributes only."""
    graph = nx.DiGraph(start_ns=topology.start_ns, end_ns=topology.end_ns)
    for n in topology.nodes:
        graph.add_node(n.id, kind=n.kind.value, name=n.name, messages=n.messages, errors=n.errors,
                       partial=n.partial, partial_reason=n.partial_reason)
    for e in topology.edges:
        graph.add_edge(e.source, e.target, **_edge_attrs(e))
    return graph


def _xml_graph(topology: Topology) -> nx.DiGraph:
    """`topology_graph` with every string (node ids included) made XML 1.0 safe."""
    graph = topology_graph(topology)
    for _, data in graph.nodes(data=True):
        data.update({k: xml_safe(v) for k, v in data.items() if isinstance(v, str)})
    for _, _, data in graph.edges(data=True):
        data.update({k: xml_safe(v) for k, v in data.items() if isinstance(v, str)})
    return nx.relabel_nodes(graph, {n: xml_safe(n) for n in graph.nodes if xml_safe(n) != n})


def to_graphml(topology: Topology) -> str:
    """GraphML (networkx writer); characters XML 1.0 forbids are written as visible escapes."""
    return "\n".join(nx.generate_graphml(_xml_graph(topology))) + "\n"


def to_gexf(topology: Topology) -> str:
    """GEXF 1.2 (networkx writer); characters XML 1.0 forbids are written as visible escapes."""
    return "\n".join(nx.generate_gexf(_xml_graph(topology))) + "\n"


def to_json(topology: Topology) -> str:
    """JSON node-link data (networkx.node_link_data, edges under `edges`)."""
    return json.dumps(nx.node_link_data(topology_graph(topology), edges="edges"), indent=2, sort_keys=True) + "\n"


def to_csv(topology: Topology) -> str:
    """An edge list with one header row (`CSV_COLUMNS`); empty cells for unknown values, text cells through
    `csv_cell` and quoted."""
    out = io.StringIO()
    # every text cell quoted (OWASP's advice; a CR inside a name then stays inside its cell), numbers bare
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow(CSV_COLUMNS)
    for e in topology.edges:
        attrs = _edge_attrs(e)
        cells = ("" if attrs.get(c) is None else attrs[c] for c in CSV_COLUMNS[2:])
        writer.writerow([csv_cell(e.source), csv_cell(e.target),
                         *(csv_cell(v) if isinstance(v, str) else v for v in cells)])
    return out.getvalue()


_DOT_SHAPES = {NodeKind.SERVICE: "box", NodeKind.TOPIC: "cds", NodeKind.CONSUMER_GROUP: "ellipse"}


def to_dot(topology: Topology) -> str:
    """Graphviz DOT: every id and label quoted; partial edges dashed."""
    lines = ["digraph eventlens {", "  rankdir=LR;"]
    for n in topology.nodes:
        style = ', style="dashed"' if n.partial else ""
        lines.append(f"  {quote_id(n.id)} [label={quote(n.name)}, shape={_DOT_SHAPES[n.kind]}, "
                     f"kind={quote(n.kind.value)}{style}];")
    for e in topology.edges:
        label = f"{e.messages} msgs, {e.rate_per_s:.2f}/s"
        if e.errors:
            label += f", {e.errors} errors"
        if e.latency.p95_s is not None:
            label += f", p95 {e.latency.p95_s * 1000:.0f} ms"
        style = ', style="dashed"' if e.partial else ""
        lines.append(f"  {quote_id(e.source)} -> {quote_id(e.target)} [label={quote(label)}, "
                     f"messages={e.messages}{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


_MERMAID_ESCAPED = frozenset({"Cc", "Cf", "Zl", "Zp"})


def _mermaid_label(text: str) -> str:
    # Mermaid entity codes: nothing in the label can close the quoted string, start markup or break the line;
    # a lone surrogate (no UTF-8 form) becomes U+FFFD.
    escaped = "".join(f"#{ord(ch)};" if ch in '"#<>&`[]{}()|;' or ord(ch) < 32 else
                      "#65533;" if "\ud800" <= ch <= "\udfff" else
                      f"#{ord(ch)};" if unicodedata.category(ch) in _MERMAID_ESCAPED else ch for ch in text)
    return f'"{escaped}"'


_MERMAID_SHAPES = {NodeKind.SERVICE: ("[", "]"), NodeKind.TOPIC: ("[(", ")]"), NodeKind.CONSUMER_GROUP: ("([", "])")}


def to_mermaid(topology: Topology) -> str:
    """A Mermaid flowchart; node ids are generated (n0, n1, …) and labels entity-escaped, partial edges dotted."""
    ids = {n.id: f"n{i}" for i, n in enumerate(topology.nodes)}
    lines = ["flowchart LR"]
    for n in topology.nodes:
        left, right = _MERMAID_SHAPES[n.kind]
        lines.append(f"  {ids[n.id]}{left}{_mermaid_label(n.name)}{right}")
    for e in topology.edges:
        if e.source not in ids or e.target not in ids:
            continue
        arrow = "-.->" if e.partial else "-->"
        lines.append(f"  {ids[e.source]} {arrow}|{_mermaid_label(f'{e.messages} msgs')}| {ids[e.target]}")
    return "\n".join(lines) + "\n"


# --- lineage ---------------------------------------------------------------------------------------------

def _lineage_label(node: LineageNode) -> str:
    if node.kind is LineageNodeKind.EVENT:
        return f"{node.service} → {node.topic or '?'}: {node.event_type or 'message'}"
    return f"{node.service} handles ({node.duration_ns / 1e6:.1f} ms)"


def _queue_label(queue_ns: int | None, relation: str) -> str:
    return relation if queue_ns is None else f"{relation}, {queue_ns / 1e6:.1f} ms queued"


def lineage_to_dot(lineage: Lineage) -> str:
    """A lineage DAG as Graphviz DOT: events as boxes, handlings as ellipses, edges labelled with the relation
    and queue time; the looked-up nodes bold, failed ones red."""
    lines = ["digraph lineage {", "  rankdir=LR;"]
    for n in lineage.nodes:
        shape = "box" if n.kind is LineageNodeKind.EVENT else "ellipse"
        extra = (', style="bold"' if n.seed else "") + (', color="red"' if n.error else "")
        lines.append(f"  {quote_id(n.id)} [label={quote(_lineage_label(n))}, shape={shape}{extra}];")
    for e in lineage.edges:
        label = _queue_label(e.queue_ns, e.relation.value)
        lines.append(f"  {quote_id(e.source)} -> {quote_id(e.target)} [label={quote(label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def lineage_to_mermaid(lineage: Lineage) -> str:
    """A lineage DAG as a Mermaid flowchart (generated ids, escaped labels)."""
    ids = {n.id: f"n{i}" for i, n in enumerate(lineage.nodes)}
    lines = ["flowchart LR"]
    for n in lineage.nodes:
        left, right = ("[", "]") if n.kind is LineageNodeKind.EVENT else ("(", ")")
        lines.append(f"  {ids[n.id]}{left}{_mermaid_label(_lineage_label(n))}{right}")
    for e in lineage.edges:
        if e.source in ids and e.target in ids:
            label = _mermaid_label(_queue_label(e.queue_ns, e.relation.value))
            lines.append(f"  {ids[e.source]} -->|{label}| {ids[e.target]}")
    return "\n".join(lines) + "\n"


# --- AsyncAPI ---------------------------------------------------------------------------------------------

_KEY_RE = re.compile(r"[^A-Za-z0-9_.\-]")


def _component_key(text: str, taken: set[str] | None = None) -> str:
    """AsyncAPI component keys must match ^[a-zA-Z0-9\\.\\-_]+$; with `taken`, a key two names would share
    gets a numeric suffix (and is recorded as taken)."""
    key = _KEY_RE.sub("_", text) or "_"
    if taken is None:
        return key
    unique, n = key, 2
    while unique in taken:
        unique, n = f"{key}-{n}", n + 1
    taken.add(unique)
    return unique


_SCALARS: tuple[tuple[type, str], ...] = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
                                         (type(None), "null"))


def infer_json_schema(value: Any) -> dict[str, Any]:
    """A JSON Schema describing one sample value's structure (types, properties, array items)."""
    for py_type, name in _SCALARS:
        if isinstance(value, py_type):
            return {"type": name}
    if isinstance(value, list):
        schema: dict[str, Any] = {"type": "array"}
        if value:
            schema["items"] = merge_schemas([infer_json_schema(v) for v in value])
        return schema
    if isinstance(value, dict):
        return {"type": "object", "properties": {str(k): infer_json_schema(v) for k, v in value.items()}}
    return {}


def merge_schemas(schemas: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Merge schemas of several samples: objects merge properties (required = in every sample), other types
    that differ become `anyOf`."""
    distinct: list[dict[str, Any]] = []
    for s in schemas:
        if s not in distinct:
            distinct.append(s)
    if len(distinct) <= 1:
        return distinct[0] if distinct else {}
    if all(s.get("type") == "object" for s in distinct):
        props: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for s in distinct:
            for k, v in s.get("properties", {}).items():
                props[k].append(v)
        required = sorted(set.intersection(*(set(s.get("properties", {})) for s in distinct)))
        merged: dict[str, Any] = {"type": "object",
                                  "properties": {k: merge_schemas(v) for k, v in props.items()}}
        if required:
            merged["required"] = required
        return merged
    return {"anyOf": distinct}


def payload_schema(samples: Iterable[str]) -> dict[str, Any] | None:
    """Schema inferred from sampled JSON payloads (non-JSON samples ignored); None without a usable sample."""
    schemas = []
    for text in samples:
        try:
            schemas.append(infer_json_schema(json.loads(text)))
        except (ValueError, TypeError):
            continue
    return merge_schemas(schemas) if schemas else None


def _operation_sides(topology: Topology, sightings: Iterable[SchemaSighting]) -> dict[str, dict[str, set[str]]]:
    """"send"/"receive" → topic → services, from flows and schema sightings."""
    sides: dict[str, dict[str, set[str]]] = {"send": defaultdict(set), "receive": defaultdict(set)}
    for f in topology.flows:
        if f.producer is not None:
            sides["send"][f.topic].add(f.producer)
        if f.consumer is not None:
            sides["receive"][f.topic].add(f.consumer)
    for s in sightings:
        if s.topic:
            sides["send" if s.role is Role.PRODUCER else "receive"][s.topic].add(s.service)
    return sides


def build_asyncapi(topology: Topology, sightings: Iterable[SchemaSighting] = (),
                   payloads: Mapping[tuple[str, str], Sequence[str]] | None = None,
                   title: str = "Observed event traffic", version: str = "0.0.0") -> dict[str, Any]:
    """An AsyncAPI 3.0.0 document from observed traffic: a channel per topic, a send/receive operation per
    (service, topic), a message per event type seen on it (payload schema from sampled payloads
    `(topic, event type) → JSON strings` when users opted in, else the schema fingerprints as an extension)."""
    payloads = payloads or {}
    sightings = list(sightings)
    fingerprints: dict[tuple[str, str], set[str]] = defaultdict(set)
    for s in sightings:
        if s.topic and s.event_type:
            fingerprints[(s.topic, s.event_type)].add(s.fingerprint)
    types_by_topic: dict[str, set[str]] = defaultdict(set)
    for topic, event_type in list(fingerprints) + list(payloads):
        types_by_topic[topic].add(event_type)

    sides = _operation_sides(topology, sightings)
    topics = sorted({n.name for n in topology.nodes if n.kind is NodeKind.TOPIC} | set(types_by_topic))

    channels: dict[str, Any] = {}
    taken: set[str] = set()
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in topics:
        ckey = _component_key(topic, taken)
        channel_messages: dict[str, Any] = {}
        for event_type in sorted(types_by_topic.get(topic, ())) or [""]:
            mkey = _component_key(f"{topic}.{event_type}" if event_type else f"{topic}.message", taken)
            message: dict[str, Any] = {"name": event_type or "message"}
            schema = payload_schema(payloads.get((topic, event_type), ()))
            message["payload"] = schema if schema is not None else {}
            prints = sorted(fingerprints.get((topic, event_type), ()))
            if prints:
                message["x-eventlens-schema-fingerprints"] = prints
            if event_type:
                message["title"] = event_type
            messages[mkey] = message
            channel_messages[mkey] = {"$ref": f"#/components/messages/{mkey}"}
        channels[ckey] = {"address": topic, "messages": channel_messages}
        for action in ("send", "receive"):
            for service in sorted(sides[action].get(topic, ())):
                operations[_component_key(f"{service}.{action}.{topic}", taken)] = {
                    "action": action,
                    "channel": {"$ref": f"#/channels/{ckey}"},
                    "messages": [{"$ref": f"#/channels/{ckey}/messages/{m}"} for m in channel_messages],
                    "x-eventlens-service": service,
                }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": title, "version": version,
                 "description": "Inferred by eventlens from observed Kafka traffic."},
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def asyncapi_yaml(document: Mapping[str, Any]) -> str:
    """The document as YAML (key order kept)."""
    return yaml.safe_dump(dict(document), sort_keys=False, allow_unicode=True)


def asyncapi_json(document: Mapping[str, Any]) -> str:
    """The document as JSON."""
    return json.dumps(document, indent=2) + "\n"


GRAPH_EXPORTERS: dict[str, Callable[[Topology], str]] = {
    "graphml": to_graphml, "gexf": to_gexf, "dot": to_dot, "mermaid": to_mermaid, "json": to_json, "csv": to_csv,
}
"""Formats that need only the topology; the AsyncAPI ones also need sightings and payload samples."""
