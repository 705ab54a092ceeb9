"""The storefront's traffic: how many orders by time t (a steady rate with periodic bursts), what each order
contains, and which version of `order.placed` carries it. Deterministic for a given seed.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass

from eventlens.demo.events import Line, Order

CATALOG: tuple[tuple[str, str, int], ...] = (
    ("SKU-KETTLE", "Stovetop kettle", 3490),
    ("SKU-MUG", "Stoneware mug", 1250),
    ("SKU-BEANS", "Coffee beans 1 kg", 2390),
    ("SKU-GRINDER", "Burr grinder", 8900),
    ("SKU-FILTER", "Paper filters (100)", 450),
    ("SKU-SCALE", "Brew scale", 2990),
    ("SKU-DRIPPER", "Ceramic dripper", 2700),
    ("SKU-TEA", "Green tea 250 g", 1590),
)
"""(sku, name, unit price in cents)"""

CHANNELS = ("web", "ios", "android")
LEGACY_SOURCE = "/shop/mobile-legacy"
STOREFRONT_SOURCE = "/shop/storefront"


@dataclass(frozen=True, slots=True)
class TrafficPlan:
    """Orders per second over time: `rate`, multiplied by `burst_factor` for `burst_s` every `burst_every_s`.

    From `schema_switch_s` on, the storefront sends `order.placed` v2; the legacy mobile app keeps sending the
    deprecated v1 for `legacy_share` of the orders.
    """

    rate: float
    burst_every_s: float = 40.0
    burst_s: float = 5.0
    burst_factor: float = 4.0
    schema_switch_s: float = 20.0
    legacy_share: float = 0.2

    def in_burst(self, t: float) -> bool:
        """True while a burst runs (bursts start at `burst_every_s`, 2×`burst_every_s`, …)."""
        if t < self.burst_every_s or self.burst_every_s <= 0:
            return False
        return (t % self.burst_every_s) < self.burst_s

    def expected_count(self, t: float) -> int:
        """How many orders should have been placed by `t` seconds after the start."""
        if t <= 0:
            return 0
        extra_per_burst = self.burst_s * self.rate * (self.burst_factor - 1)
        count = t * self.rate
        if self.burst_every_s > 0:
            full = int(t // self.burst_every_s)  # bursts begun, the first one at burst_every_s
            if full >= 1:
                count += (full - 1) * extra_per_burst
                count += min(t % self.burst_every_s, self.burst_s) * self.rate * (self.burst_factor - 1)
        return int(count)

    def version_for(self, t: float, rng: random.Random) -> tuple[int, str]:
        """The `order.placed` version and CloudEvents source for an order placed at `t`."""
        if t < self.schema_switch_s:
            return 1, STOREFRONT_SOURCE
        if rng.random() < self.legacy_share:
            return 1, LEGACY_SOURCE
        return 2, STOREFRONT_SOURCE


def make_uuid(rng: random.Random) -> str:
    """A UUID drawn from the seeded generator (deterministic, unlike uuid4)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def make_order(rng: random.Random, seq: int, now_ms: int) -> Order:
    """The `seq`-th order: one to four lines from the catalog, one of 200 customers."""
    customer = rng.randrange(200)
    lines = []
    for sku, _name, price in rng.sample(CATALOG, k=rng.randint(1, 4)):
        lines.append(Line(sku=sku, quantity=rng.randint(1, 3), unit_price_cents=price))
    return Order(
        order_id=f"ord-{seq:06d}-{make_uuid(rng)[:8]}",
        customer_id=f"cust-{customer:04d}",
        email=f"customer{customer}@example.com",
        lines=tuple(lines),
        currency="EUR",
        placed_at_ms=now_ms,
        channel=rng.choice(CHANNELS),
    )
