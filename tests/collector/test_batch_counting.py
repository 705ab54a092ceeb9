"""Batch consumer spans are counted per input, and topology, coupling and lineage agree on one span set."""

from __future__ import annotations

from collections import Counter

from batch_fixture import (
    EXPECTED_DEPENDANTS,
    EXPECTED_FLOWS,
    batch_process_span,
    consumer_spans,
    contract_spans,
)

from eventlens.collector import rollup
from eventlens.collector.analysis.coupling import build_coupling
from eventlens.collector.analysis.lineage import build_lineage, causal_graph
from eventlens.collector.analysis.topology import build_topology
from eventlens.collector.model import (
    EdgeRollup,
    LineageNodeKind,
    LineageRelation,
    SpanLink,
    SpanRecord,
    Topology,
)
from eventlens.instrumentation.attributes import LINK_KIND
from eventlens.testing import T0_NS, messaging, process_span, send_span

WINDOW = (T0_NS - 3600 * 10**9, T0_NS + 3600 * 10**9)
FlowKey = tuple[str | None, str, str | None, str | None]


def nothing_stored(_t: str, _s: str) -> rollup.SpanInfo | None:
    return None


def rollups_in_one_batch(spans: list[SpanRecord]) -> list[EdgeRollup]:
    """What ingest computes when every span arrives in one request."""
    return rollup.plan(spans, nothing_stored, set(), T0_NS).edge_rollups()


def rollups_span_by_span(spans: list[SpanRecord]) -> list[EdgeRollup]:
    """What ingest computes when each span arrives in its own request (earlier ones already stored)."""
    stored: dict[tuple[str, str], rollup.SpanInfo] = {}
    emitters: set[rollup.Emitter] = set()
    out: list[EdgeRollup] = []
    for span in spans:
        batch = rollup.plan([span], lambda t, s: stored.get((t, s)), emitters, T0_NS)
        emitters |= batch.new_emitters
        stored[(span.trace_id, span.span_id)] = rollup.info_of(span)
        out.extend(batch.edge_rollups())
    return out


def flow_counts(topology: Topology) -> dict[FlowKey, int]:
    """Messages per complete flow of a topology."""
    return {(f.producer, f.topic, f.consumer_group, f.consumer): f.messages for f in topology.flows
            if f.consumer is not None and f.messages}


def lineage_counts(spans: list[SpanRecord]) -> dict[FlowKey, int]:
    """Event → handling edges of the causal graph, per (producer, topic, group, consumer)."""
    graph = causal_graph(spans)
    out: Counter[FlowKey] = Counter()
    for u, v in graph.edges():
        src, dst = graph.nodes[u]["data"], graph.nodes[v]["data"]
        if src.kind is LineageNodeKind.EVENT and dst.kind is LineageNodeKind.HANDLING:
            out[(src.service, src.topic or "", dst.consumer_group, dst.service)] += 1
    return dict(out)


def edge_messages(topology: Topology, source: str, target: str) -> int:
    return next(e.messages for e in topology.edges if (e.source, e.target) == (source, target))


def test_batch_process_span_counts_each_linked_message_on_the_topic_to_group_edge():
    """A parentless process span linking three sends is three messages on topic → group, not one."""
    topo = build_topology(rollups_in_one_batch(contract_spans()), *WINDOW)
    assert edge_messages(topo, "topic:orders", "group:billing-g") == 3
    assert edge_messages(topo, "group:billing-g", "service:billing") == 3


def test_topology_pairs_every_input_of_the_contract_spans_with_its_producer():
    """Every flow of the contract span set has the expected count, each producer paired (no partial flow)."""
    topo = build_topology(rollups_in_one_batch(contract_spans()), *WINDOW)
    assert flow_counts(topo) == EXPECTED_FLOWS
    assert not [f for f in topo.flows if f.partial]


def test_rollups_counted_span_by_span_equal_one_batch():
    """Ingest in one request or one request per span yields the same flows."""
    spans = contract_spans()
    one = build_topology(rollups_in_one_batch(spans), *WINDOW)
    many = build_topology(rollups_span_by_span(spans), *WINDOW)
    assert flow_counts(many) == flow_counts(one) == EXPECTED_FLOWS


def test_coupling_gives_every_linked_producer_its_dependants():
    """Producers 2 and 3 of a batch keep their dependants: each producer's Ca counts every consumer of it."""
    report = build_coupling(build_topology(rollups_in_one_batch(contract_spans()), *WINDOW))
    afferent = {s.service: s.afferent for s in report.services if s.service in EXPECTED_DEPENDANTS}
    assert afferent == EXPECTED_DEPENDANTS


def test_coupling_matrix_counts_batch_messages_per_producer():
    """The coupling matrix carries one message from each batch producer to billing."""
    report = build_coupling(build_topology(rollups_in_one_batch(contract_spans()), *WINDOW))
    names = list(report.matrix_services)
    billing = names.index("billing")
    assert [report.matrix[names.index(p)][billing] for p in ("shop-a", "shop-b", "shop-c")] == [1, 1, 1]


