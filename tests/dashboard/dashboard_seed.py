"""A small, known shop flow written into a real store, for the dashboard's page tests and benchmark.

orders ─OrderPlaced→ [orders] → billing (billing-g) ─PaymentCaptured→ [payments] → XSS (shipping-g)

The last consumer's service name is an XSS probe; it must show as text everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from eventlens.collector.model import NS_PER_S, LagSample, Messaging, Operation, SpanKind, SpanRecord, StatusCode
from eventlens.collector.storage.protocol import Store
from eventlens.testing import new_span_id, new_trace_id, span_record

XSS = "<img src=x onerror=alert(1)>"
ORDERS = 6


@dataclass(frozen=True, slots=True)
class Seeded:
    """What the seed wrote, so tests can look it up."""

    trace_ids: tuple[str, ...]
    spans: int
    first_event_id: str


def _msg(topic: str, op: Operation, **fields: object) -> Messaging:
    return Messaging(system="kafka", topic=topic, operation=op, operation_name=op.value, **fields)  # type: ignore[arg-type]


def order_flow(i: int, start_ns: int, *, consumer: str = XSS) -> list[SpanRecord]:
    """One order's four spans: send OrderPlaced, billing processes it and sends PaymentCaptured, shipping
    processes that (failing on order 5). Order 4 onwards carries a new OrderPlaced schema (drift)."""
    trace = new_trace_id()
    partition, offset = i % 2, i // 2
    fp = "json:order-v1" if i < 4 else "json:order-v2"
    send1 = span_record(
        trace_id=trace, span_id=new_span_id(), name="send orders", kind=SpanKind.PRODUCER, service="orders",
        start_ns=start_ns, end_ns=start_ns + 2_000_000,
        messaging=_msg("orders", Operation.SEND, partition=partition, offset=offset, key=f"order-{i}",
                       event_id=f"evt-order-{i}", event_type="OrderPlaced", body_size=120, schema_fingerprint=fp),
        attributes={"messaging.system": "kafka", "order.note": "<script>alert(2)</script>"})
    proc1 = span_record(
        trace_id=trace, span_id=new_span_id(), parent_span_id=send1.span_id, name="process orders",
        kind=SpanKind.CONSUMER, service="billing", start_ns=start_ns + 5_000_000, end_ns=start_ns + 9_000_000,
        messaging=_msg("orders", Operation.PROCESS, partition=partition, offset=offset, key=f"order-{i}",
                       consumer_group="billing-g", event_id=f"evt-order-{i}", event_type="OrderPlaced",
                       body_size=120, schema_fingerprint=fp))
    send2 = span_record(
        trace_id=trace, span_id=new_span_id(), parent_span_id=proc1.span_id, name="send payments",
        kind=SpanKind.PRODUCER, service="billing", start_ns=start_ns + 7_000_000, end_ns=start_ns + 8_000_000,
        messaging=_msg("payments", Operation.SEND, partition=0, offset=i, key=f"order-{i}",
                       event_id=f"evt-pay-{i}", event_type="PaymentCaptured", body_size=80,
                       schema_fingerprint="json:pay-v1"))
    proc2 = span_record(
        trace_id=trace, span_id=new_span_id(), parent_span_id=send2.span_id, name="process payments",
        kind=SpanKind.CONSUMER, service=consumer, start_ns=start_ns + 20_000_000, end_ns=start_ns + 30_000_000,
        status=StatusCode.ERROR if i == 5 else StatusCode.UNSET,
        messaging=_msg("payments", Operation.PROCESS, partition=0, offset=i, key=f"order-{i}",
                       consumer_group="shipping-g", event_id=f"evt-pay-{i}", event_type="PaymentCaptured",
                       body_size=80, schema_fingerprint="json:pay-v1"))
    return [send1, proc1, send2, proc2]


def lag_samples(now_ns: int) -> list[LagSample]:
    """billing-g keeping up on orders[0..1]; shipping-g falling behind on payments[0]."""
    out: list[LagSample] = []
    for k, age_s in enumerate((90, 60, 30)):
        at = now_ns - age_s * NS_PER_S
        for p in (0, 1):
            out.append(LagSample("billing-g", "orders", p, 10 + 5 * k, 12 + 5 * k, at, lag_seconds=0.5))
        out.append(LagSample("shipping-g", "payments", 0, 5, 20 + 20 * k, at, lag_seconds=5.0 + 20 * k))
    return out


def seed(store: Store, now_ns: int) -> Seeded:
    """Write `ORDERS` order flows (the last few minutes) and lag samples; returns what was written."""
    spans: list[SpanRecord] = []
    for i in range(ORDERS):
        spans += order_flow(i, now_ns - (4 * 60 - 20 * i) * NS_PER_S)
    store.write_spans(spans)
    store.write_lag_samples(lag_samples(now_ns))
    return Seeded(trace_ids=tuple(dict.fromkeys(s.trace_id for s in spans)), spans=len(spans),
                  first_event_id="evt-order-0")
