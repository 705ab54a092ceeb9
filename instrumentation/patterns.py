"""Event-driven patterns: the outbox (capture and restore a context), retries and dead-letter sends.

`capture_context()` turns the current trace context into a plain dict to store with an outbox row; the relay
sends inside `restore_context(carrier)` so the record continues the original trace. `send_context(...)`
marks the sends inside it as a retry or a dead-letter send.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from opentelemetry import context as otel_context
from opentelemetry import propagate

__all__ = ["SendOptions", "capture_context", "restore_context", "send_context"]


@dataclass(frozen=True, slots=True)
class SendOptions:
    """How the sends inside a `send_context` are recorded."""

    retry_attempt: int | None = None
    dead_letter: bool = False
    reason: str | None = None
    outbox: bool = False


SEND_OPTIONS: contextvars.ContextVar[SendOptions | None] = contextvars.ContextVar("eventlens_send_options",
                                                                                  default=None)


def capture_context() -> dict[str, str]:
    """The current trace context and baggage as a dict of strings (store it with the outbox row)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextmanager
def restore_context(carrier: Mapping[str, str] | None) -> Iterator[None]:
    """Make the context captured by `capture_context()` current; sends inside are marked as outbox relays."""
    ctx = propagate.extract(dict(carrier or {}))
    token = otel_context.attach(ctx)
    current = SEND_OPTIONS.get()
    options_token = SEND_OPTIONS.set(SendOptions(
        retry_attempt=current.retry_attempt if current else None,
        dead_letter=current.dead_letter if current else False,
        reason=current.reason if current else None,
        outbox=True))
    try:
        yield
    finally:
        SEND_OPTIONS.reset(options_token)
        otel_context.detach(token)


@contextmanager
def send_context(*, retry_attempt: int | None = None, dead_letter: bool = False,
                 reason: str | None = None) -> Iterator[None]:
    """Sends inside are recorded as retry number `retry_attempt` and/or a dead-letter send with `reason`."""
    current = SEND_OPTIONS.get()
    token = SEND_OPTIONS.set(SendOptions(retry_attempt=retry_attempt, dead_letter=dead_letter, reason=reason,
                                         outbox=current.outbox if current else False))
    try:
        yield
    finally:
        SEND_OPTIONS.reset(token)