def test_lineage_edges_agree_with_topology_flows():
    """Lineage's event → handling edges, grouped like topology flows, have the same counts."""
    spans = contract_spans()
    assert lineage_counts(spans) == flow_counts(build_topology(rollups_in_one_batch(spans), *WINDOW))


def test_lineage_inputs_of_the_batch_handling_equal_its_rollup_count():
    """The batch process span's lineage input count is the number of messages the rollups count for it."""
    spans = contract_spans()
    batch = next(s for s in spans if s.service == "billing")
    graph = causal_graph(spans)
    assert graph.nodes[f"handling:{batch.trace_id}:{batch.span_id}"]["inputs"] == 3


def test_lineage_of_a_batch_reaches_every_producer_through_batch_edges():
    """From the batch handling, lineage reaches the three sends, each joined by a BATCH edge."""
    spans = contract_spans()
    batch = next(s for s in spans if s.service == "billing")
    lineage = build_lineage(spans, [(batch.trace_id, batch.span_id)])
    into = [e for e in lineage.edges if e.target == f"handling:{batch.trace_id}:{batch.span_id}"]
    assert len(into) == 3 and {e.relation for e in into} == {LineageRelation.BATCH}


def test_batch_message_count_above_the_links_counts_the_rest_as_partial():
    """A batch of 5 with 3 linked records: 3 paired messages and 2 from an uninstrumented producer."""
    sends = [send_span(service=f"shop-{i}") for i in range(3)]
    batch = batch_process_span(sends, service="billing", group="g", batch_count=5)
    topo = build_topology(rollups_in_one_batch([*sends, batch]), *WINDOW)
    assert edge_messages(topo, "topic:orders", "group:g") == 5
    assert sum(f.messages for f in topo.flows if f.consumer == "billing" and f.producer is None) == 2


def test_batch_process_span_without_links_counts_its_batch_message_count():
    """A batch process span whose records carried no trace context is batch-count partial messages."""
    batch = batch_process_span([send_span()], service="billing", group="g", batch_count=4)
    batch = SpanRecord(**{**{f: getattr(batch, f) for f in SpanRecord.__dataclass_fields__}, "links": ()})
    [row] = [r for r in rollups_in_one_batch([batch]) if r.consumer == "billing"]
    assert (row.producer, row.count) == (None, 4)


def test_batch_linked_messages_are_pending_until_their_producers_arrive():
    """Links to producers not stored yet wait in pending, one consumption per link."""
    sends = [send_span(service=f"shop-{i}") for i in range(3)]
    batch = rollup.plan([batch_process_span(sends, service="billing", group="g")], nothing_stored, set(), T0_NS)
    assert sorted(c.producer_span_id for c in batch.pending) == sorted(s.span_id for s in sends)


def test_batch_bytes_are_each_producer_message_size():
    """A batch's bytes on the consumer edge are the sum of its producers' message sizes."""
    sends = [send_span(service="shop", messaging=messaging(topic="orders", body_size=size)) for size in (10, 20, 30)]
    [row] = [r for r in rollups_in_one_batch([*sends, batch_process_span(sends, service="billing", group="g")])
             if r.consumer == "billing"]
    assert (row.count, row.bytes) == (3, 60)


def test_cloudevents_origin_link_is_not_a_consumed_message():
    """A process span parented on its send, with a CloudEvents origin link to another send, is one message."""
    origin, send = send_span(service="origin"), send_span(service="shop")
    proc = process_span(send, service="billing", group="g",
                        links=(SpanLink(origin.trace_id, origin.span_id, {LINK_KIND: "cloudevents.origin"}),))
    rows = [r for r in rollups_in_one_batch([origin, send, proc]) if r.consumer == "billing"]
    assert [(r.producer, r.count) for r in rows] == [("shop", 1)]
    assert causal_graph([origin, send, proc]).nodes[f"handling:{proc.trace_id}:{proc.span_id}"]["inputs"] == 1


def test_process_span_with_a_producer_parent_and_links_counts_each_once():
    """A process span parented on one send and linking it and two more counts three messages."""
    sends = [send_span(service=f"shop-{i}") for i in range(3)]
    proc = process_span(sends[0], service="billing", group="g",
                        links=tuple(SpanLink(s.trace_id, s.span_id) for s in sends))
    rows = [r for r in rollups_in_one_batch([*sends, proc]) if r.consumer == "billing"]
    assert sorted((r.producer, r.count) for r in rows) == [("shop-0", 1), ("shop-1", 1), ("shop-2", 1)]
    assert lineage_counts([*sends, proc]) == {(f"shop-{i}", "orders", "g", "billing"): 1 for i in range(3)}


def test_the_fixture_has_one_batch_one_poll_and_parented_process_spans():
    """The contract's span set holds the shapes it is about (guards the fixture itself)."""
    consumers = consumer_spans(contract_spans())
    assert sorted((s.service, len(s.links), s.parent_span_id is not None) for s in consumers) == [
        ("billing", 3, False), ("ledger", 0, True), ("ledger", 0, True), ("warehouse", 3, False)]
