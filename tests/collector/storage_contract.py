"""The storage contract suite: every backend subclasses `StoreContract` and provides a `make_store` fixture.

`make_store(**options)` returns a fresh store on one empty database (options: `pending_ttl_ns`, `clock`);
calling it twice in one test opens the same database twice (a second collector or a restart).
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from batch_fixture import EXPECTED_FLOWS, consumer_spans, contract_spans

from eventlens.collector.model import (
    LATENCY_BUCKETS_S,
    NS_PER_MINUTE,
    NS_PER_S,
    DeadLetter,
    EdgeRollup,
    LagSample,
    Operation,
    Role,
    SpanKind,
    SpanLink,
    StatusCode,
)
from eventlens.collector.otlp import decode_traces
from eventlens.collector.rollup import bucket_index, minute_of, plan
from eventlens.collector.storage.alerting import AlertTransition, NewNotification, label_fingerprint
from eventlens.collector.storage.protocol import AlertStore, Store, StoreDataError, StoreError
from eventlens.testing import (
    T0_NS,
    messaging,
    poll_span,
    process_span,
    producer_consumer_pair,
    send_span,
    span_record,
)

HOUR = 3600 * NS_PER_S
UPSTREAM_FIXTURES = Path(__file__).resolve().parents[1] / "interop" / "fixtures"


class FakeClock:
    """A settable clock for pending-TTL behaviour."""

    def __init__(self, now: int = T0_NS) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def rich_span():
    """A span using every field of the model."""
    return span_record(
        parent_span_id="00f067aa0ba902b7", name="process orders", kind=SpanKind.CONSUMER, service="billing",
        status=StatusCode.ERROR, status_message="boom", scope="eventlens.kafka",
        links=(SpanLink("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", {"a": 1, "b": ("x", "y")}),),
        messaging=messaging(
            operation=Operation.PROCESS, operation_name="process", topic="orders", partition=3, offset=42,
            key="order-1", consumer_group="billing-g", client_id="c1", message_id="m1", batch_count=None,
            body_size=321, event_id="ev-1", event_type="OrderPlaced", event_source="/shop",
            schema_fingerprint="json:abc", lag_offsets=5, lag_seconds=0.25, server_address="127.0.0.1",
            error_type="ValueError"),
        attributes={"s": "é\u2028", "i": 2**62, "f": 1.5, "b": True, "ts": ("a", "b"), "ti": (1, 2), "tf": (0.1,),
                    "tb": (True, False), "empty": ()},
        resource={"service.name": "billing", "telemetry.sdk.language": "java"},
    )


def edges(store: Store, **match) -> list[EdgeRollup]:
    rows = store.edge_rollups(T0_NS - HOUR, T0_NS + HOUR)
    return [r for r in rows if all(getattr(r, k) == v for k, v in match.items())]


def flows(store: Store) -> dict[tuple[str | None, str, str | None, str | None], int]:
    """Messages per consumed (producer, topic, group, consumer) in the store's rollups (nonzero only)."""
    out: Counter[tuple[str | None, str, str | None, str | None]] = Counter()
    for r in edges(store):
        if r.consumer is not None:
            out[(r.producer, r.topic, r.consumer_group, r.consumer)] += r.count
    return {k: v for k, v in out.items() if v}


def transition(to_state: str, at_ns: int, *, rule: str = "lag-high", labels: dict[str, str] | None = None,
               from_state: str = "inactive", value: float | None = 12.5) -> AlertTransition:
    """A transition of one alert (a rule and a label set), fingerprinted like the evaluator does."""
    labels = {"group": "billing", "topic": "orders"} if labels is None else labels
    return AlertTransition(rule, label_fingerprint(labels), labels, from_state, to_state, at_ns, value,
                           {"summary": f"{rule} {to_state}"})


def note(key: str, *, receiver: str = "am", at_ns: int = T0_NS) -> NewNotification:
    """A notification to `receiver` with idempotency key `key`, created at `at_ns`."""
    return NewNotification(receiver, key, {"key": key, "alerts": [{"labels": {"a": "b"}, "n": 1.5}]}, at_ns)


