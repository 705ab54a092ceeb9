"""The rows the store keeps for alerting (no I/O): state transitions, the notification outbox, leases.

Defined in the storage layer so the store does not depend on the alert rules (`collector/alerts/`), which
build these rows and read them back. States are plain strings (`inactive`, `pending`, `firing`,
`resolved`, see `STATES`): the state machine that gives them meaning lives with the rules.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

STATES: tuple[str, ...] = ("inactive", "pending", "firing", "resolved")
"""The alert states the evaluator moves between (stored as text)."""
ACTIVE_STATES: frozenset[str] = frozenset({"pending", "firing"})
"""States whose latest row retention never deletes: an alert firing for longer than the retention keeps it."""


def label_fingerprint(labels: Mapping[str, str]) -> str:
    """A stable fingerprint of a label set (order-independent, 16 hex digits): one alert of a rule per value."""
    text = json.dumps(sorted(labels.items()), separators=(",", ":"), ensure_ascii=False)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


@dataclass(frozen=True, slots=True)
class AlertTransition:
    """One alert (a rule and a label set) moving from one state to another at `at_ns`."""

    rule: str
    fingerprint: str
    """`label_fingerprint(labels)` unless the caller fingerprints otherwise; (rule, fingerprint) names the alert."""
    labels: Mapping[str, str]
    from_state: str
    to_state: str
    at_ns: int
    value: float | None = None
    """The rule's measured value at the transition (None when there was no data)."""
    annotations: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for state in (self.from_state, self.to_state):
            if state not in STATES:
                raise ValueError(f"alert {self.rule!r}: unknown state {state!r}; one of {', '.join(STATES)}")


@dataclass(frozen=True, slots=True)
class AlertState:
    """The latest state of one alert: its last transition's target, since that transition's time."""

    rule: str
    fingerprint: str
    labels: Mapping[str, str]
    state: str
    since_ns: int
    value: float | None
    annotations: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class NewNotification:
    """A message to deliver to one receiver; `key` is unique per receiver (the same key is stored once)."""

    receiver: str
    key: str
    """The idempotency key, e.g. rule, fingerprint, target state and time of a transition."""
    payload: Mapping[str, Any]
    """JSON-serialisable content the sender renders for its receiver."""
    created_at_ns: int


@dataclass(frozen=True, slots=True)
class Notification:
    """A notification in the outbox, with its delivery bookkeeping."""

    id: int
    receiver: str
    key: str
    payload: Mapping[str, Any]
    created_at_ns: int
    next_attempt_ns: int
    """When it is due (first `created_at_ns`, then what the last `mark_failed` set)."""
    attempts: int
    """Delivery attempts so far (failed ones, plus the successful one once sent)."""
    last_error: str | None
    sent_at_ns: int | None


def dumps(value: Mapping[str, Any]) -> str:
    """Labels, annotations or a payload as compact JSON text (keys sorted, so equal mappings store alike)."""
    return json.dumps(dict(value), separators=(",", ":"), sort_keys=True)


def loads(text: str | None) -> dict[str, Any]:
    """A mapping back from its JSON text (empty for NULL)."""
    return {} if not text else dict(json.loads(text))
