"""Pure row builders: model types to table and chart rows, and labels for people."""

from __future__ import annotations

from eventlens.collector.model import (
    BlastRadius,
    CouplingReport,
    GroupStatus,
    LagSample,
    LagStatus,
    Lineage,
    LineageNode,
    LineageNodeKind,
    Messaging,
    NodeKind,
    PartitionStatus,
    ServiceCoupling,
    SpanKind,
    SpanLink,
    SpanRecord,
    Topology,
    TopologyEdge,
    TopologyNode,
)
from eventlens.dashboard import tables

T0 = 1_780_000_000_000_000_000


def _span(span_id: str, *, kind: SpanKind = SpanKind.PRODUCER, start: int = 0, trace: str = "t1",
          event_type: str | None = None, attributes: dict[str, object] | None = None) -> SpanRecord:
    return SpanRecord(trace_id=trace, span_id=span_id, parent_span_id=None, name=f"send {span_id}", kind=kind,
                      service="svc", start_ns=T0 + start, end_ns=T0 + start + 1_000_000,
                      links=(SpanLink("t0", "s0"),), messaging=Messaging(topic="orders", event_type=event_type),
                      attributes=attributes or {}, resource={"service.name": "svc"})  # type: ignore[arg-type]


def _partition(p: int, lag: int, drain: float | None) -> PartitionStatus:
    return PartitionStatus(group="g", topic="orders", partition=p, status=LagStatus.OK, lag_offsets=lag,
                           lag_seconds=lag / 10, lag_seconds_estimated=p == 1, time_to_drain_s=drain, complete=1.0)


def _group(name: str, status: LagStatus, lag: int, parts: tuple[PartitionStatus, ...] = ()) -> GroupStatus:
    return GroupStatus(group=name, status=status, partitions=parts, total_lag=lag, max_lag_seconds=None,
                       complete=1.0)


def test_attribute_rows_list_span_then_resource_attributes_and_links_as_text() -> None:
    """Every attribute becomes a text row (arrays joined), then resource attributes, then links."""
    rows = tables.attribute_rows(_span("a", attributes={"b": (1, 2), "a": True}))
    assert rows == [
        {"scope": "span", "key": "a", "value": "True"},
        {"scope": "span", "key": "b", "value": "1, 2"},
        {"scope": "resource", "key": "service.name", "value": "svc"},
        {"scope": "link", "key": "link 1", "value": "t0/s0"},
    ]


def test_recent_events_keep_the_first_producer_span_of_each_trace() -> None:
    """One entry per recent flow (its originating event), newest flow first, producers only."""
    spans = [_span("b", start=2), _span("a", start=1), _span("c", start=3, trace="t2"),
             _span("d", kind=SpanKind.CONSUMER, start=4, trace="t3")]
    assert [s.span_id for s in tables.recent_events(spans)] == ["c", "a"]


def test_event_title_names_type_producer_and_topic() -> None:
    """A recent event reads "OrderPlaced from svc → orders"; without a type it is "event from …"."""
    assert tables.event_title(_span("a", event_type="OrderPlaced")) == "OrderPlaced from svc → orders"
    assert tables.event_title(_span("a")) == "event from svc → orders"


def test_lag_rows_count_an_uncommitted_partition_as_fully_behind() -> None:
    """No committed offset: lag is the end offset; otherwise end − committed, never negative."""
    samples = [LagSample("g", "orders", 0, None, 40, T0), LagSample("g", "orders", 1, 50, 45, T0),
               LagSample("g", "other", 0, 1, 2, T0)]
    rows = tables.lag_rows(samples, topic="orders")
    assert [(r["partition"], r["lag_offsets"]) for r in rows] == [("orders[0]", 40), ("orders[1]", 0)]


def test_group_rows_put_the_worst_group_first() -> None:
    """Groups are ordered by severity, then name."""
    rows = tables.group_rows([_group("b", LagStatus.OK, 1), _group("a", LagStatus.ERR, 9)])
    assert [(r["group"], r["status"]) for r in rows] == [("a", "ERR"), ("b", "OK")]


def test_partition_rows_mark_estimated_lag_seconds() -> None:
    """Estimated lag in seconds is prefixed with `~`."""
    rows = tables.partition_rows(_group("g", LagStatus.OK, 30, (_partition(1, 20, 5.0), _partition(0, 10, None))))
    assert [(r["partition"], r["lag"], r["time_to_drain"]) for r in rows] == [(0, "1.0 s", "—"), (1, "~2.0 s", "5.0 s")]


def test_drain_seconds_is_the_slowest_lagging_partition() -> None:
    """The group has drained when its slowest lagging partition has; caught-up partitions do not count."""
    group = _group("g", LagStatus.WARN, 30, (_partition(0, 10, 5.0), _partition(1, 20, 50.0), _partition(2, 0, 99.0)))
    assert tables.drain_seconds(group) == 50.0


