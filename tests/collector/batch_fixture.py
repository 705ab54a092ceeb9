"""One span set for the batch-counting contract: topology, coupling and lineage must count it alike.

- three producers of three services (shop-a, shop-b, shop-c) each send one record to `orders`;
- billing handles the three in one batch `process` span: no parent, one link per record, batch count 3
  (confluent-kafka `consume()`, aiokafka `getmany`, a Spring batch listener, the Java agent);
- warehouse only polls them: one `poll` span linking the three records (no process spans);
- shop-a also sends two records to `payments`, each handled by ledger in a process span parented on its send.

`EXPECTED_FLOWS` is what every view must find: messages per (producer, topic, group, consumer).
"""

from __future__ import annotations

from eventlens.collector.model import Operation, SpanKind, SpanLink, SpanRecord
from eventlens.testing import T0_NS, messaging, poll_span, process_span, send_span, span_record

PRODUCERS = ("shop-a", "shop-b", "shop-c")

EXPECTED_FLOWS = {
    **{(p, "orders", "billing-g", "billing"): 1 for p in PRODUCERS},
    **{(p, "orders", "warehouse-g", "warehouse"): 1 for p in PRODUCERS},
    ("shop-a", "payments", "ledger-g", "ledger"): 2,
}
"""(producer, topic, group, consumer) → messages."""

EXPECTED_DEPENDANTS = {"shop-a": 3, "shop-b": 2, "shop-c": 2}
"""Afferent coupling (services consuming a producer's events) of each producer."""


def batch_process_span(sends: list[SpanRecord], *, service: str, group: str,
                       batch_count: int | None = None, start_ns: int | None = None) -> SpanRecord:
    """A parentless `process {topic}` CONSUMER span linking every record it handled (a batch listener)."""
    topic = sends[0].messaging.topic or "orders"
    start = start_ns if start_ns is not None else max(s.start_ns for s in sends) + 7_000_000
    return span_record(
        name=f"process {topic}", kind=SpanKind.CONSUMER, service=service, start_ns=start, end_ns=start + 3_000_000,
        links=tuple(SpanLink(s.trace_id, s.span_id) for s in sends),
        messaging=messaging(topic=topic, operation=Operation.PROCESS, operation_name="process",
                            consumer_group=group, batch_count=len(sends) if batch_count is None else batch_count))


def contract_spans() -> list[SpanRecord]:
    """The contract's span set, producers first (every consumer span after the sends it names)."""
    t = T0_NS + 10_000_000_000
    orders = [send_span(topic="orders", service=p, start_ns=t + i * 1_000_000, end_ns=t + i * 1_000_000 + 500_000)
              for i, p in enumerate(PRODUCERS)]
    payments = [send_span(topic="payments", service="shop-a", start_ns=t + (5 + i) * 1_000_000,
                          end_ns=t + (5 + i) * 1_000_000 + 500_000) for i in range(2)]
    batch = batch_process_span(orders, service="billing", group="billing-g")
    poll = poll_span(orders, service="warehouse", group="warehouse-g")
    ledger = [process_span(s, service="ledger", group="ledger-g") for s in payments]
    return [*orders, *payments, batch, poll, *ledger]


def consumer_spans(spans: list[SpanRecord]) -> list[SpanRecord]:
    """The consumer-side spans of a span set (everything but the sends)."""
    return [s for s in spans if s.kind is not SpanKind.PRODUCER]
