"""Lineage of one event over crafted spans: parents, links, batches, fan-out, outbox, retries, dead letters,
request/reply, the node bound and the business story."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from analysis_builders import MS, T0, internal, new_id, process, send

from eventlens.collector.analysis.lineage import build_lineage
from eventlens.collector.model import (
    LineageNodeKind,
    LineageRelation,
    Messaging,
    Operation,
    SpanKind,
    SpanLink,
    SpanRecord,
)
from eventlens.collector.otlp import decode_traces
from eventlens.instrumentation.attributes import CORRELATION_ID, DEAD_LETTER, OUTBOX, REPLY_TO, RETRY_ATTEMPT

FIXTURES = Path(__file__).resolve().parents[2] / "interop" / "fixtures"


def _key(span):
    return (span.trace_id, span.span_id)


def _relations(lineage):
    ids = {n.id: n for n in lineage.nodes}
    return {(ids[e.source].service, ids[e.target].service, e.relation) for e in lineage.edges}


def _shop():
    """orders → OrderPlaced → payments → PaymentCaptured → shipping, all parent-child in one trace."""
    placed = send("orders", "orders.placed", event_type="OrderPlaced", event_id="evt-1", at_ms=0)
    pay = process("payments", placed, group="payments", at_ms=12, took_ms=5)
    work = internal("payments", pay, at_ms=13)
    captured = send("payments", "payments.captured", trace=pay.trace_id, parent=work.span_id,
                    event_type="PaymentCaptured", at_ms=15)
    ship = process("shipping", captured, group="shipping", at_ms=40, took_ms=2)
    return [placed, pay, work, captured, ship]


def test_parent_chain_gives_events_in_causal_order():
    """A send, its parented consumer, a send made while handling and its consumer form one chain."""
    spans = _shop()
    lineage = build_lineage(spans, [_key(spans[0])])
    assert lineage.event_types == ("OrderPlaced", "PaymentCaptured")
    assert [n.kind for n in lineage.nodes] == [LineageNodeKind.EVENT, LineageNodeKind.HANDLING,
                                              LineageNodeKind.EVENT, LineageNodeKind.HANDLING]
    assert _relations(lineage) == {("orders", "payments", LineageRelation.PARENT),
                                   ("payments", "payments", LineageRelation.PRODUCED),
                                   ("payments", "shipping", LineageRelation.PARENT)}


def test_queue_time_is_consume_start_minus_produce_start():
    """The event → handling edge carries queue time; the handling node its duration."""
    spans = _shop()
    lineage = build_lineage(spans, [_key(spans[0])])
    first = next(e for e in lineage.edges if e.relation is LineageRelation.PARENT)
    assert first.queue_ns == 12 * MS
    handling = next(n for n in lineage.nodes if n.id == first.target)
    assert handling.duration_ns == 5 * MS


def test_story_tells_who_sent_what_and_who_consumed_it_when():
    """The story names services, event types, topics and the queue time of each hop."""
    spans = _shop()
    story = build_lineage(spans, [_key(spans[0])]).text
    assert "orders sent OrderPlaced to orders.placed; payments consumed it after 12 ms" in story
    assert "payments sent PaymentCaptured to payments.captured" in story
    assert "shipping consumed it after 25 ms" in story


def test_lineage_from_a_downstream_event_walks_back_upstream():
    """Seeding with the last event still yields the whole chain (relations are followed both ways)."""
    spans = _shop()
    lineage = build_lineage(spans, [_key(spans[3])])
    assert lineage.event_types == ("OrderPlaced", "PaymentCaptured")
    assert [n.seed for n in lineage.nodes].count(True) == 1


def test_link_only_consumer_in_its_own_trace_is_followed():
    """A consumer that only links to the producer (new trace) is paired, and what it sends is followed."""
    placed = send("orders", "orders.placed", event_type="OrderPlaced")
    audit = process("audit", placed, group="audit", parented=False, at_ms=3)
    archived = send("audit", "audit.archived", trace=audit.trace_id, parent=audit.span_id, event_type="Archived",
                    at_ms=4)
    lineage = build_lineage([placed, audit, archived], [_key(placed)])
    assert audit.trace_id != placed.trace_id
    assert ("orders", "audit", LineageRelation.LINK) in _relations(lineage)
    assert lineage.event_types == ("OrderPlaced", "Archived")
    assert set(lineage.trace_ids) == {placed.trace_id, audit.trace_id}


def test_batch_fan_in_keeps_every_input():
    """A handling linking to several sends has a BATCH edge from each, and all inputs are in the lineage."""
    inputs = [send("sensor", "readings", event_type="Reading", at_ms=i) for i in range(3)]
    batch = process("aggregator", None, topic="readings", linked=tuple(inputs), at_ms=10)
    summary = send("aggregator", "summaries", trace=batch.trace_id, parent=batch.span_id, event_type="Summary",
                   at_ms=11)
    lineage = build_lineage([*inputs, batch, summary], [_key(inputs[0])])
    batch_edges = [e for e in lineage.edges if e.relation is LineageRelation.BATCH]
    assert len(batch_edges) == 3
    assert {e.queue_ns for e in batch_edges} == {10 * MS, 9 * MS, 8 * MS}
    assert lineage.event_types == ("Reading", "Summary")
    assert "in a batch of 3" in lineage.text


def test_fan_out_to_two_consumers():
    """One event consumed by two services yields two handling nodes from the same event."""
    placed = send("orders", "orders.placed", event_type="OrderPlaced")
    a = process("billing", placed, group="billing", at_ms=5)
    b = process("shipping", placed, group="shipping", at_ms=7)
    lineage = build_lineage([placed, a, b], [_key(placed)])
    assert {n.service for n in lineage.nodes if n.kind is LineageNodeKind.HANDLING} == {"billing", "shipping"}
    assert "billing consumed it after 5.0 ms" in lineage.text and "shipping consumed it after 7.0 ms" in lineage.text


def test_outbox_relay_is_its_own_relation():
    """A send flagged as an outbox relay under a handling is an OUTBOX step, and the story says so."""
    placed = send("orders", "orders.placed", event_type="OrderPlaced")
    handle = process("billing", placed, group="billing", at_ms=2)
    relay = send("billing", "invoices", trace=handle.trace_id, parent=handle.span_id, event_type="InvoiceIssued",
                 attrs={OUTBOX: True}, at_ms=50)
    lineage = build_lineage([placed, handle, relay], [_key(placed)])
    assert ("billing", "billing", LineageRelation.OUTBOX) in _relations(lineage)
    assert "billing relayed InvoiceIssued through its outbox to invoices" in lineage.text


def test_retries_and_dead_letter_sends_are_distinguished():
    """A failed handling's retry send is RETRY, the retry consumer's dead-letter send is DEAD_LETTER."""
    placed = send("orders", "orders.placed", event_type="OrderPlaced")
    fail1 = process("billing", placed, group="billing", at_ms=1, error=True)
    retry = send("billing", "orders.placed.retry", trace=fail1.trace_id, parent=fail1.span_id,
                 event_type="OrderPlaced", attrs={RETRY_ATTEMPT: 1}, at_ms=2)
    fail2 = process("billing", retry, group="billing-retry", at_ms=1000, error=True)
    dlt = send("billing", "orders.placed.dlt", trace=fail2.trace_id, parent=fail2.span_id,
               event_type="OrderPlaced", attrs={DEAD_LETTER: True}, at_ms=1001)
    lineage = build_lineage([placed, fail1, retry, fail2, dlt], [_key(placed)])
    relations = {e.relation for e in lineage.edges}
    assert {LineageRelation.RETRY, LineageRelation.DEAD_LETTER} <= relations
    assert "billing retried OrderPlaced (attempt 1) on orders.placed.retry" in lineage.text
    assert "billing dead-lettered OrderPlaced to orders.placed.dlt" in lineage.text
    assert next(n for n in lineage.nodes if n.span_id == dlt.span_id).dead_letter


def test_request_reply_through_the_replier_is_a_reply_step():
    """The replier's send carrying the request's correlation id (while handling it) is a REPLY."""
    request = send("checkout", "pricing.requests", event_type="PriceQuery",
                   attrs={REPLY_TO: "pricing.replies", CORRELATION_ID: "c-1"})
    handle = process("pricing", request, group="pricing", at_ms=3)
    reply = send("pricing", "pricing.replies", trace=handle.trace_id, parent=handle.span_id,
                 event_type="PriceQuoted", attrs={CORRELATION_ID: "c-1"}, at_ms=4)
    back = process("checkout", reply, group="checkout", at_ms=6)
    lineage = build_lineage([request, handle, reply, back], [_key(request)])
    assert ("pricing", "pricing", LineageRelation.REPLY) in _relations(lineage)
    assert "pricing replied with PriceQuoted on pricing.replies" in lineage.text


def test_reply_in_a_separate_trace_is_joined_by_correlation_id():
    """With no span path between them, request and reply are still joined by their correlation id."""
    request = send("checkout", "pricing.requests", attrs={REPLY_TO: "pricing.replies", CORRELATION_ID: "c-9"})
    reply = send("pricing", "pricing.replies", attrs={CORRELATION_ID: "c-9"}, at_ms=5)
    lineage = build_lineage([request, reply], [_key(request)])
    assert [e.relation for e in lineage.edges] == [LineageRelation.REPLY]


def test_node_bound_truncates_and_says_so():
    """A lineage larger than max_nodes stops at the bound, nearest nodes first, and is marked truncated."""
    spans = []
    record = send("s0", "t0")
    spans.append(record)
    for i in range(1, 30):
        handle = process(f"s{i}", record, at_ms=i)
        record = send(f"s{i}", f"t{i}", trace=handle.trace_id, parent=handle.span_id, at_ms=i)
        spans += [handle, record]
    lineage = build_lineage(spans, [_key(spans[0])], max_nodes=10)
    assert lineage.truncated
    assert len(lineage.nodes) == 10
    assert lineage.nodes[0].service == "s0"
    assert not build_lineage(spans, [_key(spans[0])], max_nodes=100).truncated


def test_poll_span_is_dropped_when_the_same_service_has_a_process_span():
    """A poll (receive) span linking the batch does not double the hop a process span already shows."""
    a = send("p", "t", at_ms=0)
    b = send("p", "t", at_ms=1)
    poll = SpanRecord(trace_id=new_id(32), span_id=new_id(), parent_span_id=None, name="poll t",
                      kind=SpanKind.CLIENT, service="c", start_ns=T0 + 5 * MS, end_ns=T0 + 6 * MS,
                      links=(SpanLink(a.trace_id, a.span_id), SpanLink(b.trace_id, b.span_id)),
                      messaging=Messaging(operation=Operation.RECEIVE, topic="t", batch_count=2))
    pa = process("c", a, at_ms=6)
    pb = process("c", b, at_ms=7)
    lineage = build_lineage([a, b, poll, pa, pb], [_key(a)])
    kept = {n.span_id for n in lineage.nodes}
    assert poll.span_id not in kept
    assert pa.span_id in kept
    assert len([e for e in lineage.edges if e.source.endswith(a.span_id)]) == 1


def _poll(service, records, *, at_ms=5):
    """A `poll {topic}` CLIENT span (operation receive) in its own trace, linking every record it fetched."""
    return SpanRecord(trace_id=new_id(32), span_id=new_id(), parent_span_id=None, name="poll t",
                      kind=SpanKind.CLIENT, service=service, start_ns=T0 + int(at_ms * MS),
                      end_ns=T0 + int((at_ms + 1) * MS), links=tuple(SpanLink(r.trace_id, r.span_id) for r in records),
                      messaging=Messaging(operation=Operation.RECEIVE, topic="t", batch_count=len(records)))


def test_poll_span_alone_is_the_hop():
    """Without process spans (user code calls poll() only), the poll span is the handling of each record."""
    a = send("p", "t", at_ms=0)
    poll = _poll("c", [a])
    lineage = build_lineage([a, poll], [_key(a)])
    assert [n.span_id for n in lineage.nodes] == [a.span_id, poll.span_id]
    assert [e.relation for e in lineage.edges] == [LineageRelation.LINK]
    assert "c received it after 5.0 ms" in lineage.text


def test_poll_batch_does_not_pull_other_records_into_an_events_lineage():
    """A poll linking 50 records: one record's lineage holds that record and the poll, not the other 49."""
    orders = [send("orders", "t", event_type="OrderPlaced", event_id=f"o-{i}", at_ms=i / 10) for i in range(50)]
    poll = _poll("billing", orders, at_ms=10)
    lineage = build_lineage([*orders, poll], [_key(orders[7])])
    assert [n.span_id for n in lineage.nodes] == [orders[7].span_id, poll.span_id]
    assert lineage.trace_ids == tuple(sorted((orders[7].trace_id, poll.trace_id)))
    assert [e.relation for e in lineage.edges] == [LineageRelation.LINK]
    assert "in a poll of 50 records" in lineage.text
    assert "batch" not in lineage.text


