"""The analysis query API over the real SQLite store: spans written through `write_spans`, rollups and
sightings kept by the store at ingest, analyses read back through the storage protocol."""

from __future__ import annotations

import json

import networkx as nx
import pytest
from analysis_builders import T0, process, send

from eventlens.collector.analysis import query
from eventlens.collector.model import NS_PER_MINUTE, Messaging, Operation, SpanKind, SpanLink, SpanRecord
from eventlens.collector.storage.protocol import open_store
from eventlens.instrumentation.attributes import CORRELATION_ID, PAYLOAD, REPLY_TO

WINDOW = (T0 - NS_PER_MINUTE, T0 + 10 * NS_PER_MINUTE)


def _with(span: SpanRecord, **fields) -> SpanRecord:
    from dataclasses import replace

    return replace(span, messaging=replace(span.messaging, **fields))


def shop_spans() -> dict[str, SpanRecord]:
    """orders → OrderPlaced (payload opted in) → billing (parent) and audit (link only, own trace);
    billing → InvoiceIssued → mailer (batch poll only); checkout ↔ pricing request/reply."""
    placed = _with(send("orders", "orders.placed", event_type="OrderPlaced", event_id="evt-1", key="order-7",
                        offset=41, at_ms=0, attrs={PAYLOAD: '{"order": 7, "total": 12.5}'}),
                   schema_fingerprint="json:aaa", body_size=30)
    billing = _with(process("billing", placed, group="billing", at_ms=12, took_ms=5), offset=41, partition=0,
                    schema_fingerprint="json:aaa")
    audit = process("audit", placed, group="audit", parented=False, at_ms=30)
    invoice = send("billing", "invoices", trace=billing.trace_id, parent=billing.span_id,
                   event_type="InvoiceIssued", at_ms=15)
    other_invoice = send("billing", "invoices", event_type="InvoiceIssued", at_ms=16)
    poll = SpanRecord(trace_id="f" * 32, span_id="e" * 16, parent_span_id=None, name="poll invoices",
                      kind=SpanKind.CLIENT, service="mailer", start_ns=T0 + 18_000_000, end_ns=T0 + 20_000_000,
                      links=(SpanLink(invoice.trace_id, invoice.span_id),
                             SpanLink(other_invoice.trace_id, other_invoice.span_id)),
                      messaging=Messaging(system="kafka", operation=Operation.RECEIVE, topic="invoices",
                                          consumer_group="mailer", batch_count=2))
    request = send("checkout", "pricing.requests", attrs={REPLY_TO: "pricing.replies", CORRELATION_ID: "c-1"},
                   at_ms=100)
    priced = process("pricing", request, group="pricing", at_ms=103)
    reply = send("pricing", "pricing.replies", trace=priced.trace_id, parent=priced.span_id,
                 attrs={CORRELATION_ID: "c-1"}, at_ms=104)
    back = process("checkout", reply, group="checkout", at_ms=107, attrs={CORRELATION_ID: "c-1"})
    return {"placed": placed, "billing": billing, "audit": audit, "invoice": invoice,
            "other_invoice": other_invoice, "poll": poll, "request": request, "priced": priced, "reply": reply,
            "back": back}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    """A real store (SQLite, and PostgreSQL in the postgres tier) holding the shop's spans."""
    url = (request.getfixturevalue("postgres_dsn") if request.param == "postgres"
           else f"sqlite:///{tmp_path / 'eventlens.db'}")
    s = open_store(url)
    s.write_spans(list(shop_spans().values()))
    yield s
    s.close()


def test_topology_pairs_parent_link_and_batch_consumers_from_rollups(store):
    """Parent-child, link-only and poll-batch consumers all appear as consuming edges of their topics."""
    topo = query.topology(store, *WINDOW)
    edges = {(e.source, e.target): e for e in topo.edges}
    assert edges[("topic:orders.placed", "group:billing")].messages == 1
    assert edges[("topic:orders.placed", "group:audit")].messages == 1
    assert edges[("topic:invoices", "group:mailer")].messages == 2
    assert not edges[("topic:orders.placed", "group:audit")].partial
    assert edges[("topic:orders.placed", "group:billing")].latency.p50_s is not None


