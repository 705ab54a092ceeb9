"""Unit tests of the pure rollup rules (pairing, counting once, pending, sightings)."""

from __future__ import annotations

from eventlens.collector import rollup
from eventlens.collector.model import LATENCY_BUCKETS_S, NS_PER_MINUTE, NS_PER_S, Operation, Role, SpanKind
from eventlens.testing import (
    T0_NS,
    messaging,
    poll_span,
    process_span,
    producer_consumer_pair,
    send_span,
    span_record,
)


def nothing_stored(_t: str, _s: str) -> rollup.SpanInfo | None:
    return None


def consumer_rows(batch: rollup.RollupBatch):
    return [r for r in batch.edge_rollups() if r.consumer is not None]


def test_minute_of_floors_to_the_minute():
    """minute_of gives the start of the minute, in nanoseconds."""
    assert rollup.minute_of(5 * NS_PER_MINUTE + 7) == 5 * NS_PER_MINUTE


def test_bucket_bounds_are_inclusive_with_overflow():
    """A latency equal to a bound falls in that bound's bucket; above the last bound, in overflow."""
    assert rollup.bucket_index(0.005) == 0
    assert rollup.bucket_index(0.0051) == 1
    assert rollup.bucket_index(10_000.0) == len(LATENCY_BUCKETS_S)


def test_plan_pairs_process_span_with_parent_in_batch():
    """A process span whose parent send span is in the batch makes a paired consumer edge."""
    send, proc = producer_consumer_pair(producer="shop", consumer="billing", delay_ns=NS_PER_S)
    batch = rollup.plan([send, proc], nothing_stored, set(), T0_NS)
    [row] = consumer_rows(batch)
    assert (row.producer, row.consumer, row.count, row.latency_sum_s) == ("shop", "billing", 1, 1.0)
    assert batch.pending == []


def test_plan_uses_lookup_for_stored_producer():
    """A producer span not in the batch is found through the store lookup."""
    send, proc = producer_consumer_pair(producer="shop")
    batch = rollup.plan([proc], lambda t, s: rollup.info_of(send) if (t, s) == (send.trace_id, send.span_id)
                        else None, set(), T0_NS)
    assert [r.producer for r in consumer_rows(batch)] == ["shop"]


def test_plan_keeps_unpaired_consumer_pending():
    """A consumer whose producer is unknown waits in pending with the producer's ids."""
    send, proc = producer_consumer_pair()
    batch = rollup.plan([proc], nothing_stored, set(), T0_NS)
    assert consumer_rows(batch) == []
    assert [(c.producer_trace_id, c.producer_span_id, c.seen_ns) for c in batch.pending] == [
        (send.trace_id, send.span_id, T0_NS)]


def test_parent_that_is_not_a_producer_falls_back_to_links():
    """When the parent is a local (non-producer) span, the links are the creation context."""
    send = send_span(service="shop")
    local = span_record(service="billing")
    proc = process_span(send, service="billing", link_only=True, trace_id=local.trace_id,
                        parent_span_id=local.span_id)
    batch = rollup.plan([send, local, proc], nothing_stored, set(), T0_NS)
    assert [r.producer for r in consumer_rows(batch)] == ["shop"]


def test_poll_span_is_not_counted_for_a_known_process_emitter():
    """Receive links of a (service, group) known to emit process spans are not counted."""
    sends = [send_span(service="shop") for _ in range(2)]
    poll = poll_span(sends, service="billing", group="g")
    batch = rollup.plan([*sends, poll], nothing_stored, {("billing", "g")}, T0_NS)
    assert consumer_rows(batch) == []


def test_process_span_registers_its_emitter():
    """A process span makes its (service, group) a known process emitter."""
    _, proc = producer_consumer_pair(consumer="billing", group="g")
    assert rollup.plan([proc], nothing_stored, set(), T0_NS).new_emitters == {("billing", "g")}


def test_poll_latency_uses_poll_end():
    """A poll span's consume time is its end (its start is when waiting began)."""
    send = send_span(service="shop", start_ns=T0_NS)
    poll = poll_span([send], service="billing", start_ns=T0_NS - NS_PER_S, end_ns=T0_NS + 2 * NS_PER_S)
    [row] = consumer_rows(rollup.plan([send, poll], nothing_stored, set(), T0_NS))
    assert row.latency_sum_s == 2.0