def test_poll_batch_siblings_stay_out_when_process_spans_exist_too():
    """Poll plus a process span per record: each order's lineage stays its own (one hop, no siblings)."""
    orders = [send("orders", "t", event_type="OrderPlaced", at_ms=i) for i in range(3)]
    poll = _poll("billing", orders, at_ms=10)
    handlings = [process("billing", o, group="billing", at_ms=11 + i) for i, o in enumerate(orders)]
    lineage = build_lineage([*orders, poll, *handlings], [_key(orders[1])])
    assert {n.span_id for n in lineage.nodes} == {orders[1].span_id, handlings[1].span_id}
    assert lineage.story == ("orders sent OrderPlaced to t; billing consumed it after 11 ms (handled in 1.0 ms).",)


def test_seeding_with_the_poll_span_shows_its_whole_batch():
    """Looking up the poll span itself (e.g. by its trace id) shows every record it fetched."""
    records = [send("p", "t", at_ms=i) for i in range(3)]
    poll = _poll("c", records)
    lineage = build_lineage([*records, poll], [_key(poll)])
    assert {n.span_id for n in lineage.nodes} == {poll.span_id, *(r.span_id for r in records)}


def test_batch_handled_without_output_does_not_join_its_inputs():
    """A process span handling a batch and producing nothing: one input's lineage holds only it and the handling."""
    inputs = [send("sensor", "readings", event_type="Reading", at_ms=i) for i in range(3)]
    batch = process("archiver", None, topic="readings", linked=tuple(inputs), at_ms=10)
    lineage = build_lineage([*inputs, batch], [_key(inputs[0])])
    assert {n.span_id for n in lineage.nodes} == {inputs[0].span_id, batch.span_id}
    assert "archiver consumed it after 10 ms in a batch of 3" in lineage.text


