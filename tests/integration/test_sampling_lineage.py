"""Lineage that survives sampling, through the real broker: a kept root's multi-trace lineage stays complete.

The pipeline (kafka-python, one thread, stage after stage), as the demo's patterns:
storefront sends roots to `orders`; a batch consumer polls them and sends one record per batch to `batches`
(trace B, linking to its inputs); a consumer of `batches` stores each record's context in an outbox and a relay
sends it on to `payments` (`restore_context`, still trace B); a second batch consumer sends one record per batch
of `payments` to `settlements` (trace C); its consumer fails each record into a retry topic, whose consumer
dead-letters it (`send_context`, trace C). At 10% and 1%, with eventlens' `ConsistentProbabilitySampler` every
kept root's lineage (A → B → C, retry and dead letter included) is complete, against about rate² with the SDK's
default `ParentBased(TraceIdRatioBased)` measured in the same test.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio, Sampler

from eventlens.instrumentation import KafkaInstrumentor, capture_context, restore_context, send_context
from eventlens.instrumentation.sampling import ConsistentProbabilitySampler

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(300)]

FIRST_BATCH = 5  # inputs per batch of the first batch consumer
SECOND_BATCH = 4


@dataclass
class Run:
    """The spans one pipeline run exported, and the roots it started."""

    spans: list[ReadableSpan]
    batches: list[list[int]]  # per first-stage batch: the span ids of its input records' send spans

    def named(self, prefix: str) -> list[ReadableSpan]:
        """Spans whose name starts with `prefix`."""
        return [s for s in self.spans if s.name.startswith(prefix)]


def _topics() -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return {name: f"t-lineage-{name}-{suffix}" for name in
            ("orders", "batches", "payments", "settlements", "retry", "dlq")}


def _consumer(bootstrap: str, topic: str, max_records: int = 500) -> KafkaConsumer:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False,
                             max_poll_records=max_records, consumer_timeout_ms=20_000)
    consumer.assign([TopicPartition(topic, 0)])
    return consumer


def _batches(consumer: KafkaConsumer, expected: int) -> Iterator[list]:
    """Poll batches until `expected` records came (fails after a deadline)."""
    seen = 0
    deadline = time.monotonic() + 30
    while seen < expected:
        assert time.monotonic() < deadline, f"only {seen} of {expected} records"
        records = [r for batch in consumer.poll(timeout_ms=500).values() for r in batch]
        if records:
            seen += len(records)
            yield records


def _each(consumer: KafkaConsumer, expected: int) -> Iterator:
    """Iterate `expected` records (the iterator: each handled inside its process span)."""
    for n, record in enumerate(consumer, 1):
        yield record
        if n == expected:
            return
    raise AssertionError("consumer timed out")


def _sender_span_id(record) -> int:
    """The span id in a record's `traceparent` (`00-<trace id>-<span id>-<flags>`)."""
    return int(dict(record.headers)["traceparent"].decode()[36:52], 16)


def _pipeline(bootstrap: str, sampler: Sampler, roots: int) -> Run:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler, span_limits=SpanLimits(max_links=1024))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = KafkaInstrumentor()
    instrumentor.instrument(tracer_provider=provider, metrics=False)
    t = _topics()
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    batches: list[list[int]] = []
    try:
        for i in range(roots):
            producer.send(t["orders"], b"order-%d" % i)
        producer.flush()
        consumer = _consumer(bootstrap, t["orders"], FIRST_BATCH)
        n_batches = 0
        for records in _batches(consumer, roots):  # batch consumer: one send per batch, after the poll
            batches.append([_sender_span_id(r) for r in records])
            producer.send(t["batches"], b"batch-%d" % n_batches)
            n_batches += 1
        consumer.close()
        producer.flush()
        outbox = []
        consumer = _consumer(bootstrap, t["batches"])
        for _record in _each(consumer, n_batches):  # payments: writes an outbox row with the context
            outbox.append(capture_context())
        consumer.close()
        for row in outbox:  # the relay
            with restore_context(row):
                producer.send(t["payments"], b"payment")
        producer.flush()
        consumer = _consumer(bootstrap, t["payments"], SECOND_BATCH)
        n_settlements = 0
        for _records in _batches(consumer, n_batches):
            producer.send(t["settlements"], b"settlement")
            n_settlements += 1
        consumer.close()
        producer.flush()
        consumer = _consumer(bootstrap, t["settlements"])
        for _record in _each(consumer, n_settlements):  # loyalty: fails, retries later
            with send_context(retry_attempt=1):
                producer.send(t["retry"], b"retry")
        consumer.close()
        producer.flush()
        consumer = _consumer(bootstrap, t["retry"])
        for _record in _each(consumer, n_settlements):  # the retry fails too: dead letter
            with send_context(dead_letter=True, reason="still failing"):
                producer.send(t["dlq"], b"dead")
        consumer.close()
        producer.flush()
    finally:
        producer.close()
        instrumentor.uninstrument()
    provider.force_flush()
    return Run(list(exporter.get_finished_spans()), batches)


