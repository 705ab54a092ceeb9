"""Pure builders from model types to graphs, rows and labels."""

from __future__ import annotations

from eventlens.collector.model import (
    GroupStatus,
    LagSample,
    LagStatus,
    Messaging,
    PartitionStatus,
    SpanKind,
    SpanLink,
    SpanRecord,
    StatusCode,
)
from eventlens.dashboard import graphs

T0 = 1_780_000_000_000_000_000


def _span(span_id: str, *, parent: str | None = None, kind: SpanKind = SpanKind.INTERNAL, service: str = "svc",
          start: int = 0, trace: str = "t1", event_type: str | None = None, links: tuple[SpanLink, ...] = (),
          status: StatusCode = StatusCode.UNSET, attributes: dict[str, object] | None = None) -> SpanRecord:
    return SpanRecord(trace_id=trace, span_id=span_id, parent_span_id=parent, name=f"op-{span_id}", kind=kind,
                      service=service, start_ns=T0 + start, end_ns=T0 + start + 1_000_000, status=status,
                      links=links, messaging=Messaging(topic="orders", event_type=event_type),
                      attributes=attributes or {})  # type: ignore[arg-type]


def _partition(p: int, lag: int, drain: float | None, status: LagStatus = LagStatus.OK) -> PartitionStatus:
    return PartitionStatus(group="g", topic="orders", partition=p, status=status, lag_offsets=lag,
                           lag_seconds=lag / 10, lag_seconds_estimated=False, time_to_drain_s=drain, complete=1.0)


def _group(name: str, status: LagStatus, lag: int, parts: tuple[PartitionStatus, ...] = ()) -> GroupStatus:
    return GroupStatus(group=name, status=status, partitions=parts, total_lag=lag, max_lag_seconds=None,
                       complete=1.0)


def test_trace_graph_draws_parent_and_link_edges() -> None:
    """Parent → child is a solid edge; a link (batch consume) is a dashed edge from the linked span."""
    send = _span("a", kind=SpanKind.PRODUCER)
    process = _span("b", parent="a", kind=SpanKind.CONSUMER, start=5)
    linked = _span("c", trace="t2", links=(SpanLink("t1", "a"),), start=9)
    graph = graphs.trace_graph([send, process, linked])
    assert set(graph.edges) == {(("t1", "a"), ("t1", "b")), (("t1", "a"), ("t2", "c"))}
    assert graph.edges[("t1", "a"), ("t2", "c")]["partial"] is True
    assert graph.nodes[("t1", "a")]["kind"] == "event"


def test_trace_graph_ignores_parents_it_does_not_hold() -> None:
    """A span whose parent was not stored is a root, not an error."""
    graph = graphs.trace_graph([_span("b", parent="missing")])
    assert list(graph.nodes) == [("t1", "b")] and not graph.edges


def test_timeline_rows_start_at_zero_in_start_order() -> None:
    """Hops are ordered by start and measured in ms from the first one."""
    rows = graphs.timeline_rows([_span("b", start=3_000_000), _span("a", start=0)])
    assert [r["start_ms"] for r in rows] == [0.0, 3.0]
    assert str(rows[0]["hop"]).startswith("01 svc")


def test_business_story_lists_produced_event_types_in_order_without_repeats() -> None:
    """The story is the produced event types by time; consumers repeating a type add nothing."""
    spans = [
        _span("c", kind=SpanKind.PRODUCER, start=20, event_type="PaymentCaptured"),
        _span("a", kind=SpanKind.PRODUCER, start=0, event_type="OrderPlaced"),
        _span("b", kind=SpanKind.CONSUMER, start=10, event_type="OrderPlaced"),
    ]
    assert graphs.business_story(spans) == ("OrderPlaced", "PaymentCaptured")


def test_attribute_rows_show_values_as_text_including_arrays() -> None:
    """Every attribute becomes a text row; arrays are joined."""
    span = _span("a", attributes={"b": (1, 2), "a": True})
    rows = graphs.attribute_rows(span)
    assert rows[:2] == [{"scope": "span", "key": "a", "value": "True"}, {"scope": "span", "key": "b", "value": "1, 2"}]


def test_recent_events_keeps_the_newest_producer_span_per_trace() -> None:
    """One entry per recent trace, newest first, producers only."""
    spans = [_span("a", kind=SpanKind.PRODUCER, start=1), _span("b", kind=SpanKind.PRODUCER, start=2),
             _span("c", kind=SpanKind.PRODUCER, start=3, trace="t2"), _span("d", kind=SpanKind.CONSUMER, start=4)]
    assert [s.span_id for s in graphs.recent_events(spans)] == ["c", "b"]


def test_lag_rows_count_an_uncommitted_partition_as_fully_behind() -> None:
    """No committed offset: lag is the end offset; otherwise end − committed, never negative."""
    samples = [LagSample("g", "orders", 0, None, 40, T0), LagSample("g", "orders", 1, 50, 45, T0),
               LagSample("g", "other", 0, 1, 2, T0)]
    rows = graphs.lag_rows(samples, topic="orders")
    assert [(r["partition"], r["lag_offsets"]) for r in rows] == [("orders[0]", 40), ("orders[1]", 0)]


def test_group_rows_put_the_worst_group_first() -> None:
    """Groups are ordered by severity, then name."""
    rows = graphs.group_rows([_group("b", LagStatus.OK, 1), _group("a", LagStatus.ERR, 9)])
    assert [(r["group"], r["status"]) for r in rows] == [("a", "ERR"), ("b", "OK")]


def test_drain_seconds_is_the_slowest_lagging_partition() -> None:
    """The group has drained when its slowest lagging partition has; caught-up partitions do not count."""
    group = _group("g", LagStatus.WARN, 30, (_partition(0, 10, 5.0), _partition(1, 20, 50.0), _partition(2, 0, 99.0)))
    assert graphs.drain_seconds(group) == 50.0


def test_worst_group_skips_groups_not_found() -> None:
    """NOTFOUND groups are not "worst"; with none left the answer is None."""
    assert graphs.worst_group([_group("x", LagStatus.NOTFOUND, 0)]) is None
    worst = graphs.worst_group([_group("a", LagStatus.OK, 500), _group("b", LagStatus.WARN, 1)])
    assert worst is not None and worst.group == "b"


def test_durations_read_naturally() -> None:
    """Durations show in the largest sensible unit; unknown is a dash."""
    assert [str(graphs.Duration(s)) for s in (None, 0.25, 4.0, 42.0, 125.0, 7260.0, 90000.0)] == [
        "—", "250 ms", "4.0 s", "42 s", "2 min 5 s", "2 h 1 min", "1 d 1 h"]