def test_batch_size_counts_inputs_that_were_not_loaded():
    """A handling's batch size counts every record it links, loaded or not (the store loader skips siblings)."""
    inputs = [send("sensor", "readings", event_type="Reading", at_ms=i) for i in range(3)]
    batch = process("archiver", None, topic="readings", linked=tuple(inputs), at_ms=10)
    lineage = build_lineage([inputs[0], batch], [_key(inputs[0])])
    assert [e.relation for e in lineage.edges] == [LineageRelation.BATCH]
    assert "archiver consumed it after 10 ms in a batch of 3" in lineage.text


def test_send_linking_several_inputs_is_fan_in_and_is_followed():
    """A record produced from several inputs (its send links each) joins them: every input is in the lineage."""
    inputs = [send("sensor", "readings", event_type="Reading", at_ms=i) for i in range(3)]
    summary = send("aggregator", "summaries", event_type="Summary", at_ms=20,
                   links=tuple(SpanLink(i.trace_id, i.span_id) for i in inputs))
    downstream = process("reports", summary, group="reports", at_ms=30)
    for seed in (inputs[0], summary):
        lineage = build_lineage([*inputs, summary, downstream], [_key(seed)])
        assert {n.span_id for n in lineage.nodes} == {summary.span_id, downstream.span_id,
                                                     *(i.span_id for i in inputs)}
        assert lineage.event_types == ("Reading", "Summary")


