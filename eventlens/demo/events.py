"""The shop's events: CloudEvents in Kafka binary mode (`ce_*` headers, JSON data) and their builders.

Pure functions: they take everything (ids, times, randomness) as arguments and return the record's key, value
and headers, so tests check them without a broker. `order.placed` exists in two versions with different
JSON structures; `parse_order` reads both into one `Order`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SPEC_VERSION = "1.0"
TYPE_PREFIX = "com.example.shop."
SCHEMA_BASE = "https://schemas.example.com/shop/"

ORDER_PLACED = f"{TYPE_PREFIX}order.placed"
PAYMENT_CAPTURED = f"{TYPE_PREFIX}payment.captured"
PAYMENT_DECLINED = f"{TYPE_PREFIX}payment.declined"
INVENTORY_RESERVED = f"{TYPE_PREFIX}inventory.reserved"
STOCK_LEVEL = f"{TYPE_PREFIX}inventory.stock-level"
SCHEDULE_PICKUP = f"{TYPE_PREFIX}shipping.schedule-pickup"
PICKUP_SCHEDULED = f"{TYPE_PREFIX}shipping.pickup-scheduled"
LABEL_CREATED = f"{TYPE_PREFIX}shipment.label-created"

Headers = tuple[tuple[str, bytes], ...]


class EventError(ValueError):
    """A record is not a shop event this code understands (bad JSON, missing field, unknown version)."""


@dataclass(frozen=True, slots=True)
class Event:
    """A CloudEvent ready to send in Kafka binary mode."""

    id: str
    type: str
    source: str
    time_ms: int
    data: Mapping[str, Any]
    version: int = 1
    subject: str | None = None

    @property
    def dataschema(self) -> str:
        """The versioned schema URI of the data (`…/<type>/v<version>.json`)."""
        return f"{SCHEMA_BASE}{self.type.removeprefix(TYPE_PREFIX)}/v{self.version}.json"

    def headers(self, extra: Sequence[tuple[str, bytes]] = ()) -> Headers:
        """The binary-mode headers: `ce_*` attributes and `content-type`, then `extra`."""
        time = datetime.fromtimestamp(self.time_ms / 1000, tz=UTC).isoformat(timespec="milliseconds")
        pairs = [
            ("ce_specversion", SPEC_VERSION),
            ("ce_id", self.id),
            ("ce_type", self.type),
            ("ce_source", self.source),
            ("ce_time", time.replace("+00:00", "Z")),
            ("ce_dataschema", self.dataschema),
            ("content-type", "application/json"),
        ]
        if self.subject is not None:
            pairs.append(("ce_subject", self.subject))
        return tuple((name, value.encode()) for name, value in pairs) + tuple(extra)

    def value(self) -> bytes:
        """The data, as compact JSON."""
        return json.dumps(self.data, separators=(",", ":"), sort_keys=True).encode()


@dataclass(frozen=True, slots=True)
class Received:
    """A CloudEvent read back from a record's headers and value."""

    id: str
    type: str
    source: str
    version: int
    data: Mapping[str, Any]


def header(headers: Sequence[tuple[str, bytes | None]] | None, name: str) -> str | None:
    """The last value of a header as text (as Kafka clients read duplicates), or None when absent/invalid."""
    found: str | None = None
    for key, value in headers or ():
        if key == name and value is not None:
            try:
                found = value.decode()
            except UnicodeDecodeError:
                found = None
    return found


def cloudevent_type(record: Any) -> str | None:
    """The `ce_type` header of a record being sent or consumed: the event type the instrumentation records."""
    return header(getattr(record, "headers", None), "ce_type")