class StoreContract:
    """Behaviour every Store backend must have."""

    # -- dead letters and data errors ------------------------------------------------------------------------
    def test_dead_letters_keep_their_raw_bytes_newest_first(self, make_store):
        """Parked input reads back byte for byte (NUL and non-UTF-8 included), newest first, and is counted."""
        store = make_store()
        letters = [DeadLetter("kafka", "not OTLP", b"\x00\xff raw", T0_NS, "otlp_spans", 0, 7),
                   DeadLetter("kafka", "empty record value", b"", T0_NS + 1, "otlp_spans", 1, (1 << 63) - 1)]
        store.write_dead_letters(letters)
        assert store.dead_letters() == letters[::-1] and store.dead_letter_count() == 2

    def test_dead_letters_go_with_raw_span_retention(self, make_store):
        """Dead letters older than the span retention are deleted with the spans."""
        store = make_store()
        store.write_dead_letters([DeadLetter("kafka", "old", b"x", T0_NS), DeadLetter("kafka", "new", b"y",
                                                                                      T0_NS + 2 * HOUR)])
        store.apply_retention(T0_NS + 2 * HOUR, spans_max_age_ns=HOUR, rollups_max_age_ns=HOUR)
        assert [d.reason for d in store.dead_letters()] == ["new"]

    def test_an_integer_no_column_can_hold_is_a_permanent_data_error(self, make_store):
        """A value past int64 that reaches the store fails as StoreDataError (not retried), on every backend."""
        store = make_store()
        with pytest.raises(StoreDataError):
            store.write_spans([span_record(start_ns=1 << 64)])

    # -- writes and round trip -------------------------------------------------------------------------------
    def test_written_span_reads_back_equal(self, make_store):
        """A span with every field set reads back equal to what was written."""
        store = make_store()
        span = rich_span()
        assert store.write_spans([span]) == 1
        assert store.get_span(span.trace_id, span.span_id) == span
        assert store.get_trace(span.trace_id) == [span]

    def test_minimal_span_reads_back_equal(self, make_store):
        """A span with only the required fields reads back equal, empty mappings included."""
        store = make_store()
        span = span_record(attributes={}, resource={}, scope="")
        store.write_spans([span])
        assert store.get_span(span.trace_id, span.span_id) == span

    def test_retried_batch_stores_once(self, make_store):
        """Writing the same batch twice stores each span once and reports 0 new the second time."""
        store = make_store()
        batch = [span_record() for _ in range(5)]
        assert store.write_spans(batch) == 5
        assert store.write_spans(batch) == 0
        assert store.span_count() == 5

    def test_partly_new_batch_counts_only_new_spans(self, make_store):
        """A batch mixing stored and new spans reports only the new ones."""
        store = make_store()
        old = [span_record() for _ in range(3)]
        store.write_spans(old)
        assert store.write_spans([*old, span_record(), span_record()]) == 2
        assert store.span_count() == 5

    def test_duplicate_inside_one_batch_stores_once(self, make_store):
        """A span repeated inside one batch is stored once."""
        store = make_store()
        span = span_record()
        assert store.write_spans([span, span]) == 1

    def test_empty_batch_writes_nothing(self, make_store):
        """An empty batch is a no-op."""
        store = make_store()
        assert store.write_spans([]) == 0
        assert store.span_count() == 0

    def test_reopened_store_sees_written_spans(self, make_store):
        """Spans survive closing and reopening the store."""
        store = make_store()
        span = span_record()
        store.write_spans([span])
        store.close()
        assert make_store().get_span(span.trace_id, span.span_id) == span

    # -- readers ---------------------------------------------------------------------------------------------
    def test_get_trace_returns_only_that_trace_by_start(self, make_store):
        """get_trace returns the trace's spans ordered by start time, nothing from other traces."""
        store = make_store()
        root = span_record(start_ns=T0_NS + 10)
        child = span_record(trace_id=root.trace_id, parent_span_id=root.span_id, start_ns=T0_NS + 5)
        store.write_spans([root, child, span_record()])
        assert store.get_trace(root.trace_id) == [child, root]

    def test_get_trace_page_walks_a_trace_by_start_then_span_id(self, make_store):
        """Pages of `limit` spans after a (start_ns, span_id) key cover the trace once, ties split by span id."""
        store = make_store()
        root = span_record(start_ns=T0_NS)
        spans = [root] + [span_record(trace_id=root.trace_id, span_id=f"{i:016x}", start_ns=T0_NS + i // 2)
                          for i in range(1, 8)]
        store.write_spans([*spans, span_record()])
        ordered = sorted(spans, key=lambda s: (s.start_ns, s.span_id))
        first = store.get_trace_page(root.trace_id, limit=3)
        assert first == ordered[:3]
        rest = store.get_trace_page(root.trace_id, after=(first[-1].start_ns, first[-1].span_id), limit=100)
        assert rest == ordered[3:]

    def test_get_trace_of_unknown_id_is_empty(self, make_store):
        """An unknown trace id gives an empty list, and an unknown span None."""
        store = make_store()
        store.write_spans([span_record()])
        assert store.get_trace("0" * 32) == []
        assert store.get_span("0" * 32, "1" * 16) is None

    def test_same_span_id_in_two_traces_are_two_spans(self, make_store):
        """Idempotence is keyed on (trace id, span id), not span id alone."""
        store = make_store()
        a = span_record(span_id="aaaaaaaaaaaaaaaa")
        b = span_record(span_id="aaaaaaaaaaaaaaaa")
        assert store.write_spans([a, b]) == 2

    def test_find_spans_by_event_id(self, make_store):
        """find_spans(event_id=) returns the spans of that event only."""
        store = make_store()
        send, proc = producer_consumer_pair()
        other = span_record(messaging=messaging(event_id="other"))
        ev = span_record(messaging=messaging(event_id="ev-7"))
        store.write_spans([send, proc, other, ev])
        assert store.find_spans(event_id="ev-7") == [ev]

    def test_find_spans_by_key(self, make_store):
        """find_spans(key=) returns the spans of that message key, newest first."""
        store = make_store()
        a = span_record(messaging=messaging(key="k"), start_ns=T0_NS + 1)
        b = span_record(messaging=messaging(key="k"), start_ns=T0_NS + 2)
        store.write_spans([a, b, span_record(messaging=messaging(key="other"))])
        assert store.find_spans(key="k") == [b, a]

    def test_find_spans_by_topic_partition_offset(self, make_store):
        """find_spans(topic=, partition=, offset=) returns the spans of that record."""
        store = make_store()
        hit = span_record(messaging=messaging(topic="t", partition=1, offset=9))
        store.write_spans([hit, span_record(messaging=messaging(topic="t", partition=1, offset=8)),
                           span_record(messaging=messaging(topic="t", partition=2, offset=9)),
                           span_record(messaging=messaging(topic="u", partition=1, offset=9))])
        assert store.find_spans(topic="t", partition=1, offset=9) == [hit]

    def test_find_spans_by_topic_alone(self, make_store):
        """find_spans(topic=) returns every span on the topic."""
        store = make_store()
        a, b = span_record(messaging=messaging(topic="t")), span_record(messaging=messaging(topic="t"))
        store.write_spans([a, b, span_record(messaging=messaging(topic="u"))])
        assert {s.span_id for s in store.find_spans(topic="t")} == {a.span_id, b.span_id}

    def test_find_spans_by_service_and_window(self, make_store):
        """find_spans filters by service and by the [start_ns, end_ns) window of start times."""
        store = make_store()
        inside = span_record(service="a", start_ns=T0_NS + 100)
        store.write_spans([inside, span_record(service="a", start_ns=T0_NS + 200),
                           span_record(service="a", start_ns=T0_NS + 50),
                           span_record(service="b", start_ns=T0_NS + 100)])
        assert store.find_spans(service="a", start_ns=T0_NS + 100, end_ns=T0_NS + 200) == [inside]

    def test_find_spans_respects_limit_newest_first(self, make_store):
        """find_spans returns at most `limit` spans, the newest."""
        store = make_store()
        spans = [span_record(start_ns=T0_NS + i) for i in range(10)]
        store.write_spans(spans)
        assert store.find_spans(limit=3) == [spans[9], spans[8], spans[7]]

    def test_spans_linking_to_finds_linked_and_child_spans(self, make_store):
        """spans_linking_to returns spans linking to the span (any trace) and its children, not others."""
        store = make_store()
        send = send_span()
        child = process_span(send)
        linked = process_span(send, link_only=True)
        poll = poll_span([send, send_span()])
        store.write_spans([send, child, linked, poll, span_record()])
        found = store.spans_linking_to(send.trace_id, send.span_id)
        assert {s.span_id for s in found} == {child.span_id, linked.span_id, poll.span_id}

    def test_services_lists_each_service_once_sorted(self, make_store):
        """services() lists every service seen, sorted, once."""
        store = make_store()
        store.write_spans([span_record(service="b"), span_record(service="a"), span_record(service="b")])
        store.write_spans([span_record(service="c")])
        assert store.services() == ["a", "b", "c"]

    # -- rollups ---------------------------------------------------------------------------------------------
    def test_send_span_makes_produce_side_row(self, make_store):
        """A PRODUCER span counts on the produce-side row of its minute, with its bytes."""
        store = make_store()
        send = send_span(topic="orders", service="shop")
        store.write_spans([send])
        [row] = edges(store)
        assert (row.minute, row.producer, row.topic, row.consumer_group, row.consumer) == (
            minute_of(send.start_ns), "shop", "orders", None, None)
        assert (row.count, row.errors, row.bytes) == (1, 0, 100)

    def test_consumer_paired_via_parent(self, make_store):
        """A process span parented on a send span makes a consumer edge with the end-to-end latency."""
        store = make_store()
        send, proc = producer_consumer_pair(producer="shop", consumer="billing", group="g", delay_ns=30_000_000)
        store.write_spans([send, proc])
        [row] = edges(store, consumer="billing")
        assert (row.producer, row.topic, row.consumer_group, row.count) == ("shop", "orders", "g", 1)
        assert abs(row.latency_sum_s - 0.03) < 1e-9
        assert row.latency_buckets[bucket_index(0.03)] == 1
        assert sum(row.latency_buckets) == 1

    def test_consumer_paired_via_link(self, make_store):
        """A process span linking to the send span (link-only mode) pairs the same way."""
        store = make_store()
        send, proc = producer_consumer_pair(producer="shop", consumer="billing", link_only=True)
        store.write_spans([send, proc])
        [row] = edges(store, consumer="billing")
        assert (row.producer, row.count) == ("shop", 1)

    def test_producer_in_earlier_batch_is_found_in_store(self, make_store):
        """The producer span stored by an earlier batch pairs a later consumer span."""
        store = make_store()
        send, proc = producer_consumer_pair(producer="shop", consumer="billing")
        store.write_spans([send])
        store.write_spans([proc])
        [row] = edges(store, consumer="billing")
        assert row.producer == "shop"

    def test_poll_span_fan_in_counts_each_linked_message(self, make_store):
        """A poll span linking three sends (no process spans) counts three consumed messages."""
        store = make_store()
        sends = [send_span(service="shop") for _ in range(3)]
        store.write_spans([*sends, poll_span(sends, service="billing", group="g")])
        [row] = edges(store, consumer="billing")
        assert (row.producer, row.consumer_group, row.count) == ("shop", "g", 3)

    def test_poll_and_process_spans_count_a_message_once(self, make_store):
        """When a consumer emits process spans, its poll spans' links are not counted again."""
        store = make_store()
        sends = [send_span(service="shop") for _ in range(2)]
        procs = [process_span(s, service="billing", group="g") for s in sends]
        store.write_spans([*sends, poll_span(sends, service="billing", group="g"), *procs])
        sends2 = [send_span(service="shop") for _ in range(2)]
        store.write_spans([*sends2, poll_span(sends2, service="billing", group="g")])
        store.write_spans([process_span(s, service="billing", group="g") for s in sends2])
        assert sum(r.count for r in edges(store, consumer="billing")) == 4

    def test_poll_stored_before_the_first_process_spans_is_not_counted_twice(self, make_store):
        """A poll span stored in an earlier batch than the consumer's first process spans is retracted when those
        arrive: each message counts once, with the process spans' latency (the poll-first export order)."""
        store = make_store()
        sends = [send_span(service="shop") for _ in range(3)]
        store.write_spans(sends)
        store.write_spans([poll_span(sends, service="billing", group="g")])
        assert sum(r.count for r in edges(store, consumer="billing")) == 3
        procs = [process_span(s, service="billing", group="g") for s in sends]
        store.write_spans(procs)
        rows = [r for r in edges(store, consumer="billing") if r.count]
        assert sum(r.count for r in rows) == 3
        assert sum(sum(r.latency_buckets) for r in rows) == 3
        [row] = rows
        assert row.latency_sum_s == pytest.approx(3 * 0.005)

    def test_poll_with_pending_contexts_is_retracted_without_counting_them(self, make_store):
        """A poll whose producers are not stored yet, then the first process spans, then the producers: each
        message counts once (the poll's pending contexts are dropped)."""
        store = make_store()
        sends = [send_span(service="shop") for _ in range(2)]
        store.write_spans([poll_span(sends, service="billing", group="g")])
        store.write_spans([process_span(s, service="billing", group="g") for s in sends])
        store.write_spans(sends)
        assert sum(r.count for r in edges(store, consumer="billing")) == 2
        assert store.pending_count() == 0

    def test_poll_only_consumer_keeps_its_counts(self, make_store):
        """A consumer that never emits process spans keeps every message its poll spans counted."""
        store = make_store()
        for _ in range(2):
            sends = [send_span(service="shop") for _ in range(3)]
            store.write_spans(sends)
            store.write_spans([poll_span(sends, service="billing", group="g")])
        store.write_spans([process_span(send_span(service="shop"), service="other", group="g")])
        assert sum(r.count for r in edges(store, consumer="billing")) == 6

    def test_poll_older_than_the_pending_ttl_is_not_retracted(self, make_store):
        """Receive spans counted longer ago than the pending TTL stay counted (a consumer that changed shape)."""
        clock = FakeClock()
        store = make_store(pending_ttl_ns=60 * NS_PER_S, clock=clock)
        sends = [send_span(service="shop") for _ in range(2)]
        store.write_spans([*sends, poll_span(sends, service="billing", group="g")])
        clock.now += 61 * NS_PER_S
        later = [send_span(service="shop") for _ in range(2)]
        store.write_spans([*later, *(process_span(s, service="billing", group="g") for s in later)])
        assert sum(r.count for r in edges(store, consumer="billing")) == 4

    def test_retried_batch_counts_rollups_once(self, make_store):
        """Re-writing a batch does not count its spans in the rollups again."""
        store = make_store()
        batch = list(producer_consumer_pair(consumer="billing"))
        store.write_spans(batch)
        store.write_spans(batch)
        assert [r.count for r in edges(store, consumer="billing")] == [1]
        assert [r.count for r in edges(store, consumer=None)] == [1]

    # -- the batch-counting contract (tests/collector/batch_fixture.py): stored rollups count like `plan` ------
    def test_batch_contract_spans_in_one_write_count_every_input(self, make_store):
        """The contract span set (a batch process span linking 3 producers, a poll, parented process spans)
        stored in one write gives every flow its expected count: a batch counts each linked message."""
        store = make_store()
        store.write_spans(contract_spans())
        assert flows(store) == EXPECTED_FLOWS

    def test_batch_contract_spans_consumers_first_count_alike(self, make_store):
        """Consumer spans stored before their producers (pending contexts, then resolved) count the same."""
        store = make_store()
        spans = contract_spans()
        store.write_spans(consumer_spans(spans))
        store.write_spans([s for s in spans if s not in consumer_spans(spans)])
        assert flows(store) == EXPECTED_FLOWS

    def test_batch_contract_spans_one_write_per_span_count_alike(self, make_store):
        """One write per span, producers first, counts the same as one write of all."""
        store = make_store()
        for span in contract_spans():
            store.write_spans([span])
        assert flows(store) == EXPECTED_FLOWS

    def test_batch_contract_stored_rollups_equal_the_pure_plan(self, make_store):
        """The rollups the store keeps equal those `rollup.plan` computes for the same spans in memory."""
        store = make_store()
        spans = contract_spans()
        store.write_spans(spans)
        planned = Counter()
        for r in plan(spans, lambda _t, _s: None, set(), T0_NS).edge_rollups():
            planned[(r.producer, r.topic, r.consumer_group, r.consumer)] += r.count
        stored = Counter()
        for r in edges(store):
            stored[(r.producer, r.topic, r.consumer_group, r.consumer)] += r.count
        assert stored == planned

    @pytest.mark.parametrize("client", ["confluent", "aiokafka"])
    def test_upstream_client_chain_pairs_every_edge_in_the_store(self, make_store, client):
        """The captured upstream confluent-kafka / aiokafka produce → relay → consume payloads, stored one
        file per write as they arrived, give two complete flows of two messages and no partial one."""
        store = make_store()
        for mode in ("produce", "relay", "consume"):
            path = UPSTREAM_FIXTURES / f"upstream_{client}_{mode}.json"
            store.write_spans(decode_traces(path.read_bytes(), "application/json"))
        consumed: Counter[tuple[str | None, str, str | None]] = Counter()
        for r in store.edge_rollups(0, 2**62):
            if r.consumer is not None and r.count:
                consumed[(r.producer, r.topic, r.consumer)] += r.count
        assert sorted(consumed.values()) == [2, 2]
        assert {(p, c) for p, _, c in consumed} == {(f"{client}-producer", f"{client}-relay"),
                                                    (f"{client}-relay", f"{client}-consumer")}

    def test_late_producer_resolves_pending_consumer(self, make_store):
        """A consumer span stored before its producer is paired when the producer arrives."""
        store = make_store()
        send, proc = producer_consumer_pair(producer="shop", consumer="billing")
        store.write_spans([proc])
        assert edges(store, consumer="billing") == []
        store.write_spans([send])
        [row] = edges(store, consumer="billing")
        assert (row.producer, row.count) == ("shop", 1)

    def test_pending_consumer_becomes_partial_after_ttl(self, make_store):
        """A consumer whose producer never arrives becomes a partial edge (producer None) after the TTL."""
        clock = FakeClock()
        store = make_store(pending_ttl_ns=60 * NS_PER_S, clock=clock)
        _, proc = producer_consumer_pair(consumer="billing")
        store.write_spans([proc])
        clock.now += 59 * NS_PER_S
        store.write_spans([span_record()])
        assert edges(store, consumer="billing") == []
        clock.now += 2 * NS_PER_S
        store.write_spans([span_record()])
        [row] = edges(store, consumer="billing")
        assert (row.producer, row.count, row.latency_sum_s) == (None, 1, 0.0)

    def test_flush_pending_turns_expired_into_partial(self, make_store):
        """apply_retention also turns expired pending consumptions into partial edges."""
        store = make_store(pending_ttl_ns=60 * NS_PER_S, clock=FakeClock())
        _, proc = producer_consumer_pair(consumer="billing")
        store.write_spans([proc])
        store.apply_retention(T0_NS + 120 * NS_PER_S, spans_max_age_ns=100 * HOUR, rollups_max_age_ns=100 * HOUR)
        assert [r.producer for r in edges(store, consumer="billing")] == [None]

    def test_consumer_without_creation_context_is_partial_at_once(self, make_store):
        """A process span with neither parent nor links (uninstrumented producer) is a partial edge."""
        store = make_store()
        proc = span_record(kind=SpanKind.CONSUMER, service="billing", messaging=messaging(
            topic="orders", operation=Operation.PROCESS, consumer_group="g"))
        store.write_spans([proc])
        [row] = edges(store, consumer="billing")
        assert (row.producer, row.topic, row.count) == (None, "orders", 1)

    def test_errors_and_bytes_are_summed(self, make_store):
        """Failed consumptions count as errors and body sizes add up per edge minute."""
        store = make_store()
        send1, send2 = send_span(service="shop"), send_span(service="shop")
        ok = process_span(send1, service="billing")
        bad = process_span(send2, service="billing", status=StatusCode.ERROR)
        store.write_spans([send1, send2, ok, bad])
        [row] = edges(store, consumer="billing")
        assert (row.count, row.errors, row.bytes) == (2, 1, 200)

    def test_latency_histogram_buckets(self, make_store):
        """Latencies land in the bucket of the first bound not below them, overflow in the last."""
        store = make_store()
        batch = []
        for delay_s in (0.001, 0.2, 1000.0):
            send = send_span(service="shop", start_ns=T0_NS)
            batch += [send, process_span(send, service="billing", delay_ns=int(delay_s * NS_PER_S),
                                         start_ns=T0_NS + int(delay_s * NS_PER_S))]
        store.write_spans(batch)
        rows = edges(store, consumer="billing")
        buckets = [sum(b) for b in zip(*(r.latency_buckets for r in rows), strict=True)]
        assert len(buckets) == len(LATENCY_BUCKETS_S) + 1
        assert buckets[0] == 1 and buckets[LATENCY_BUCKETS_S.index(0.25)] == 1 and buckets[-1] == 1

    def test_edge_rollups_window_is_half_open(self, make_store):
        """edge_rollups returns minutes in [start, end)."""
        store = make_store()
        store.write_spans([send_span(start_ns=T0_NS), send_span(start_ns=T0_NS + NS_PER_MINUTE)])
        m0 = minute_of(T0_NS)
        assert [r.minute for r in store.edge_rollups(m0, m0 + NS_PER_MINUTE)] == [m0]

    # -- schema sightings ------------------------------------------------------------------------------------
    def test_schema_sightings_aggregate_over_window(self, make_store):
        """Spans with event type and fingerprint become sightings per (type, fingerprint, service, role)."""
        store = make_store()
        m = messaging(event_type="OrderPlaced", schema_fingerprint="json:1", operation=Operation.SEND)
        sends = [send_span(service="shop", messaging=m, start_ns=T0_NS + i * NS_PER_MINUTE) for i in range(3)]
        bad = dataclasses.replace(sends[2], status=StatusCode.ERROR, span_id="ab" * 8)
        store.write_spans([*sends, bad, send_span(service="shop")])
        [s] = store.schema_sightings(T0_NS - HOUR, T0_NS + HOUR)
        assert (s.event_type, s.fingerprint, s.service, s.role, s.topic) == ("OrderPlaced", "json:1", "shop",
                                                                             Role.PRODUCER, "orders")
        assert (s.first_seen_ns, s.last_seen_ns, s.count, s.errors) == (T0_NS, T0_NS + 2 * NS_PER_MINUTE, 4, 1)

    def test_schema_sightings_outside_window_are_left_out(self, make_store):
        """A sighting last seen before the window is not returned."""
        store = make_store()
        m = messaging(event_type="E", schema_fingerprint="f")
        store.write_spans([send_span(messaging=m, start_ns=T0_NS)])
        assert store.schema_sightings(T0_NS + HOUR, T0_NS + 2 * HOUR) == []

    # -- lag samples -----------------------------------------------------------------------------------------
    def test_lag_samples_round_trip_oldest_first(self, make_store):
        """Lag samples read back equal, oldest first, filtered by group and window."""
        store = make_store()
        a = LagSample("g1", "t", 0, 5, 10, T0_NS + 2, 1.5, True)
        b = LagSample("g1", "t", 1, None, 10, T0_NS + 1)
        c = LagSample("g2", "t", 0, 3, 4, T0_NS + 3)
        store.write_lag_samples([a, b, c])
        assert store.lag_samples() == [b, a, c]
        assert store.lag_samples(group="g1") == [b, a]
        assert store.lag_samples(since_ns=T0_NS + 2, until_ns=T0_NS + 3) == [a]

    def test_forget_group_drops_its_samples(self, make_store):
        """forget_group removes one group's samples only."""
        store = make_store()
        store.write_lag_samples([LagSample("g1", "t", 0, 1, 2, T0_NS), LagSample("g2", "t", 0, 1, 2, T0_NS)])
        store.forget_group("g1")
        assert [s.group for s in store.lag_samples()] == ["g2"]

    # -- retention -------------------------------------------------------------------------------------------
    def test_retention_drops_old_spans_but_keeps_rollups(self, make_store):
        """Spans and rollups have separate retention."""
        store = make_store()
        old, new = send_span(start_ns=T0_NS), send_span(start_ns=T0_NS + 2 * HOUR)
        store.write_spans([old, new])
        deleted = store.apply_retention(T0_NS + 3 * HOUR, spans_max_age_ns=2 * HOUR, rollups_max_age_ns=10 * HOUR)
        assert deleted == 1
        assert store.get_span(old.trace_id, old.span_id) is None
        assert store.get_span(new.trace_id, new.span_id) == new
        assert store.span_count() == 1
        assert len(store.edge_rollups(T0_NS - HOUR, T0_NS + 3 * HOUR)) == 2

    def test_retention_drops_old_rollups_and_lag_samples(self, make_store):
        """Rollups, sightings and lag samples older than their retention are deleted."""
        store = make_store()
        m = messaging(event_type="E", schema_fingerprint="f")
        store.write_spans([send_span(messaging=m, start_ns=T0_NS)])
        store.write_lag_samples([LagSample("g", "t", 0, 1, 2, T0_NS)])
        store.apply_retention(T0_NS + 3 * HOUR, spans_max_age_ns=10 * HOUR, rollups_max_age_ns=2 * HOUR)
        assert store.edge_rollups(T0_NS - HOUR, T0_NS + 3 * HOUR) == []
        assert store.schema_sightings(T0_NS - HOUR, T0_NS + 3 * HOUR) == []
        assert store.lag_samples() == []
        assert store.span_count() == 1

    def test_store_satisfies_protocol(self, make_store):
        """The backend is a runtime-checkable Store."""
        assert isinstance(make_store(), Store)

    def test_unstorable_value_raises_store_error_and_stores_nothing(self, make_store):
        """A batch holding a value the backend cannot store raises StoreError; none of the batch is stored."""
        store = make_store()
        good = span_record()
        bad = span_record(start_ns=2**70)
        with pytest.raises(StoreError):
            store.write_spans([good, bad])
        assert store.get_span(good.trace_id, good.span_id) is None
        assert store.write_spans([good]) == 1

    def test_writes_and_reads_from_several_threads(self, make_store):
        """Batches written from several threads while others read all land, each once."""
        store = make_store()
        batches = [[span_record() for _ in range(20)] for _ in range(8)]
        with ThreadPoolExecutor(max_workers=4) as pool:
            written = list(pool.map(store.write_spans, batches))
            reads = list(pool.map(lambda b: store.get_trace(b[0].trace_id), batches))
        assert written == [20] * 8
        assert store.span_count() == 160
        assert [r[0] for r in reads] == [b[0] for b in batches]

    def test_retention_deletes_in_chunks_until_done(self, make_store):
        """Retention removes every old span even when there are more than one chunk of them."""
        store = make_store()
        store.retention_chunk = 7
        old = [span_record(start_ns=T0_NS + i) for i in range(30)]
        new = span_record(start_ns=T0_NS + 2 * HOUR)
        store.write_spans([*old, new])
        assert store.apply_retention(T0_NS + 3 * HOUR, spans_max_age_ns=2 * HOUR, rollups_max_age_ns=10 * HOUR) == 30
        assert store.span_count() == 1
        assert store.find_spans() == [new]

    # -- alert history (issue #17) ---------------------------------------------------------------------------
    def test_both_backends_are_alert_stores(self, make_store):
        """Every backend offers history, the notification outbox and leases."""
        assert isinstance(make_store(), AlertStore)

    def test_recorded_transitions_read_back_equal_newest_first(self, make_store):
        """Transitions read back field for field (labels, annotations, value), the newest first."""
        store = make_store()
        rows = [transition("pending", T0_NS), transition("firing", T0_NS + 60, from_state="pending", value=None)]
        assert store.record_alert_transitions(rows) == 2
        assert store.alert_history(T0_NS, T0_NS + HOUR) == rows[::-1]

    def test_a_retried_transition_is_stored_once(self, make_store):
        """The same rule, fingerprint, time and target state recorded again (a retried write) adds nothing."""
        store = make_store()
        store.record_alert_transitions([transition("pending", T0_NS)])
        assert store.record_alert_transitions([transition("pending", T0_NS), transition("firing", T0_NS)]) == 1
        assert [t.to_state for t in store.alert_history(T0_NS, T0_NS + 1)] == ["firing", "pending"]

    def test_history_is_a_half_open_window_filtered_by_rule_and_limited(self, make_store):
        """Only transitions at [start, end) of the asked rule come back, at most `limit`, newest first."""
        store = make_store()
        store.record_alert_transitions([transition("pending", T0_NS + i) for i in range(5)]
                                       + [transition("pending", T0_NS + 2, rule="dlq")])
        assert [t.at_ns for t in store.alert_history(T0_NS + 1, T0_NS + 4, rule="lag-high")] == [
            T0_NS + 3, T0_NS + 2, T0_NS + 1]
        assert [t.at_ns for t in store.alert_history(T0_NS, T0_NS + 5, limit=2)] == [T0_NS + 4, T0_NS + 3]
        assert [t.rule for t in store.alert_history(T0_NS, T0_NS + 5, rule="dlq")] == ["dlq"]

    def test_history_filters_by_one_alerts_fingerprint(self, make_store):
        """Two label sets of one rule are two alerts; the fingerprint selects one."""
        store = make_store()
        a, b = transition("firing", T0_NS, labels={"group": "a"}), transition("firing", T0_NS, labels={"group": "b"})
        store.record_alert_transitions([a, b])
        assert store.alert_history(T0_NS, T0_NS + 1, fingerprint=b.fingerprint) == [b]

    def test_alert_states_are_each_alerts_latest_transition(self, make_store):
        """The state of an alert is its newest transition's target, whatever order they were recorded in."""
        store = make_store()
        other = transition("pending", T0_NS + 5, labels={"group": "other"})
        store.record_alert_transitions([transition("firing", T0_NS + 60, from_state="pending"),
                                        transition("pending", T0_NS), other])
        store.record_alert_transitions([transition("inactive", T0_NS + 30, from_state="resolved")])  # late, older
        states = {s.fingerprint: s for s in store.alert_states()}
        mine = states[label_fingerprint({"group": "billing", "topic": "orders"})]
        assert (mine.state, mine.since_ns, mine.labels, mine.value) == (
            "firing", T0_NS + 60, {"group": "billing", "topic": "orders"}, 12.5)
        assert states[other.fingerprint].state == "pending"

    def test_alert_states_of_one_rule(self, make_store):
        """`rule=` keeps the states of that rule only."""
        store = make_store()
        store.record_alert_transitions([transition("firing", T0_NS), transition("pending", T0_NS, rule="dlq")])
        assert [s.rule for s in store.alert_states(rule="dlq")] == ["dlq"]

    def test_alert_states_survive_a_restart(self, make_store):
        """A reopened store (a restarted collector) knows which alerts were firing."""
        store = make_store()
        store.record_alert_transitions([transition("firing", T0_NS)])
        store.close()
        assert [s.state for s in make_store().alert_states()] == ["firing"]

    def test_retention_drops_old_history_and_settled_states_but_keeps_active_ones(self, make_store):
        """History older than the rollup retention goes, and so do old resolved states; an alert that has been
        firing since before the cut keeps its state."""
        store = make_store()
        store.record_alert_transitions([transition("firing", T0_NS, labels={"g": "long"}),
                                        transition("resolved", T0_NS, labels={"g": "done"}),
                                        transition("pending", T0_NS + 3 * HOUR, labels={"g": "new"})])
        store.apply_retention(T0_NS + 4 * HOUR, spans_max_age_ns=HOUR, rollups_max_age_ns=2 * HOUR)
        assert [t.labels for t in store.alert_history(0, 2**62)] == [{"g": "new"}]
        assert sorted(s.labels["g"] for s in store.alert_states()) == ["long", "new"]

    def test_transitions_and_their_notifications_are_written_together(self, make_store):
        """`notifications=` queues the deliveries of the transitions in the same call (one transaction)."""
        store = make_store()
        store.record_alert_transitions([transition("firing", T0_NS)], notifications=[note("t1")])
        assert [n.key for n in store.due_notifications(T0_NS)] == ["t1"]
        assert len(store.alert_history(0, 2**62)) == 1

    # -- notification outbox (issue #17) ---------------------------------------------------------------------
    def test_enqueueing_the_same_key_twice_stores_it_once(self, make_store):
        """A (receiver, key) queued again is not stored again: the second call adds nothing."""
        store = make_store()
        assert store.enqueue_notifications([note("k1"), note("k1")]) == 1
        assert store.enqueue_notifications([note("k1", at_ns=T0_NS + 5)]) == 0
        assert [(n.key, n.created_at_ns) for n in store.due_notifications(T0_NS + 10)] == [("k1", T0_NS)]

    def test_one_key_is_queued_once_per_receiver(self, make_store):
        """The key is unique per receiver: two receivers of one transition each get it."""
        store = make_store()
        assert store.enqueue_notifications([note("k1", receiver="am"), note("k1", receiver="slack")]) == 2
        assert sorted(n.receiver for n in store.due_notifications(T0_NS)) == ["am", "slack"]

    def test_a_queued_notification_reads_back_with_its_payload(self, make_store):
        """Payload JSON, receiver, key and bookkeeping read back; a new notification is due when created."""
        store = make_store()
        store.enqueue_notifications([note("k1")])
        (n,) = store.due_notifications(T0_NS)
        assert (n.receiver, n.key, n.payload, n.created_at_ns, n.next_attempt_ns, n.attempts, n.last_error,
                n.sent_at_ns) == ("am", "k1", note("k1").payload, T0_NS, T0_NS, 0, None, None)
        assert store.notification(n.id) == n

    def test_due_notifications_are_unsent_and_due_oldest_first_limited(self, make_store):
        """Not-yet-due notifications wait; due ones come longest-due first, at most `limit`."""
        store = make_store()
        store.enqueue_notifications([note("later", at_ns=T0_NS + 10), note("b", at_ns=T0_NS + 1), note("a")])
        assert [n.key for n in store.due_notifications(T0_NS + 5)] == ["a", "b"]
        assert [n.key for n in store.due_notifications(T0_NS + 10, limit=1)] == ["a"]

    def test_a_sent_notification_is_never_due_again(self, make_store):
        """mark_sent records the delivery once; the notification leaves the due list."""
        store = make_store()
        store.enqueue_notifications([note("k1")])
        (n,) = store.due_notifications(T0_NS)
        assert store.mark_sent(n.id, T0_NS + 3) is True
        assert store.due_notifications(T0_NS + HOUR) == []
        assert store.mark_sent(n.id, T0_NS + 4) is False
        sent = store.notification(n.id)
        assert sent is not None and (sent.sent_at_ns, sent.attempts) == (T0_NS + 3, 1)

    def test_a_failed_attempt_is_counted_and_retried_at_its_next_attempt(self, make_store):
        """mark_failed counts the attempt, keeps the error and makes the notification due again later."""
        store = make_store()
        store.enqueue_notifications([note("k1")])
        (n,) = store.due_notifications(T0_NS)
        store.mark_failed(n.id, T0_NS + 1, T0_NS + 100, "503 from alertmanager")
        store.mark_failed(n.id, T0_NS + 100, T0_NS + 300, "timeout")
        assert store.due_notifications(T0_NS + 299) == []
        (again,) = store.due_notifications(T0_NS + 300)
        assert (again.attempts, again.last_error, again.next_attempt_ns) == (2, "timeout", T0_NS + 300)

    def test_marking_a_sent_notification_failed_changes_nothing(self, make_store):
        """A late failure report for a delivered notification does not make it due again."""
        store = make_store()
        store.enqueue_notifications([note("k1")])
        (n,) = store.due_notifications(T0_NS)
        store.mark_sent(n.id, T0_NS)
        assert store.mark_failed(n.id, T0_NS, T0_NS, "late") is False
        assert store.due_notifications(T0_NS + HOUR) == []

    def test_due_notifications_survive_a_restart_and_sent_ones_stay_sent(self, make_store):
        """A reopened store still has every undelivered notification, and none that was delivered."""
        store = make_store()
        store.enqueue_notifications([note("sent"), note("pending"), note("retry")])
        by_key = {n.key: n for n in store.due_notifications(T0_NS)}
        store.mark_sent(by_key["sent"].id, T0_NS)
        store.mark_failed(by_key["retry"].id, T0_NS, T0_NS + 50, "down")
        store.close()
        again = make_store()
        assert [n.key for n in again.due_notifications(T0_NS + 50)] == ["pending", "retry"]
        assert again.enqueue_notifications([note("sent")]) == 0

    def test_retention_drops_notifications_older_than_the_rollups(self, make_store):
        """Notifications created before the rollup retention cut are deleted, sent or not."""
        store = make_store()
        store.enqueue_notifications([note("old"), note("new", at_ns=T0_NS + 3 * HOUR)])
        store.apply_retention(T0_NS + 4 * HOUR, spans_max_age_ns=HOUR, rollups_max_age_ns=2 * HOUR)
        assert [n.key for n in store.due_notifications(T0_NS + 4 * HOUR)] == ["new"]

    # -- leases: one evaluator at a time (issue #17) ---------------------------------------------------------
    def test_a_free_lease_is_taken_and_then_refused_to_others(self, make_store):
        """The first holder gets the lease; another holder is refused while it has not expired."""
        store = make_store()
        assert store.try_acquire_lease("evaluator", "a", T0_NS, 10) is True
        assert store.try_acquire_lease("evaluator", "b", T0_NS + 9, 10) is False
        assert store.lease_holder("evaluator", T0_NS + 9) == "a"

    def test_the_holder_renews_its_lease(self, make_store):
        """Acquiring again as the holder extends the lease from the new time."""
        store = make_store()
        store.try_acquire_lease("evaluator", "a", T0_NS, 10)
        assert store.try_acquire_lease("evaluator", "a", T0_NS + 8, 10) is True
        assert store.try_acquire_lease("evaluator", "b", T0_NS + 15, 10) is False
        assert store.lease_holder("evaluator", T0_NS + 17) == "a"

    def test_an_expired_lease_is_taken_over(self, make_store):
        """Once the holder stops renewing, another holder takes the lease at its expiry."""
        store = make_store()
        store.try_acquire_lease("evaluator", "a", T0_NS, 10)
        assert store.try_acquire_lease("evaluator", "b", T0_NS + 10, 10) is True
        assert store.lease_holder("evaluator", T0_NS + 10) == "b"
        assert store.try_acquire_lease("evaluator", "a", T0_NS + 11, 10) is False

    def test_a_released_lease_is_free_at_once_and_only_the_holder_releases(self, make_store):
        """release_lease by a non-holder does nothing; by the holder, another may take it immediately."""
        store = make_store()
        store.try_acquire_lease("evaluator", "a", T0_NS, HOUR)
        assert store.release_lease("evaluator", "b") is False
        assert store.release_lease("evaluator", "a") is True
        assert store.lease_holder("evaluator", T0_NS) is None
        assert store.try_acquire_lease("evaluator", "b", T0_NS + 1, HOUR) is True

    def test_leases_are_independent_by_name(self, make_store):
        """Holding one lease says nothing about another name."""
        store = make_store()
        store.try_acquire_lease("evaluator", "a", T0_NS, HOUR)
        assert store.try_acquire_lease("delivery", "b", T0_NS, HOUR) is True

    def test_two_stores_on_one_database_racing_for_a_lease_give_it_to_exactly_one(self, make_store):
        """Collectors (two store objects on one database, several threads each) racing at the same instant:
        for every lease exactly one holder wins."""
        stores = [make_store(), make_store()]
        contenders = [(store, f"collector-{i}-{j}") for i, store in enumerate(stores) for j in range(3)]
        names = [f"lease-{n}" for n in range(15)]
        start = threading.Barrier(len(contenders))

        def race(contender):
            store, holder = contender
            start.wait()
            return [(name, holder) for name in names if store.try_acquire_lease(name, holder, T0_NS, HOUR)]

        with ThreadPoolExecutor(max_workers=len(contenders)) as pool:
            wins = [win for result in pool.map(race, contenders) for win in result]
        assert sorted(name for name, _ in wins) == sorted(names)
        assert all(stores[0].lease_holder(name, T0_NS) == holder for name, holder in wins)