def test_process_span_with_the_send_as_parent_and_link_is_one_parent_hop():
    """The Java agent's stable shape (parent and link to the same send) gives one PARENT edge, told once."""
    placed = send("orders", "orders.placed", event_type="OrderPlaced")
    handle = process("billing", placed, group="billing", at_ms=4)
    handle = replace(handle, links=(SpanLink(placed.trace_id, placed.span_id),))
    lineage = build_lineage([placed, handle], [_key(placed)])
    assert [(e.relation, e.queue_ns) for e in lineage.edges] == [(LineageRelation.PARENT, 4 * MS)]
    assert lineage.text.count("consumed it") == 1
    assert "in a batch" not in lineage.text


def test_parent_plus_one_more_linked_send_is_a_batch_of_two():
    """A handling parented on one send and linking another has two inputs: PARENT and BATCH, never both on one."""
    a = send("p", "t", at_ms=0)
    b = send("p", "t", at_ms=1)
    handle = replace(process("c", a, at_ms=5), links=(SpanLink(a.trace_id, a.span_id), SpanLink(b.trace_id, b.span_id)))
    lineage = build_lineage([a, b, handle], [_key(handle)])
    assert sorted((e.source.split(":")[2], e.relation) for e in lineage.edges) == sorted(
        [(a.span_id, LineageRelation.PARENT), (b.span_id, LineageRelation.BATCH)])