def read_event(headers: Sequence[tuple[str, bytes | None]] | None, value: bytes | None) -> Received:
    """Read a binary-mode CloudEvent; raises EventError when headers or data are missing or malformed."""
    ce_id, ce_type, source = header(headers, "ce_id"), header(headers, "ce_type"), header(headers, "ce_source")
    if ce_id is None or ce_type is None or source is None:
        raise EventError("not a CloudEvent: ce_id, ce_type or ce_source header missing")
    schema = header(headers, "ce_dataschema") or ""
    version = 1
    tail = schema.rsplit("/", 1)[-1]
    if tail.startswith("v") and tail.endswith(".json"):
        try:
            version = int(tail[1:-5])
        except ValueError as exc:
            raise EventError(f"unreadable schema version in {schema!r}") from exc
    try:
        data = json.loads(value or b"")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EventError(f"event {ce_id} has no valid JSON data: {exc}") from exc
    if not isinstance(data, dict):
        raise EventError(f"event {ce_id} data is not a JSON object")
    return Received(id=ce_id, type=ce_type, source=source, version=version, data=data)


# ---- orders ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Line:
    """One order line."""

    sku: str
    quantity: int
    unit_price_cents: int


@dataclass(frozen=True, slots=True)
class Order:
    """An order as every consumer sees it, whichever version of `order.placed` carried it."""

    order_id: str
    customer_id: str
    email: str
    lines: tuple[Line, ...]
    currency: str
    placed_at_ms: int
    channel: str

    @property
    def total_cents(self) -> int:
        """Sum of quantity × unit price."""
        return sum(line.quantity * line.unit_price_cents for line in self.lines)


def order_placed_v1(order: Order, *, event_id: str, source: str) -> Event:
    """Version 1 (deprecated): flat fields, integer cents."""
    data = {
        "order_id": order.order_id,
        "customer_id": order.customer_id,
        "email": order.email,
        "items": [{"sku": li.sku, "qty": li.quantity, "price_cents": li.unit_price_cents} for li in order.lines],
        "total_cents": order.total_cents,
        "currency": order.currency,
        "placed_at": order.placed_at_ms,
    }
    return Event(id=event_id, type=ORDER_PLACED, source=source, time_ms=order.placed_at_ms, data=data, version=1,
                 subject=order.order_id)


def _money(cents: int, currency: str) -> dict[str, str]:
    return {"amount": f"{cents // 100}.{cents % 100:02d}", "currency": currency}


def order_placed_v2(order: Order, *, event_id: str, source: str) -> Event:
    """Version 2: nested order/customer objects, money as decimal strings with currency, a sales channel."""
    data = {
        "order": {"id": order.order_id, "placed_at": _iso(order.placed_at_ms), "channel": order.channel},
        "customer": {"id": order.customer_id, "contact": {"email": order.email}},
        "lines": [{"product": {"sku": li.sku}, "quantity": li.quantity,
                   "unit_price": _money(li.unit_price_cents, order.currency)} for li in order.lines],
        "total": _money(order.total_cents, order.currency),
    }
    return Event(id=event_id, type=ORDER_PLACED, source=source, time_ms=order.placed_at_ms, data=data, version=2,
                 subject=order.order_id)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _cents(amount: str) -> int:
    units, _, frac = amount.partition(".")
    return int(units) * 100 + int((frac + "00")[:2])


