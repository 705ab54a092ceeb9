"""The shop's events: CloudEvents binary mode, both versions of order.placed, and their readers."""

from __future__ import annotations

import json
import random

import pytest

from eventlens.demo import events
from eventlens.demo.traffic import make_order


def _order():
    return make_order(random.Random(7), 3, now_ms=1_764_000_000_123)


def test_binary_mode_headers_carry_the_cloudevent_attributes() -> None:
    """A binary-mode event has ce_specversion, ce_id, ce_type, ce_source, ce_time, ce_dataschema and content-type."""
    event = events.order_placed_v1(_order(), event_id="e-1", source="/shop/storefront")
    headers = dict(event.headers())
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_id"] == b"e-1"
    assert headers["ce_type"] == b"com.example.shop.order.placed"
    assert headers["ce_source"] == b"/shop/storefront"
    assert headers["ce_time"] == b"2025-11-24T16:00:00.123Z"
    assert headers["ce_dataschema"] == b"https://schemas.example.com/shop/order.placed/v1.json"
    assert headers["content-type"] == b"application/json"


def test_extra_headers_follow_the_cloudevent_headers() -> None:
    """Headers passed to `headers()` (reply-to, correlation-id) are appended unchanged."""
    event = events.schedule_pickup("o-1", "AMS-1", 2, event_id="c-1", now_ms=0)
    headers = event.headers([("reply-to", b"replies"), ("correlation-id", b"cid-1")])
    assert headers[-2:] == (("reply-to", b"replies"), ("correlation-id", b"cid-1"))


@pytest.mark.parametrize("build", [events.order_placed_v1, events.order_placed_v2])
def test_both_order_versions_read_back_to_the_same_order(build) -> None:
    """An order sent as v1 or v2 is parsed back to the same order (v1 has no sales channel: 'legacy')."""
    order = _order()
    event = build(order, event_id="e-2", source="/s")
    received = events.read_event(event.headers(), event.value())
    parsed = events.parse_order(received)
    assert received.version == event.version
    assert parsed.lines == order.lines
    assert parsed.total_cents == order.total_cents
    assert parsed.placed_at_ms == order.placed_at_ms
    assert (parsed.order_id, parsed.customer_id, parsed.email) == (order.order_id, order.customer_id, order.email)


def test_version_two_has_a_different_json_structure() -> None:
    """The schema change is structural: v1 and v2 share no top-level field."""
    order = _order()
    v1 = json.loads(events.order_placed_v1(order, event_id="a", source="/s").value())
    v2 = json.loads(events.order_placed_v2(order, event_id="b", source="/s").value())
    assert set(v1).isdisjoint(v2)


def test_a_record_without_cloudevent_headers_is_an_event_error() -> None:
    """A record lacking ce_id/ce_type/ce_source is rejected with EventError, not KeyError."""
    with pytest.raises(events.EventError):
        events.read_event([("content-type", b"application/json")], b"{}")


def test_invalid_json_data_is_an_event_error() -> None:
    """A record whose value is not JSON is rejected with EventError."""
    headers = events.inventory_reserved("o", "r", event_id="x", now_ms=0).headers()
    with pytest.raises(events.EventError):
        events.read_event(headers, b"\xff not json")


def test_a_malformed_order_is_an_event_error() -> None:
    """An order.placed v2 missing its customer is rejected with EventError naming the event."""
    event = events.order_placed_v2(_order(), event_id="bad", source="/s")
    data = dict(event.data)
    del data["customer"]
    with pytest.raises(events.EventError, match="bad"):
        events.parse_order(events.Received(id="bad", type=events.ORDER_PLACED, source="/s", version=2, data=data))


def test_an_unknown_order_version_is_an_event_error() -> None:
    """Version 3 of order.placed is not guessed at."""
    with pytest.raises(events.EventError, match="version 3"):
        events.parse_order(events.Received(id="x", type=events.ORDER_PLACED, source="/s", version=3, data={}))


def test_header_reads_the_last_duplicate_and_ignores_undecodable_values() -> None:
    """As Kafka clients read them: the last duplicate wins; invalid UTF-8 counts as absent."""
    assert events.header([("a", b"1"), ("a", b"2")], "a") == "2"
    assert events.header([("a", b"\xff")], "a") is None
    assert events.header(None, "a") is None


def test_stock_level_is_fat_and_inventory_reserved_is_thin() -> None:
    """The state-transfer event carries the whole item; the notification only ids."""
    item = events.StockItem(sku="S", name="N", description="d" * 1000, unit_price_cents=100,
                            warehouses={"A": 5, "B": 7}, reserved=2, attributes={"k": "v"})
    fat = events.stock_level(item, event_id="f", now_ms=0)
    thin = events.inventory_reserved("o-1", "r-1", event_id="t", now_ms=0)
    assert fat.data["available"] == 10
    assert len(fat.value()) > 1000
    assert set(thin.data) == {"order_id", "reservation_id"}


def test_cloudevent_type_reads_the_type_header_of_sent_and_consumed_records() -> None:
    """The event-type getter given to the instrumentation reads `ce_type` from any record with headers."""

    from types import SimpleNamespace

    record = SimpleNamespace(headers=[("ce_type", b"com.example.shop.order.placed")])
    assert events.cloudevent_type(record) == "com.example.shop.order.placed"
    assert events.cloudevent_type(SimpleNamespace(headers=None)) is None
    assert events.cloudevent_type(object()) is None