def test_nodes_carry_the_emitting_services_language():
    """Each node names its SDK's language (resource `telemetry.sdk.language`), None when not reported."""
    placed = replace(send("orders", "t"), resource={"telemetry.sdk.language": "java"})
    handle = replace(process("billing", placed), resource={"telemetry.sdk.language": "python"})
    anonymous = process("audit", placed)
    lineage = build_lineage([placed, handle, anonymous], [_key(placed)])
    assert {n.service: n.language for n in lineage.nodes} == {"orders": "java", "billing": "python", "audit": None}


def test_java_stable_fixture_lineage_has_one_edge_per_hop():
    """On the captured Java agent spans (stable opt-in: poll spans, process spans parented and linked), each
    record's lineage is its own chain event → handling → event → handling, one edge per hop, no poll."""
    spans = []
    for name in ("java_stable_produce", "java_stable_relay", "java_stable_consume"):
        spans += decode_traces((FIXTURES / f"{name}.json").read_bytes(), "application/json")
    first = min((s for s in spans if s.messaging.operation is Operation.SEND and s.service == "java-producer"),
                key=lambda s: s.start_ns)
    lineage = build_lineage(spans, [_key(first)])
    assert [n.kind for n in lineage.nodes] == [LineageNodeKind.EVENT, LineageNodeKind.HANDLING,
                                              LineageNodeKind.EVENT, LineageNodeKind.HANDLING]
    assert len(lineage.edges) == 3
    assert len({(e.source, e.target) for e in lineage.edges}) == 3
    assert [e.relation for e in lineage.edges if e.relation is not LineageRelation.PRODUCED] == [
        LineageRelation.PARENT, LineageRelation.PARENT]
    assert lineage.text.count("consumed it") == 2
    assert lineage.trace_ids == (first.trace_id,)
    assert {n.language for n in lineage.nodes} == {"java"}


def test_unknown_seed_gives_an_empty_lineage():
    """A seed not among the spans yields an empty lineage, not an error."""
    lineage = build_lineage(_shop(), [("0" * 32, "0" * 16)])
    assert lineage.nodes == () and lineage.story == ()


def test_corrupt_parent_cycle_neither_hangs_nor_crashes():
    """Spans whose parents form a loop (bad data) end the ancestor walk; the lineage is still built."""
    from dataclasses import replace

    a = send("p", "t")
    b = internal("p", a)
    looped = replace(a, parent_span_id=b.span_id)
    lineage = build_lineage([looped, b], [_key(looped)])
    assert [n.span_id for n in lineage.nodes] == [a.span_id]


def test_string_valued_flags_are_understood():
    """Flags sent as strings by other SDKs ("true", "2") still mark retries and dead letters."""
    placed = send("orders", "t")
    handle = process("billing", placed)
    retry = send("billing", "t.retry", trace=handle.trace_id, parent=handle.span_id, attrs={RETRY_ATTEMPT: "2"})
    dead = send("billing", "t.dlt", trace=handle.trace_id, parent=handle.span_id, attrs={DEAD_LETTER: "true"})
    nodes = {n.span_id: n for n in build_lineage([placed, handle, retry, dead], [_key(placed)]).nodes}
    assert nodes[retry.span_id].retry_attempt == 2
    assert nodes[dead.span_id].dead_letter


def test_send_without_event_type_takes_it_from_its_consumer():
    """A send span lacking the CloudEvents id/type gets them from the process span of the same message."""
    from dataclasses import replace

    placed = send("orders", "orders.placed")
    handle = process("billing", placed)
    handle = replace(handle, messaging=replace(handle.messaging, event_type="OrderPlaced", event_id="e-1"))
    lineage = build_lineage([placed, handle], [_key(placed)])
    event = next(n for n in lineage.nodes if n.kind is LineageNodeKind.EVENT)
    assert (event.event_type, event.event_id) == ("OrderPlaced", "e-1")
    assert lineage.event_types == ("OrderPlaced",)
    assert "orders sent OrderPlaced to orders.placed" in lineage.text


def test_dead_letter_send_without_type_takes_the_handled_messages_type():
    """A dead-letter (or retry) send lacking an event type re-sends the handled message: it takes its type."""
    placed = send("orders", "orders.placed", event_type="OrderPlaced")
    handle = process("billing", placed)
    dlt = send("billing", "orders.dlt", trace=handle.trace_id, parent=handle.span_id, attrs={DEAD_LETTER: True})
    lineage = build_lineage([placed, handle, dlt], [_key(placed)])
    assert next(n for n in lineage.nodes if n.span_id == dlt.span_id).event_type == "OrderPlaced"
    assert "billing dead-lettered OrderPlaced to orders.dlt" in lineage.text
