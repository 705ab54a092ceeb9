"""The alert state machine per (rule, label set): inactive → pending → firing → resolved (pure; `now` passed in).

Prometheus semantics (rules/alerting.go):
- the condition starts holding: PENDING, `active_at` = now; with `for` 0 straight to FIRING in the same step;
- PENDING while it holds until `now - active_at >= for`, then FIRING; if it stops holding first: INACTIVE
  (a pending alert that never fired is dropped, nothing is resolved);
- FIRING while it holds; when it stops, it keeps firing until `keep_firing_for` has passed since the first
  evaluation where it did not hold (a hold in between restarts that count), then RESOLVED;
- RESOLVED until it holds again (a new PENDING, a new `active_at`); kept `resolved_retention_ns` for receivers
  that want the resolution resent, then dropped without a transition.
A label set absent from an evaluation's result does not hold (missing data is not a hold). An evaluation that
could not run (store unreachable) must not call `step`: states then stay as they were. A `now` earlier than a
recorded instant counts as no time passed. docs/alerts.md, "States", is the user's description.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from eventlens.collector.model import NS_PER_S

LabelSet = tuple[tuple[str, str], ...]
"""An alert's identifying labels, sorted by name (hashable: the key of an alert within its rule)."""

RESOLVED_RETENTION_NS = 15 * 60 * NS_PER_S
"""How long a resolved alert is kept before it is dropped (Prometheus keeps them 15 minutes too)."""


class AlertState(enum.StrEnum):
    """Where an alert is in its life."""

    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


def label_set(labels: Mapping[str, str]) -> LabelSet:
    """The `LabelSet` of a mapping (sorted, so equal mappings give equal keys)."""
    return tuple(sorted((str(k), str(v)) for k, v in labels.items()))


@dataclass(frozen=True, slots=True)
class Timing:
    """A rule's `for` and `keep_firing_for` in nanoseconds (0: none)."""

    for_ns: int = 0
    keep_firing_for_ns: int = 0


@dataclass(frozen=True, slots=True)
class Alert:
    """One (rule, label set)'s state and the instants that decide its next transition."""

    rule: str
    labels: LabelSet
    state: AlertState = AlertState.INACTIVE
    active_at_ns: int | None = None
    fired_at_ns: int | None = None
    resolved_at_ns: int | None = None
    keep_firing_since_ns: int | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """An alert moved from one state to another at `at_ns` (what history stores and receivers are sent)."""

    rule: str
    labels: LabelSet
    before: AlertState
    after: AlertState
    at_ns: int


def _elapsed(now_ns: int, since_ns: int | None) -> int:
    """Nanoseconds from `since_ns` to `now_ns`, never negative (a clock going back counts as no time)."""
    return 0 if since_ns is None else max(0, now_ns - since_ns)


def _holding(alert: Alert, now_ns: int, timing: Timing) -> Alert:
    """The alert after an evaluation where its condition holds."""
    if alert.state is AlertState.FIRING:
        return replace(alert, keep_firing_since_ns=None)
    if alert.state is not AlertState.PENDING:  # inactive or resolved: a new alert starts
        alert = Alert(alert.rule, alert.labels, AlertState.PENDING, active_at_ns=now_ns)
    if _elapsed(now_ns, alert.active_at_ns) >= timing.for_ns:
        return replace(alert, state=AlertState.FIRING, fired_at_ns=now_ns)
    return alert


def _not_holding(alert: Alert, now_ns: int, timing: Timing) -> Alert:
    """The alert after an evaluation where its condition does not hold (or its label set is missing)."""
    if alert.state is AlertState.PENDING:
        return Alert(alert.rule, alert.labels)
    if alert.state is not AlertState.FIRING:
        return alert
    since = now_ns if alert.keep_firing_since_ns is None else alert.keep_firing_since_ns
    if timing.keep_firing_for_ns and _elapsed(now_ns, since) < timing.keep_firing_for_ns:
        return replace(alert, keep_firing_since_ns=since)
    return replace(alert, state=AlertState.RESOLVED, resolved_at_ns=now_ns, keep_firing_since_ns=None)


def advance(alert: Alert, holds: bool, now_ns: int, timing: Timing) -> Alert:
    """The alert after one evaluation at `now_ns` where its condition `holds` or not."""
    return _holding(alert, now_ns, timing) if holds else _not_holding(alert, now_ns, timing)


def step(rule: str, timing: Timing, alerts: Mapping[LabelSet, Alert], holding: Iterable[LabelSet], now_ns: int,
         *, resolved_retention_ns: int = RESOLVED_RETENTION_NS) -> tuple[dict[LabelSet, Alert], list[Transition]]:
    """One evaluation of `rule`: the label sets whose condition holds now → its alerts after, and the transitions.

    `alerts` is the rule's previous result (inactive ones are never kept); the order of the transitions is the
    order of `alerts` then of new label sets in `holding`.
    """
    holding_set = dict.fromkeys(holding)
    after: dict[LabelSet, Alert] = {}
    transitions: list[Transition] = []
    for labels in [*alerts, *(k for k in holding_set if k not in alerts)]:
        before = alerts.get(labels) or Alert(rule, labels)
        alert = advance(before, labels in holding_set, now_ns, timing)
        if alert.state is not before.state:
            transitions.append(Transition(rule, labels, before.state, alert.state, now_ns))
        if alert.state is AlertState.INACTIVE:
            continue
        if (alert.state is AlertState.RESOLVED and alert.state is before.state
                and _elapsed(now_ns, alert.resolved_at_ns) > resolved_retention_ns):
            continue
        after[labels] = alert
    return after, transitions