def test_negative_latency_counts_as_zero():
    """Clock skew making the consumer start before the producer counts as zero latency."""
    send, proc = producer_consumer_pair(delay_ns=-NS_PER_S)
    [row] = consumer_rows(rollup.plan([send, proc], nothing_stored, set(), T0_NS))
    assert (row.latency_sum_s, row.latency_buckets[0]) == (0.0, 1)


def test_resolve_with_non_producer_is_partial():
    """A pending consumption whose context turns out not to be a producer span counts as partial."""
    _, proc = producer_consumer_pair()
    batch = rollup.plan([proc], nothing_stored, set(), T0_NS)
    out = rollup.RollupBatch()
    out.resolve(batch.pending[0], rollup.info_of(span_record(kind=SpanKind.INTERNAL)))
    assert [r.producer for r in out.edge_rollups()] == [None]


def test_expired_selects_entries_at_least_ttl_old():
    """Entries that waited the TTL or longer expire; younger ones stay."""
    _, proc = producer_consumer_pair()
    [c] = rollup.plan([proc], nothing_stored, set(), T0_NS).pending
    assert rollup.expired([c], T0_NS + 10, ttl_ns=11) == []
    assert rollup.expired([c], T0_NS + 11, ttl_ns=11) == [c]


def test_sighting_roles_from_span_kind():
    """Sightings come from spans with event type and fingerprint; PRODUCER spans are the producer role."""
    m = messaging(event_type="E", schema_fingerprint="f", operation=Operation.SEND)
    send = send_span(service="shop", messaging=m)
    proc = process_span(send, service="billing", messaging=messaging(event_type="E", schema_fingerprint="f",
                                                                     operation=Operation.PROCESS))
    got = rollup.plan([send, proc, span_record()], nothing_stored, set(), T0_NS).schema_sightings()
    assert sorted((s.service, s.role) for s in got) == [("billing", Role.CONSUMER), ("shop", Role.PRODUCER)]


def test_merge_sightings_aggregates_minutes():
    """merge_sightings sums counts and keeps the first and last times."""
    m = messaging(event_type="E", schema_fingerprint="f")
    spans = [send_span(messaging=m, start_ns=T0_NS + i * NS_PER_MINUTE) for i in range(3)]
    [s] = rollup.merge_sightings(rollup.plan(spans, nothing_stored, set(), T0_NS).schema_sightings())
    assert (s.count, s.first_seen_ns, s.last_seen_ns) == (3, T0_NS, T0_NS + 2 * NS_PER_MINUTE)


def test_wanted_contexts_names_parents_and_links_outside_the_batch():
    """wanted_contexts lists consumer spans' parents and links not in the batch, skipping known emitters' polls."""
    send_here, send_away, send_polled = send_span(), send_span(), send_span()
    proc_here = process_span(send_here, service="billing", group="g")
    proc_away = process_span(send_away, service="billing", group="g", link_only=True)
    poll_known = poll_span([send_polled], service="billing", group="g")
    poll_new = poll_span([send_polled], service="audit", group="a")
    wanted = rollup.wanted_contexts([send_here, proc_here, proc_away, poll_known, poll_new], set())
    assert wanted == {(send_away.trace_id, send_away.span_id), (send_polled.trace_id, send_polled.span_id)}


def test_plan_never_looks_up_more_than_wanted_contexts():
    """Every lookup plan makes is among wanted_contexts (so a bulk prefetch is complete)."""
    sends = [send_span(service="shop") for _ in range(3)]
    batch_spans = [process_span(sends[0]), process_span(sends[1], link_only=True),
                   poll_span(sends, service="audit", group="a"), span_record(kind=SpanKind.CONSUMER)]
    wanted = rollup.wanted_contexts(batch_spans, set())
    asked = []
    rollup.plan(batch_spans, lambda t, s: asked.append((t, s)), set(), T0_NS)
    assert asked and set(asked) <= wanted
