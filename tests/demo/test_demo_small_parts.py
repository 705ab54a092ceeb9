"""Small pure parts: the token bucket, request/reply bookkeeping, deprecations file, service options, topics."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from eventlens.demo import deprecations
from eventlens.demo.config import ServiceConfig
from eventlens.demo.correlation import PendingRequests
from eventlens.demo.ratelimit import TokenBucket
from eventlens.demo.topics import Topics


def test_token_bucket_allows_a_burst_up_to_capacity_then_paces() -> None:
    """With capacity 2 at 1/s: two immediate takes, then each take waits one second more."""
    bucket = TokenBucket(rate=1.0, capacity=2.0)
    assert [bucket.take(0.0) for _ in range(4)] == [0.0, 0.0, 1.0, 2.0]


def test_token_bucket_refills_over_time() -> None:
    """After waiting, tokens are available again (never more than capacity)."""
    bucket = TokenBucket(rate=2.0, capacity=1.0)
    assert bucket.take(0.0) == 0.0
    assert bucket.take(0.0) == 0.5
    assert bucket.take(10.0) == 0.0
    assert bucket.take(10.0) == 0.5


def test_token_bucket_rejects_a_zero_rate() -> None:
    """A bucket that never refills is a configuration error."""
    with pytest.raises(ValueError):
        TokenBucket(rate=0, capacity=1)


def test_a_reply_matches_its_request_once() -> None:
    """A reply returns the latency; a duplicate reply matches nothing."""
    pending = PendingRequests(timeout_s=10)
    pending.sent("c1", now=1.0)
    outcome = pending.answered("c1", now=1.5)
    assert outcome is not None
    assert (outcome.answered, outcome.latency_s) == (True, 0.5)
    assert pending.answered("c1", now=2.0) is None


def test_unanswered_requests_expire_after_the_timeout() -> None:
    """Requests older than the timeout are reported as timed out and forgotten."""
    pending = PendingRequests(timeout_s=10)
    pending.sent("old", now=0.0)
    pending.sent("new", now=8.0)
    expired = pending.expire(now=12.0)
    assert [(o.correlation_id, o.answered) for o in expired] == [("old", False)]
    assert len(pending) == 1


def test_deprecations_file_round_trips(tmp_path: Path) -> None:
    """The YAML written for the analysis has event_type, version and deprecated_after, and reads back."""
    path = deprecations.write(tmp_path / "deprecations.yaml")
    text = path.read_text()
    assert "event_type: com.example.shop.order.placed" in text
    assert "version: v1" in text
    assert "deprecated_after: '2026-01-31'" in text
    assert deprecations.load(path) == list(deprecations.DEMO_DEPRECATIONS)


def test_a_malformed_deprecation_names_its_entry(tmp_path: Path) -> None:
    """A deprecation without a date is reported with its position."""
    path = tmp_path / "d.yaml"
    path.write_text("deprecations:\n  - event_type: x\n    version: 1\n")
    with pytest.raises(ValueError, match="#1"):
        deprecations.load(path)


def test_unquoted_yaml_dates_are_accepted(tmp_path: Path) -> None:
    """A hand-written file with a bare date (a YAML date value) reads the same."""
    path = tmp_path / "d.yaml"
    path.write_text("deprecations:\n  - {event_type: x, version: v2, deprecated_after: 2026-03-01}\n")
    assert deprecations.load(path) == [deprecations.Deprecation("x", "v2", date(2026, 3, 1))]


def test_service_options_round_trip() -> None:
    """What the runner writes on a service's command line is what the service reads."""
    cfg = ServiceConfig(bootstrap="127.0.0.1:1", prefix="p.", workdir=Path("/tmp/w"), seed=3, rate=2.5,
                        duration_s=9, notify_rate=4)
    assert ServiceConfig.from_argv(cfg.to_argv()) == cfg


def test_notify_rate_defaults_to_twice_the_order_rate() -> None:
    """Unset, notifications may send twice the order rate (at least one per second)."""
    assert ServiceConfig(rate=5).effective_notify_rate == 10
    assert ServiceConfig(rate=0.2).effective_notify_rate == 1
    assert ServiceConfig(rate=5, notify_rate=3).effective_notify_rate == 3


def test_topics_share_the_prefix_and_are_distinct() -> None:
    """Every topic and group carries the run's prefix, so runs do not collide."""
    topics = Topics("run1.")
    names = list(topics.all())
    assert len(set(names)) == len(names) == 9
    assert all(n.startswith("run1.") for n in names)
    assert topics.group("payments") == "run1.payments"


def test_projection_cost_keeps_the_read_model_half_busy_by_default() -> None:
    """Unset, the per-event cost is what half-loads the projection at the steady order rate."""
    cfg = ServiceConfig(rate=4)
    assert cfg.effective_projection_cost_s * 4 * 7.5 == pytest.approx(0.5)
    assert ServiceConfig(rate=4, projection_cost_ms=20).effective_projection_cost_s == pytest.approx(0.02)
