"""Retry with backoff and dead-lettering rules; the demo's deterministic failure model."""

from __future__ import annotations

import pytest

from eventlens.demo.retry import DeadLetter, Retry, RetryPolicy, simulated_failure


def test_backoff_doubles_and_is_capped() -> None:
    """Delays grow by the multiplier and never exceed max_delay_s."""
    policy = RetryPolicy(base_delay_s=0.5, multiplier=2, max_delay_s=3)
    assert [policy.delay_s(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 3.0]


def test_a_retryable_failure_is_retried_with_a_not_before_time() -> None:
    """The first failure becomes attempt 1, due after the first delay."""
    decision = RetryPolicy(base_delay_s=0.5).decide(0, retryable=True, error="timeout", now_ms=1000)
    assert decision == Retry(attempt=1, delay_s=0.5, not_before_ms=1500)


def test_retries_stop_after_max_retries_and_the_message_is_dead_lettered() -> None:
    """After max_retries retries the next failure goes to the dead-letter topic with the error as reason."""
    decision = RetryPolicy(max_retries=3).decide(3, retryable=True, error="account locked", now_ms=0)
    assert isinstance(decision, DeadLetter)
    assert "after 3 retries" in decision.reason
    assert "account locked" in decision.reason


def test_a_non_retryable_failure_is_dead_lettered_at_once() -> None:
    """Poison messages skip the retries."""
    decision = RetryPolicy().decide(0, retryable=False, error="bad id", now_ms=0)
    assert decision == DeadLetter(reason="not retryable: bad id")


def test_attempts_are_one_based() -> None:
    """delay_s(0) is a programming error, not a silent zero delay."""
    with pytest.raises(ValueError):
        RetryPolicy().delay_s(0)


def test_failure_model_has_transient_permanent_and_poison_keys() -> None:
    """Over many keys some fail transiently (then succeed), some always, some are not retryable."""
    keys = [f"ord-{i}" for i in range(2000)]
    first = {k: simulated_failure(k, 0) for k in keys}
    failing = [k for k, f in first.items() if f is not None]
    transient = [k for k in failing if simulated_failure(k, 3) is None]
    poison = [k for k in failing if not first[k].retryable]
    permanent = [k for k in failing if k not in transient and k not in poison]
    assert 0.10 < len(failing) / len(keys) < 0.18
    assert transient
    assert permanent
    assert poison
    assert [simulated_failure(k, 0) is None for k in keys] == [f is None for f in first.values()]