def test_lineage_by_event_id_crosses_traces(store):
    """From an event id: the parented and the link-only consumer, the invoice, and the batch that read it."""
    lineage = query.lineage(store, event_id="evt-1")
    services = {n.service for n in lineage.nodes}
    assert {"orders", "billing", "audit", "mailer"} <= services
    assert lineage.event_types[:2] == ("OrderPlaced", "InvoiceIssued")
    assert len(lineage.trace_ids) >= 3
    assert "billing consumed it after 12 ms" in lineage.text


@pytest.mark.parametrize("lookup", [
    {"key": "order-7"}, {"topic": "orders.placed", "partition": 0, "offset": 41}, {"trace_id": "trace"}])
def test_lineage_by_key_offset_or_trace_finds_the_same_event(store, lookup):
    """Key, topic/partition/offset and trace id lookups reach the same OrderPlaced event."""
    if "trace_id" in lookup:
        lookup = {"trace_id": shop_spans_trace(store)}
    lineage = query.lineage(store, **lookup)
    assert "OrderPlaced" in lineage.event_types
    assert any(n.seed for n in lineage.nodes)


def shop_spans_trace(store) -> str:
    return store.find_spans(event_id="evt-1")[0].trace_id


def test_lineage_lookup_without_criteria_is_an_error(store):
    """Calling lineage with nothing to look up raises ValueError (the CLI and API turn it into a 400)."""
    with pytest.raises(ValueError, match="lineage needs"):
        query.lineage(store)


def test_lineage_of_unknown_event_is_empty(store):
    """An unknown event id gives an empty lineage."""
    assert query.lineage(store, event_id="nope").nodes == ()


def test_coupling_reads_rollups_and_request_reply_spans(store):
    """Coupling sees the service graph and the checkout ↔ pricing request/reply pair."""
    report = query.coupling(store, *WINDOW)
    services = {s.service: s for s in report.services}
    assert services["orders"].afferent == 2  # billing and audit consume its events
    (pair,) = report.temporal
    assert (pair.requester, pair.replier, pair.pairs, pair.within_window) == ("checkout", "pricing", 1, 1)
    assert ("checkout", "pricing") in {(a, b) for a, b in _pairs(report)}


def _pairs(report):
    names = report.matrix_services
    return [(names[i], names[j]) for i, row in enumerate(report.matrix) for j, v in enumerate(row) if v]


def test_schemas_come_from_the_stores_sightings(store):
    """The fingerprinted OrderPlaced is one version, produced by orders and consumed by billing."""
    report = query.schemas(store, *WINDOW)
    (et,) = report.event_types
    assert (et.event_type, et.versions[0].producers, et.versions[0].consumers) == (
        "OrderPlaced", ("orders",), ("billing",))


def test_schemas_reads_a_deprecations_file(store, tmp_path):
    """A deprecations YAML path is read; a version used after its date is reported."""
    path = tmp_path / "deprecations.yaml"
    path.write_text("- {event_type: OrderPlaced, version: v1, deprecated_after: 2020-01-01}\n")
    (violation,) = query.schemas(store, *WINDOW, deprecations=str(path)).violations
    assert violation.producers == ("orders",)


@pytest.mark.parametrize("fmt", sorted(query.EXPORT_FORMATS))
def test_every_export_format_renders_from_the_store(store, fmt):
    """Each format renders the window's graph with the shop's topics in it."""
    text = query.export_graph(store, fmt, *WINDOW)
    assert "orders.placed" in text


def test_json_export_from_the_store_is_a_networkx_graph(store):
    """The JSON export rebuilds the store's topology graph."""
    graph = nx.node_link_graph(json.loads(query.export_graph(store, "json", *WINDOW)), edges="edges")
    assert graph.has_edge("service:orders", "topic:orders.placed")


