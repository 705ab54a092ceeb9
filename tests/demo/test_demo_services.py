"""Pure parts of the shop's services: the read-model projection, stock reservations, declines, the dispatcher."""

from __future__ import annotations

import random
import subprocess
import sys

from eventlens.demo import events
from eventlens.demo.services import SERVICES
from eventlens.demo.services.inventory import RESTOCK_BELOW, initial_stock, reserve, warehouse_for
from eventlens.demo.services.order_view import connect, project
from eventlens.demo.services.payments import declined
from eventlens.demo.services.shipping import make_label
from eventlens.demo.traffic import make_order


def _received(event: events.Event) -> events.Received:
    return events.read_event(event.headers(), event.value())


def test_the_read_model_follows_an_order_through_its_events(tmp_path) -> None:
    """placed → paid → shipped in one row; a redelivered event keeps the row (only its staleness is updated)."""
    conn = connect(tmp_path / "view.db")
    order = make_order(random.Random(1), 1, now_ms=1000)
    placed = events.order_placed_v2(order, event_id="e1", source="/s")
    paid = events.payment_event(order, event_id="e2", payment_id="p", captured=True, now_ms=2000)
    shipped = events.label_created(order.order_id, "shp-1", "DHL", {"claim_check": "x"}, event_id="e3", now_ms=3000)
    for event, at in ((placed, 1500), (paid, 2500), (shipped, 3500), (shipped, 3600)):
        project(conn, _received(event), event.time_ms, at)
    rows = conn.execute("SELECT status, schema_version, total_cents, shipment_id, staleness_ms FROM order_view")
    assert rows.fetchall() == [("shipped", 2, order.total_cents, "shp-1", 600)]


def test_stock_levels_are_projected_from_the_fat_events(tmp_path) -> None:
    """The stock view is filled from inventory.stock-level alone (no call back to inventory)."""
    conn = connect(tmp_path / "view.db")
    item = initial_stock(seed=1)["SKU-MUG"]
    project(conn, _received(events.stock_level(item, event_id="s", now_ms=0)), 0, 10)
    [(sku, available)] = conn.execute("SELECT sku, available FROM stock_view").fetchall()
    assert sku == "SKU-MUG"
    assert available == sum(item.warehouses.values())


def test_reserving_takes_stock_and_restocks_when_low() -> None:
    """A reservation lowers the warehouse level and raises `reserved`; a level under the threshold is refilled."""
    item = initial_stock(seed=1)["SKU-MUG"]
    warehouse = warehouse_for("ord-1")
    after = reserve(item, 3, warehouse)
    assert after.warehouses[warehouse] == item.warehouses[warehouse] - 3
    assert after.reserved == item.reserved + 3
    low = reserve(after, after.warehouses[warehouse] - RESTOCK_BELOW + 1, warehouse)
    assert low.warehouses[warehouse] >= RESTOCK_BELOW


def test_about_six_percent_of_payments_are_declined() -> None:
    """Declines are deterministic per order and rare."""
    orders = [make_order(random.Random(i), i, 0) for i in range(2000)]
    rate = sum(declined(o) is not None for o in orders) / len(orders)
    assert 0.03 < rate < 0.09
    assert [declined(o) for o in orders[:50]] == [declined(o) for o in orders[:50]]


def test_labels_are_deterministic_and_larger_than_the_claim_threshold() -> None:
    """The stand-in label PDF is the same for the same order, different for another, 96 KiB by default."""
    assert make_label("o-1") == make_label("o-1")
    assert make_label("o-1") != make_label("o-2")
    assert len(make_label("o-1")) == 96 * 1024
    assert make_label("o-1").startswith(b"%PDF-")


def test_the_dispatcher_names_the_services_when_called_wrongly() -> None:
    """`python -m eventlens.demo.services` without a known service prints the choices and exits 2."""
    result = subprocess.run([sys.executable, "-m", "eventlens.demo.services", "nope"], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 2
    assert all(name in result.stderr for name in SERVICES)
