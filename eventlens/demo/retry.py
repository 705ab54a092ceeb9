"""Retry with exponential backoff, then dead-letter: the pure rules the loyalty consumer follows.

`decide()` takes how many retries a message already had and whether its failure is retryable and says what
to do next: retry N (with a not-before time) or dead-letter (with a reason). Time is passed in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

HEADER_ATTEMPT = "retry-attempt"
HEADER_NOT_BEFORE = "retry-not-before-ms"
HEADER_ERROR = "retry-error"


@dataclass(frozen=True, slots=True)
class Retry:
    """Send the message to the retry topic as attempt `attempt` (1-based), not to be handled before `not_before_ms`."""

    attempt: int
    delay_s: float
    not_before_ms: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Send the message to the dead-letter topic; `reason` says why."""

    reason: str


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """At most `max_retries` retries, the n-th after `base_delay_s * multiplier**(n-1)` (capped at `max_delay_s`)."""

    max_retries: int = 3
    base_delay_s: float = 0.5
    multiplier: float = 2.0
    max_delay_s: float = 5.0

    def delay_s(self, attempt: int) -> float:
        """The backoff before retry `attempt` (1-based)."""
        if attempt < 1:
            raise ValueError(f"attempt is 1-based, got {attempt}")
        return float(min(self.max_delay_s, self.base_delay_s * self.multiplier ** (attempt - 1)))

    def decide(self, retries_so_far: int, *, retryable: bool, error: str, now_ms: int) -> Retry | DeadLetter:
        """What to do with a message whose handling just failed with `error`."""
        if not retryable:
            return DeadLetter(reason=f"not retryable: {error}")
        if retries_so_far >= self.max_retries:
            return DeadLetter(reason=f"gave up after {retries_so_far} retries: {error}")
        attempt = retries_so_far + 1
        delay = self.delay_s(attempt)
        return Retry(attempt=attempt, delay_s=delay, not_before_ms=now_ms + round(delay * 1000))


class HandlingError(Exception):
    """A failure while handling a message; `retryable` says whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def _bucket(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % 100


def simulated_failure(key: str, retries_so_far: int) -> HandlingError | None:
    """The demo's deterministic failure model for one message key on one attempt.

    About 8 % of keys fail transiently (once or twice, then succeed), 4 % fail every time (retried, then
    dead-lettered), 2 % are poison (dead-lettered at once); the rest succeed.
    """
    bucket = _bucket(key)
    if bucket < 8:
        failures = 1 + bucket % 2
        if retries_so_far < failures:
            return HandlingError("loyalty service timed out", retryable=True)
        return None
    if bucket < 12:
        return HandlingError("loyalty account locked", retryable=True)
    if bucket < 14:
        return HandlingError("customer id is not a loyalty member id", retryable=False)
    return None