def test_worst_group_skips_groups_not_found() -> None:
    """NOTFOUND groups are not "worst"; with none left the answer is None."""
    assert tables.worst_group([_group("x", LagStatus.NOTFOUND, 0)]) is None
    worst = tables.worst_group([_group("a", LagStatus.OK, 500), _group("b", LagStatus.WARN, 1)])
    assert worst is not None and worst.group == "b"


def test_durations_read_naturally() -> None:
    """Durations show in the largest sensible unit; unknown is a dash."""
    assert [str(tables.Duration(s)) for s in (None, 0.25, 4.0, 42.0, 125.0, 7260.0, 90000.0)] == [
        "—", "250 ms", "4.0 s", "42 s", "2 min 5 s", "2 h 1 min", "1 d 1 h"]


def test_traffic_counts_produced_messages_and_errors_over_all_traffic() -> None:
    """Throughput counts produce edges only; the error rate is errors over every edge's messages."""
    topo = Topology(0, 60, nodes=(TopologyNode("topic:o", NodeKind.TOPIC, "o"),), edges=(
        TopologyEdge("service:a", "topic:o", "o", 10, 2.0, 0, 0),
        TopologyEdge("topic:o", "service:b", "o", 10, 2.0, 5, 0)))
    figures = tables.traffic(topo)
    assert (figures.topics, figures.messages, figures.produced_per_s, figures.error_rate) == (1, 10, 2.0, 0.25)


def test_topology_edge_rows_use_names_and_keep_only_chosen_edges() -> None:
    """Rows name nodes by their names (not ids) and follow the graph's edge selection."""
    topo = Topology(0, 60, nodes=(TopologyNode("service:a", NodeKind.SERVICE, "a"),
                                  TopologyNode("topic:o", NodeKind.TOPIC, "o")),
                    edges=(TopologyEdge("service:a", "topic:o", "o", 3, 0.05, 0, 9),
                           TopologyEdge("topic:o", "service:b", "o", 1, 0.01, 0, 3, partial=True,
                                        partial_reason="producer not instrumented")))
    rows = tables.topology_edge_rows(topo, keep=[("topic:o", "service:b")])
    assert [(r["from"], r["to"], r["partial"]) for r in rows] == [("o", "service:b", "producer not instrumented")]


def test_lineage_rows_name_each_services_sdk_language() -> None:
    """Each hop row says which SDK language emitted it, or None when the span did not say."""
    lineage = Lineage(nodes=(
        LineageNode("a", LineageNodeKind.EVENT, "t", "a", "orders", T0, 1, language="java"),
        LineageNode("b", LineageNodeKind.HANDLING, "t", "b", "billing", T0 + 1, 1)))
    assert [(r["service"], r["language"]) for r in tables.lineage_node_rows(lineage)] == [
        ("orders", "java"), ("billing", None)]


def test_lineage_rows_and_timeline_follow_start_order() -> None:
    """Hops are listed by start time; the timeline starts at 0 ms."""
    def node(nid: str, start: int) -> LineageNode:
        return LineageNode(nid, LineageNodeKind.EVENT, "t", nid, "svc", T0 + start, 2_000_000, event_type="E")
    lineage = Lineage(nodes=(node("b", 3_000_000), node("a", 0)))
    assert [r["span_id"] for r in tables.lineage_node_rows(lineage)] == ["a", "b"]
    timeline = tables.lineage_timeline_rows(lineage)
    assert [(r["start_ms"], r["end_ms"]) for r in timeline] == [(0.0, 2.0), (3.0, 5.0)]
    assert timeline[0]["hop"] == "01 svc · event E"


def test_coupling_matrix_rows_are_long_form_with_zeros() -> None:
    """Every (producer, consumer) pair appears, zeros included, for the heatmap."""
    report = CouplingReport(0, 1, matrix_services=("a", "b"), matrix=((0, 3), (1, 0)))
    rows = tables.coupling_matrix_rows(report)
    assert [(r["producer"], r["consumer"], r["messages"]) for r in rows] == [
        ("a", "a", 0), ("a", "b", 3), ("b", "a", 1), ("b", "b", 0)]


def test_blast_radius_rows_list_producers_direct_then_downstream() -> None:
    """The reach of an event type reads producer → direct consumer → downstream; unknown types give nothing."""
    report = CouplingReport(0, 1, services=(ServiceCoupling("a", 0, 1, 1, 0, 0.0),),
                            blast_radius=(BlastRadius("E", ("a",), ("b",), ("c",)),))
    assert tables.blast_radius_rows(report, "E") == [
        {"service": "a", "reach": "producer"}, {"service": "b", "reach": "direct consumer"},
        {"service": "c", "reach": "downstream"}]
    assert tables.blast_radius_rows(report, "Nope") == []