def parse_order(event: Received) -> Order:
    """Read either version of `order.placed`; raises EventError for another type, version or shape."""
    if event.type != ORDER_PLACED:
        raise EventError(f"expected {ORDER_PLACED}, got {event.type}")
    d = event.data
    try:
        if event.version == 1:
            return Order(
                order_id=str(d["order_id"]), customer_id=str(d["customer_id"]), email=str(d["email"]),
                lines=tuple(Line(str(i["sku"]), int(i["qty"]), int(i["price_cents"])) for i in d["items"]),
                currency=str(d["currency"]), placed_at_ms=int(d["placed_at"]), channel="legacy",
            )
        if event.version == 2:
            placed = datetime.fromisoformat(str(d["order"]["placed_at"]).replace("Z", "+00:00"))
            return Order(
                order_id=str(d["order"]["id"]), customer_id=str(d["customer"]["id"]),
                email=str(d["customer"]["contact"]["email"]),
                lines=tuple(Line(str(li["product"]["sku"]), int(li["quantity"]),
                                 _cents(str(li["unit_price"]["amount"]))) for li in d["lines"]),
                currency=str(d["total"]["currency"]), placed_at_ms=round(placed.timestamp() * 1000),
                channel=str(d["order"]["channel"]),
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise EventError(f"order.placed v{event.version} {event.id} is malformed: {exc!r}") from exc
    raise EventError(f"order.placed version {event.version} is not supported")


# ---- the other events -------------------------------------------------------------------------------------------


def payment_event(order: Order, *, event_id: str, payment_id: str, captured: bool, now_ms: int,
                  reason: str | None = None) -> Event:
    """`payment.captured` or `payment.declined` for an order (written to the outbox, sent by the relay)."""
    data: dict[str, Any] = {"payment_id": payment_id, "order_id": order.order_id, "customer_id": order.customer_id,
                            "email": order.email, "amount_cents": order.total_cents, "currency": order.currency}
    if not captured:
        data["reason"] = reason or "declined"
    return Event(id=event_id, type=PAYMENT_CAPTURED if captured else PAYMENT_DECLINED, source="/shop/payments",
                 time_ms=now_ms, data=data, subject=order.order_id)


def inventory_reserved(order_id: str, reservation_id: str, *, event_id: str, now_ms: int) -> Event:
    """Thin notification: ids only; whoever needs more asks inventory (or reads the stock-level events)."""
    return Event(id=event_id, type=INVENTORY_RESERVED, source="/shop/inventory", time_ms=now_ms,
                 data={"order_id": order_id, "reservation_id": reservation_id}, subject=order_id)


@dataclass(frozen=True, slots=True)
class StockItem:
    """Inventory's full state of one product: what a fat state-transfer event carries."""

    sku: str
    name: str
    description: str
    unit_price_cents: int
    warehouses: Mapping[str, int]
    reserved: int
    attributes: Mapping[str, str]


def stock_level(item: StockItem, *, event_id: str, now_ms: int) -> Event:
    """Fat event-carried state transfer: the whole stock item, so consumers never call inventory back."""
    data = {
        "sku": item.sku, "name": item.name, "description": item.description,
        "unit_price_cents": item.unit_price_cents, "warehouses": dict(sorted(item.warehouses.items())),
        "on_hand": sum(item.warehouses.values()), "reserved": item.reserved,
        "available": sum(item.warehouses.values()) - item.reserved, "attributes": dict(sorted(item.attributes.items())),
    }
    return Event(id=event_id, type=STOCK_LEVEL, source="/shop/inventory", time_ms=now_ms, data=data, subject=item.sku)


def schedule_pickup(order_id: str, warehouse: str, parcels: int, *, event_id: str, now_ms: int) -> Event:
    """The asynchronous command inventory sends to shipping (with `reply-to` and `correlation-id`)."""
    return Event(id=event_id, type=SCHEDULE_PICKUP, source="/shop/inventory", time_ms=now_ms,
                 data={"order_id": order_id, "warehouse": warehouse, "parcels": parcels}, subject=order_id)


def pickup_scheduled(order_id: str, slot_ms: int, *, event_id: str, now_ms: int) -> Event:
    """Shipping's reply to `schedule-pickup`."""
    return Event(id=event_id, type=PICKUP_SCHEDULED, source="/shop/shipping", time_ms=now_ms,
                 data={"order_id": order_id, "pickup_at": _iso(slot_ms)}, subject=order_id)


def label_created(order_id: str, shipment_id: str, carrier: str, label: Mapping[str, str | int], *,
                  event_id: str, now_ms: int) -> Event:
    """`shipment.label-created`: the label itself is stored aside; `label` is its claim-check reference."""
    return Event(id=event_id, type=LABEL_CREATED, source="/shop/shipping", time_ms=now_ms,
                 data={"shipment_id": shipment_id, "order_id": order_id, "carrier": carrier, "label": dict(label)},
                 subject=order_id)
