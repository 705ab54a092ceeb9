"""The storefront's traffic plan: rate with bursts, deterministic orders, the schema switch."""

from __future__ import annotations

import random

from eventlens.demo.traffic import LEGACY_SOURCE, STOREFRONT_SOURCE, TrafficPlan, make_order


def test_steady_traffic_before_the_first_burst() -> None:
    """Without a burst, orders accumulate at the configured rate."""
    plan = TrafficPlan(rate=10, burst_every_s=40, burst_s=5, burst_factor=4)
    assert plan.expected_count(0) == 0
    assert plan.expected_count(10) == 100
    assert not plan.in_burst(10)


def test_a_burst_multiplies_the_rate_for_its_length() -> None:
    """During a burst the rate is rate × burst_factor; after it, steady again."""
    plan = TrafficPlan(rate=10, burst_every_s=40, burst_s=5, burst_factor=4)
    assert plan.in_burst(42)
    assert plan.expected_count(45) - plan.expected_count(40) == 200
    assert plan.expected_count(50) - plan.expected_count(45) == 50
    assert plan.expected_count(85) - plan.expected_count(80) == 200


def test_expected_count_never_decreases() -> None:
    """The cumulative count is monotonic, across burst edges too."""
    plan = TrafficPlan(rate=3.3, burst_every_s=7, burst_s=2, burst_factor=5)
    counts = [plan.expected_count(t / 10) for t in range(0, 500)]
    assert counts == sorted(counts)


def test_orders_are_deterministic_for_a_seed() -> None:
    """The same seed gives the same orders; another seed different ones."""
    a = [make_order(random.Random(1), i, 0) for i in range(3)]
    b = [make_order(random.Random(1), i, 0) for i in range(3)]
    c = [make_order(random.Random(2), i, 0) for i in range(3)]
    assert a == b
    assert a != c


def test_version_one_before_the_switch_and_mostly_version_two_after() -> None:
    """Before the switch every order is v1; after it v2, except the legacy app's share, still v1."""
    plan = TrafficPlan(rate=1, schema_switch_s=20, legacy_share=0.2)
    rng = random.Random(5)
    assert {plan.version_for(5, rng) for _ in range(50)} == {(1, STOREFRONT_SOURCE)}
    after = [plan.version_for(25, rng) for _ in range(1000)]
    legacy = after.count((1, LEGACY_SOURCE))
    assert set(after) == {(1, LEGACY_SOURCE), (2, STOREFRONT_SOURCE)}
    assert 120 < legacy < 280