def _complete_lineages(run: Run) -> tuple[int, int]:
    """(kept roots, kept roots whose lineage A → B → C with retry and dead letter is all present)."""
    by_id = {s.context.span_id: s for s in run.spans}
    by_trace: dict[int, list[ReadableSpan]] = {}
    for span in run.spans:
        by_trace.setdefault(span.context.trace_id, []).append(span)
    linked_from: dict[int, list[ReadableSpan]] = {}
    for span in run.spans:
        for link in span.links:
            linked_from.setdefault(link.context.span_id, []).append(span)

    def sends_linking(span_id: int, topic_part: str) -> list[ReadableSpan]:
        return [s for s in linked_from.get(span_id, []) if s.name.startswith("send ") and topic_part in s.name]

    roots = [s for s in run.named("send t-lineage-orders") if s.parent is None]
    complete = 0
    for root in roots:
        ok = False
        for b_send in sends_linking(root.context.span_id, "-batches-"):
            relays = [s for s in by_trace[b_send.context.trace_id]
                      if "-payments-" in s.name and s.name.startswith("send")]
            for relay in relays:
                for c_send in sends_linking(relay.context.span_id, "-settlements-"):
                    c_trace = by_trace[c_send.context.trace_id]
                    if any("-retry-" in s.name and s.name.startswith("send") for s in c_trace) and any(
                            "-dlq-" in s.name and s.name.startswith("send") for s in c_trace):
                        ok = True
        complete += ok
    assert all(s.context.span_id in by_id for s in roots)
    return len(roots), complete


def _kept_inputs_present(run: Run) -> None:
    """In every kept span that links to inputs, every input that was kept (sampled flag) was exported."""
    exported = {s.context.span_id for s in run.spans}
    for span in run.spans:
        for link in span.links:
            if link.context.trace_flags.sampled:
                assert link.context.span_id in exported, f"{span.name} links a kept input that is missing"


@pytest.mark.parametrize(("rate", "roots"), [(0.1, 400), (0.01, 1500)])
def test_kept_lineages_are_complete_with_consistent_sampling(kafka_bootstrap, rate, roots):
    """≥ 99% of kept roots have their whole lineage with the consistent sampler; about rate² with the SDK's."""
    ours = _pipeline(kafka_bootstrap, ConsistentProbabilitySampler(rate), roots)
    theirs = _pipeline(kafka_bootstrap, ParentBasedTraceIdRatio(rate), roots)
    kept, complete = _complete_lineages(ours)
    base_kept, base_complete = _complete_lineages(theirs)
    print(f"rate {rate}: consistent {complete}/{kept} complete; SDK default {base_complete}/{base_kept}")
    assert kept >= 5 and base_kept >= 5
    assert complete / kept >= 0.99
    assert base_complete / base_kept <= 0.2  # ≈ rate² expected
    _kept_inputs_present(ours)


def test_fan_in_keeps_exactly_the_batches_with_a_kept_input(kafka_bootstrap):
    """The batch's output is kept iff one of its inputs was kept (same rate): no volume beyond the rule."""
    run = _pipeline(kafka_bootstrap, ConsistentProbabilitySampler(0.1), 300)
    kept_roots = {s.context.span_id for s in run.named("send t-lineage-orders")}
    kept_batch_sends = run.named("send t-lineage-batches")
    expected = sum(any(span_id in kept_roots for span_id in batch) for batch in run.batches)
    assert len(kept_batch_sends) == expected
    assert 0 < expected < len(run.batches)
