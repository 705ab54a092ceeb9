"""Lineage through consumers: chains form one trace, batch fan-in links every input, groups share work."""

from __future__ import annotations

import threading
import time

import pytest
from instr_support import Otel, consume_each, new_consumer, poll_all
from kafka import KafkaProducer
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Sampler, SamplingResult
from opentelemetry.trace import SpanKind

from eventlens.instrumentation import KafkaInstrumentor

pytestmark = pytest.mark.kafka


def test_three_hop_chain_is_one_trace(kafka_bootstrap, make_topic, instrumented: Otel):
    """A produces to t1; B consumes t1 and produces to t2 while handling; C consumes t2: one trace."""
    t1, t2 = make_topic(1, "-a"), make_topic(1, "-b")
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    producer.send(t1, b'{"order": 1}').get(timeout=60)
    consume_each(kafka_bootstrap, t1, 1, lambda r: producer.send(t2, r.value).get(timeout=60))
    producer.close()
    consume_each(kafka_bootstrap, t2, 1, lambda _r: None)
    names = [f"send {t1}", f"process {t1}", f"send {t2}", f"process {t2}"]
    spans = {name: instrumented.wait_spans(name, 1)[0] for name in names}
    assert len({s.context.trace_id for s in spans.values()}) == 1
    for child, parent in zip(names[1:], names[:-1], strict=True):
        assert spans[child].parent is not None
        assert spans[child].parent.span_id == spans[parent].context.span_id, child


def _send_after_each_poll_batch(kafka_bootstrap, make_topic, otel: Otel) -> tuple[set[int], set[int]]:
    """Produce 4 records, poll them, send one record after each poll batch (outside any process span): the
    span ids of the 4 sends, and of everything the after-batch sends link to."""
    source, sink = make_topic(1, "-in"), make_topic(1, "-out")
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for i in range(4):
        producer.send(source, f"{i}".encode())
    producer.flush(timeout=60)
    inputs = {s.context.span_id for s in otel.wait_spans(f"send {source}", 4)}
    consumer = new_consumer(kafka_bootstrap, source, max_poll_records=10)
    linked: set[int] = set()
    for _batch in poll_all(consumer, 4):
        producer.send(sink, b"aggregate").get(timeout=60)
        out = otel.wait_spans(f"send {sink}", 1)[-1]
        linked |= {link.context.span_id for link in out.links}
    consumer.close()
    producer.close()
    return inputs, linked


def test_send_after_poll_batch_links_every_input(kafka_bootstrap, make_topic, instrumented: Otel):
    """A record produced after a poll batch, outside any process span, links every record of the batch."""
    inputs, linked = _send_after_each_poll_batch(kafka_bootstrap, make_topic, instrumented)
    assert linked == inputs


def test_group_with_two_members_traces_every_record_once(kafka_bootstrap, make_topic, instrumented: Otel):
    """Two members of one group split a 2-partition topic; every record gets exactly one process span."""
    topic = make_topic(2)
    group = "grp-two-members"
    seen: dict[str, list[int]] = {"m1": [], "m2": []}
    stop = threading.Event()

    def member(name: str) -> None:
        consumer = new_consumer(kafka_bootstrap, topic, group=group, consumer_timeout_ms=500)
        try:
            while not stop.is_set():
                for record in consumer:
                    seen[name].append(record.offset * 10 + record.partition)
        finally:
            consumer.close()

    threads = [threading.Thread(target=member, args=(n,), daemon=True) for n in seen]
    for t in threads:
        t.start()
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    deadline = time.monotonic() + 90
    sent = 0
    while time.monotonic() < deadline and (not seen["m1"] or not seen["m2"]):
        for p in (0, 1):
            producer.send(topic, b"x", partition=p)
            sent += 1
        producer.flush(timeout=60)
        time.sleep(0.5)
    producer.close()
    while time.monotonic() < deadline and len(seen["m1"]) + len(seen["m2"]) < sent:
        time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert seen["m1"] and seen["m2"], seen
    deliveries = seen["m1"] + seen["m2"]
    process = instrumented.wait_spans(f"process {topic}", len(deliveries))
    keys = sorted(dict(s.attributes or {})["messaging.kafka.offset"] * 10
                  + int(dict(s.attributes or {})["messaging.destination.partition.id"]) for s in process)
    assert keys == sorted(deliveries)
    assert len(set(deliveries)) == sent
    assert {dict(s.attributes or {})["messaging.consumer.group.name"] for s in process} == {group}


class _DropPolls(Sampler):
    """Samples every span except CLIENT ones (poll, commit)."""

    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None,  # noqa: PLR0917
                      trace_state=None) -> SamplingResult:
        if kind is SpanKind.CLIENT:
            return ALWAYS_OFF.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)
        return ALWAYS_ON.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return "drop-polls"


def test_fan_in_links_survive_an_unrecorded_poll_span(kafka_bootstrap, make_topic, otel: Otel, instrument):
    """When the poll span is not recorded, a recorded send after the batch still links every input."""
    instrument()
    KafkaInstrumentor().uninstrument()
    provider = TracerProvider(sampler=_DropPolls(), span_limits=SpanLimits(max_links=1024))
    provider.add_span_processor(SimpleSpanProcessor(otel.exporter))
    KafkaInstrumentor().instrument(tracer_provider=provider, meter_provider=otel.meter_provider)
    inputs, linked = _send_after_each_poll_batch(kafka_bootstrap, make_topic, otel)
    assert linked == inputs
    assert not [s for s in otel.spans() if s.name.startswith("poll")]