def test_asyncapi_export_uses_opted_in_payload_samples(store):
    """The payload attribute of a send span shapes the message schema in the AsyncAPI document."""
    doc = json.loads(query.export_graph(store, "asyncapi-json", *WINDOW))
    payload = doc["components"]["messages"]["orders.placed.OrderPlaced"]["payload"]
    assert payload["properties"] == {"order": {"type": "integer"}, "total": {"type": "number"}}


def test_unknown_export_format_is_rejected(store):
    """An unknown format raises ValueError naming the valid ones."""
    with pytest.raises(ValueError, match="graphml"):
        query.export_graph(store, "png", *WINDOW)


def test_lineage_through_the_store_is_bounded(tmp_path):
    """A long chain stops at max_nodes and says so; the loader stays within its span budget."""
    s = open_store(f"sqlite:///{tmp_path / 'chain.db'}")
    try:
        record = send("s0", "t0", event_id="start")
        spans = [record]
        for i in range(1, 40):
            handle = process(f"s{i}", record, at_ms=i, parented=i % 2 == 0)
            record = send(f"s{i}", f"t{i}", trace=handle.trace_id, parent=handle.span_id, at_ms=i)
            spans += [handle, record]
        s.write_spans(spans)
        lineage = query.lineage(s, event_id="start", max_nodes=6)
        assert lineage.truncated and len(lineage.nodes) == 6
        assert lineage.nodes[0].service == "s0"
        gathered = query.gather_lineage_spans(s, s.find_spans(event_id="start"), max_spans=10)
        assert len(gathered) == 10
        assert not query.lineage(s, event_id="start", max_nodes=200).truncated
    finally:
        s.close()


def _mailer_poll(store):
    """The stored poll span of the mailer and the two invoices it fetched (ids as stored)."""
    poll = next(s for s in store.get_trace("f" * 32) if s.span_id == "e" * 16)
    invoice, other = (store.get_span(link.trace_id, link.span_id) for link in poll.links)
    return poll, invoice, other


def test_lineage_through_the_store_does_not_load_a_polls_other_records(store):
    """The invoice's lineage reaches the mailer's poll but neither loads nor shows the other invoice it fetched."""
    poll, invoice, other = _mailer_poll(store)
    gathered = {(s.trace_id, s.span_id) for s in query.gather_lineage_spans(store, [invoice], max_spans=1000)}
    assert (poll.trace_id, poll.span_id) in gathered
    assert (other.trace_id, other.span_id) not in gathered
    lineage = query.lineage(store, trace_id=invoice.trace_id)
    kept = {n.span_id for n in lineage.nodes}
    assert poll.span_id in kept and other.span_id not in kept
    assert "mailer received it after 3.0 ms in a poll of 2 records" in lineage.text


def test_lineage_of_a_poll_trace_loads_its_whole_batch(store):
    """Seeded with the poll span (its trace id), the loader follows its links to every record it fetched."""
    poll, invoice, other = _mailer_poll(store)
    kept = {n.span_id for n in query.lineage(store, trace_id=poll.trace_id).nodes}
    assert {poll.span_id, invoice.span_id, other.span_id} <= kept


def test_topology_carries_the_latest_lag_of_each_group(store):
    """Lag samples in the store land on the topic → group edge: latest per partition, summed; max seconds."""
    from eventlens.collector.model import LagSample

    end = WINDOW[1]
    store.write_lag_samples([
        LagSample("billing", "orders.placed", 0, committed_offset=10, end_offset=50, observed_at_ns=end - 120 * 10**9,
                  lag_seconds=9.0),
        LagSample("billing", "orders.placed", 0, committed_offset=40, end_offset=50, observed_at_ns=end - 60 * 10**9,
                  lag_seconds=2.0),
        LagSample("billing", "orders.placed", 1, committed_offset=5, end_offset=8, observed_at_ns=end - 60 * 10**9,
                  lag_seconds=1.5),
    ])
    edge = next(e for e in query.topology(store, *WINDOW).edges
                if (e.source, e.target) == ("topic:orders.placed", "group:billing"))
    assert (edge.lag_offsets, edge.lag_seconds) == (13, 2.0)
