"""One evaluation pass on a real store (SQLite, PostgreSQL) seeded with lag samples: transitions, under a lease."""

from __future__ import annotations

import pytest

from eventlens.collector.alerts.evaluator import LEASE_NAME, Evaluator
from eventlens.collector.alerts.rules import default_rules, parse_rules
from eventlens.collector.model import NS_PER_S, LagSample
from eventlens.collector.storage.protocol import open_store
from eventlens.testing import producer_consumer_pair

T0 = 1_800_000_000 * NS_PER_S
MIN = 60 * NS_PER_S

RULES = parse_rules("""
rules:
  - name: behind
    kind: lag_seconds
    params: {above: 1m}
    labels: {team: payments}
    for: 2m
""")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request, tmp_path) -> str:
    """A fresh database of each backend."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_dsn"))
    return f"sqlite:///{tmp_path / 'alerts.db'}"


@pytest.fixture
def store(url):
    s = open_store(url)
    yield s
    s.close()


def _observe(store, at_ns: int, lag_seconds: float, committed: int) -> None:
    """A lag poll of group `billing` on `orders`/0 at `at_ns` (end offset 100)."""
    store.write_lag_samples([LagSample("billing", "orders", 0, committed, 100, at_ns, lag_seconds)])


def _states(store):
    return [(s.rule, dict(s.labels), s.state) for s in store.alert_states()]


def test_a_lag_rule_goes_pending_firing_resolved_across_passes(store):
    """`for: 2m`: pending at the first pass above, firing once held 2 minutes, resolved when back under."""
    ev = Evaluator(store, RULES, holder="a")
    seen = []
    for minute, (lag_s, committed) in enumerate([(300.0, 10), (310.0, 20), (320.0, 30), (0.0, 100)]):
        now = T0 + minute * MIN
        _observe(store, now, lag_s, committed)
        ev.run_once(now)
        seen.append(_states(store))
    labels = {"group": "billing", "topic": "orders", "team": "payments"}
    assert seen == [[("behind", labels, "pending")], [("behind", labels, "pending")],
                    [("behind", labels, "firing")], [("behind", labels, "resolved")]]
    history = store.alert_history(T0, T0 + 10 * MIN, rule="behind")
    assert [(t.from_state, t.to_state, t.at_ns) for t in reversed(history)] == [
        ("inactive", "pending", T0), ("pending", "firing", T0 + 2 * MIN), ("firing", "resolved", T0 + 3 * MIN)]
    assert history[-1].value == 300.0


def test_a_pass_with_nothing_changing_records_nothing(store):
    """Staying pending is not a transition."""
    ev = Evaluator(store, RULES, holder="a")
    _observe(store, T0, 300.0, 10)
    assert ev.run_once(T0) == 1
    _observe(store, T0 + MIN, 300.0, 20)
    assert ev.run_once(T0 + MIN) == 0


def test_only_the_lease_holder_evaluates(url):
    """Two evaluators on one database: the second does not write while the first holds the lease."""
    first, second = open_store(url), open_store(url)
    try:
        a, b = Evaluator(first, RULES, holder="a"), Evaluator(second, RULES, holder="b")
        _observe(first, T0, 300.0, 10)
        assert a.run_once(T0) == 1
        assert b.run_once(T0) is None
        assert b.run_once(T0 + 30 * NS_PER_S) is None
        assert first.lease_holder(LEASE_NAME, T0 + 30 * NS_PER_S) == "a"
        assert len(first.alert_history(T0, T0 + 10 * MIN)) == 1
    finally:
        first.close()
        second.close()


def test_a_new_lease_holder_continues_from_the_stored_states(url):
    """When the holder stops renewing, the other takes over and fires the alert the first left pending."""
    first, second = open_store(url), open_store(url)
    try:
        a = Evaluator(first, RULES, holder="a", lease_ttl_ns=MIN)
        b = Evaluator(second, RULES, holder="b", lease_ttl_ns=MIN)
        _observe(first, T0, 300.0, 10)
        assert a.run_once(T0) == 1
        _observe(first, T0 + 2 * MIN, 300.0, 20)
        assert b.run_once(T0 + 2 * MIN) == 1  # a's lease expired at T0 + 1m
        history = second.alert_history(T0, T0 + 10 * MIN)
        assert [(t.from_state, t.to_state) for t in reversed(history)] == [("inactive", "pending"),
                                                                          ("pending", "firing")]
    finally:
        first.close()
        second.close()


def test_rules_of_kinds_not_evaluated_yet_are_skipped(store):
    """A rule set with only unevaluated kinds records nothing and does not fail."""
    rules = parse_rules("rules: [{name: e, kind: dead_letter_rate}]")
    assert Evaluator(store, rules, holder="a").run_once(T0) == 0


def test_the_built_in_rules_evaluate_on_an_empty_store(store):
    """Every evaluated kind of the defaults (lag and topology) reads the real store; no data holds nothing."""
    assert Evaluator(store, default_rules(), holder="a").run_once(T0) == 0
    assert store.alert_states() == []


def test_an_edge_latency_rule_fires_on_spans_written_through_the_store(store):
    """Spans stored (rollups built at ingest) with 45 s from send to process: the p99 rule fires for that flow."""
    rules = parse_rules("rules: [{name: slow, kind: edge_latency, params: {above: 30s, window: 5m}}]")
    pairs = [producer_consumer_pair(producer="orders-api", consumer="billing", group="billing-g", offset=i,
                                    delay_ns=45 * NS_PER_S) for i in range(5)]
    store.write_spans([span for pair in pairs for span in pair])
    start = min(pair[0].start_ns for pair in pairs)
    assert Evaluator(store, rules, holder="a").run_once(start + 2 * MIN) == 1
    assert _states(store) == [("slow", {"producer": "orders-api", "topic": "orders", "consumer": "billing"},
                               "firing")]
