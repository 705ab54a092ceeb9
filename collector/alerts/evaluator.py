"""One alert evaluation pass: rules + store + now → transitions recorded in the store, under a lease.

Several collectors may share a database; only the holder of the `alert-evaluator` lease evaluates, so each
transition is decided once. Each pass reads the alerts' latest states back from the store (a new lease holder
continues where the previous one stopped), runs each rule's condition (`conditions.py`), advances the state
machine (`state.py`) and records the transitions in one `record_alert_transitions` call. docs/alerts.md,
"Evaluation", is the user's description.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from eventlens.collector.alerts.conditions import (
    COMPARING_CONDITIONS,
    EVALUATED_KINDS,
    LAG_CONDITIONS,
    NEW_FINGERPRINT_RECENT_NS,
    SCHEMA_LOOKBACK_NS,
    TOPOLOGY_CONDITIONS,
    Holding,
    deprecated_version,
    new_schema_fingerprint,
    rule_deprecations,
)
from eventlens.collector.alerts.notify import new_notifications
from eventlens.collector.alerts.rules import Rule, RuleKind, RuleSet
from eventlens.collector.alerts.sender import Sender
from eventlens.collector.alerts.state import Alert, AlertState, LabelSet, Timing, Transition, label_set, step
from eventlens.collector.analysis.query import schemas, topology
from eventlens.collector.lag.query import group_statuses
from eventlens.collector.model import NS_PER_S
from eventlens.collector.storage.alerting import AlertState as StoredAlertState
from eventlens.collector.storage.alerting import AlertTransition, NewNotification, label_fingerprint
from eventlens.collector.storage.protocol import AlertStore, LagStore, Store

log = logging.getLogger(__name__)

LEASE_NAME = "alert-evaluator"
"""The lease that makes one collector of many the evaluator."""


def _alert_from_row(rule: str, labels: LabelSet, state: str, since_ns: int) -> Alert | None:
    """The state machine's `Alert` from a stored latest state (None for inactive ones, which are not kept).

    `keep_firing_since` is not stored: a firing alert that stopped holding restarts its `keep_firing_for`
    count after a lease handover, never shortens it.
    """
    match AlertState(state):
        case AlertState.PENDING:
            return Alert(rule, labels, AlertState.PENDING, active_at_ns=since_ns)
        case AlertState.FIRING:
            return Alert(rule, labels, AlertState.FIRING, active_at_ns=since_ns, fired_at_ns=since_ns)
        case AlertState.RESOLVED:
            return Alert(rule, labels, AlertState.RESOLVED, resolved_at_ns=since_ns)
        case _:
            return None


class Evaluator:
    """Evaluates a rule set against a store; `run_once` is one pass, `holder` names this collector."""

    def __init__(self, store: Any, rules: RuleSet, *, holder: str, lease_ttl_ns: int = 60 * NS_PER_S) -> None:
        self.store = store
        self.rules = rules
        self.holder = holder
        self.lease_ttl_ns = lease_ttl_ns
        self._keep_firing_since: dict[tuple[str, LabelSet], int] = {}
        skipped = sorted({str(r.kind) for r in rules if r.kind not in EVALUATED_KINDS})
        if skipped:
            log.info("alert rules of kinds %s are not evaluated yet (docs/alerts.md)", ", ".join(skipped))

    def _holding(self, rule: Rule, now_ns: int, cache: dict[str, Any]) -> list[Holding] | None:
        """The label sets where `rule` holds at `now_ns`; None for kinds not evaluated yet."""
        lag_condition = LAG_CONDITIONS.get(rule.kind)
        if lag_condition is not None and isinstance(self.store, LagStore):
            if "lag" not in cache:
                cache["lag"] = group_statuses(self.store, now_ns)
            return lag_condition(rule, cache["lag"])
        if not isinstance(self.store, Store):
            return None
        if rule.kind in {RuleKind.NEW_SCHEMA_FINGERPRINT, RuleKind.DEPRECATED_VERSION}:
            return self._schema_holding(rule, now_ns, cache)
        window = int(rule.params.get("window", 0))
        topology_condition = TOPOLOGY_CONDITIONS.get(rule.kind)
        if topology_condition is not None:
            return topology_condition(rule, self._topology(now_ns - window, now_ns, cache))
        comparing = COMPARING_CONDITIONS.get(rule.kind)
        if comparing is not None:
            shift = int(rule.params.get("compared_to", window))
            return comparing(rule, self._topology(now_ns - window, now_ns, cache),
                             self._topology(now_ns - shift - window, now_ns - shift, cache))
        return None

    def _schema_holding(self, rule: Rule, now_ns: int, cache: dict[str, Any]) -> list[Holding]:
        """The label sets where a schemas-report rule holds at `now_ns`."""
        if rule.kind is RuleKind.NEW_SCHEMA_FINGERPRINT:
            if "schemas" not in cache:
                cache["schemas"] = schemas(self.store, now_ns - SCHEMA_LOOKBACK_NS, now_ns)
            return new_schema_fingerprint(rule, cache["schemas"], now_ns)
        start = now_ns - NEW_FINGERPRINT_RECENT_NS  # deprecated_version: used in the last hour
        if "schemas:recent" not in cache:
            cache["schemas:recent"] = schemas(self.store, start, now_ns)
        deprecations = rule_deprecations(rule, cache["schemas:recent"])
        return deprecated_version(rule, schemas(self.store, start, now_ns, deprecations)) if deprecations else []

    def _topology(self, start_ns: int, end_ns: int, cache: dict[str, Any]) -> Any:
        """The topology over [start_ns, end_ns), read once per pass."""
        key = f"topology:{start_ns}:{end_ns}"
        if key not in cache:
            cache[key] = topology(self.store, start_ns, end_ns)
        return cache[key]

    def _previous(self, rule: str, rows: Iterable[StoredAlertState]) -> dict[LabelSet, Alert]:
        """The rule's alerts as stored (`rows`; inactive ones dropped), with this evaluator's keep-firing counts."""
        alerts: dict[LabelSet, Alert] = {}
        for row in rows:
            labels = label_set(row.labels)
            alert = _alert_from_row(rule, labels, row.state, row.since_ns)
            if alert is None:
                continue
            since = self._keep_firing_since.get((rule, labels))
            if since is not None and alert.state is AlertState.FIRING:
                alert = Alert(rule, labels, alert.state, alert.active_at_ns, alert.fired_at_ns, None, since)
            alerts[labels] = alert
        return alerts

    def run_once(self, now_ns: int) -> int | None:
        """One pass at `now_ns`: the number of transitions recorded, or None when another collector holds the lease."""
        store: AlertStore = self.store
        if not store.try_acquire_lease(LEASE_NAME, self.holder, now_ns, self.lease_ttl_ns):
            self._keep_firing_since.clear()
            return None
        stored: dict[str, list[StoredAlertState]] = defaultdict(list)
        for state in store.alert_states():  # every rule's alerts in one read; nothing is written before the end
            stored[state.rule].append(state)
        cache: dict[str, Any] = {}
        rows: list[AlertTransition] = []
        notes: list[NewNotification] = []
        for rule in self.rules:
            holding = self._holding(rule, now_ns, cache)
            if holding is None:
                continue
            extra = dict(rule.labels)
            by_labels: dict[LabelSet, Holding] = {}
            for h in holding:
                by_labels[label_set({**h.labels, **extra})] = h
            before = self._previous(rule.name, stored.get(rule.name, ()))
            after, transitions = step(rule.name, Timing(rule.for_ns, rule.keep_firing_for_ns), before,
                                      by_labels, now_ns)
            for labels, alert in after.items():
                key = (rule.name, labels)
                if alert.keep_firing_since_ns is not None:
                    self._keep_firing_since[key] = alert.keep_firing_since_ns
                else:
                    self._keep_firing_since.pop(key, None)
            receivers = self.rules.receivers_of(rule)
            for t in transitions:
                row = _row(rule, t, by_labels)
                rows.append(row)
                if receivers:
                    now_alert = after.get(t.labels)
                    fired = now_alert.fired_at_ns if now_alert is not None and now_alert.fired_at_ns else t.at_ns
                    notes.extend(new_notifications(row, receivers, starts_at_ns=fired, severity=str(rule.severity)))
        if not rows:
            return 0
        return store.record_alert_transitions(rows, notifications=notes)


def _row(rule: Rule, transition: Transition, holding: Mapping[LabelSet, Holding]) -> AlertTransition:
    """The stored transition of one state change (value: the measured one when the condition held)."""
    mapping = dict(transition.labels)
    held = holding.get(transition.labels)
    annotations = {"severity": str(rule.severity)}
    if rule.description:
        annotations["description"] = rule.description
    return AlertTransition(rule.name, label_fingerprint(mapping), mapping, str(transition.before),
                           str(transition.after), transition.at_ns,
                           None if held is None else held.value, annotations)


class EvaluationLoop:
    """Runs `Evaluator.run_once` every `interval_s` seconds on a daemon thread (as the retention loop does), and
    the notification `sender` (when the rules have receivers) on another, every `send_interval_s`."""

    def __init__(self, evaluator: Evaluator, interval_s: float, sender: Sender | None = None,
                 send_interval_s: float = 5.0) -> None:
        self.evaluator = evaluator
        self.interval_s = interval_s
        self.sender = sender
        self.send_interval_s = send_interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sender_thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.evaluator.run_once(time.time_ns())
            except Exception:  # a failed pass changes nothing; the next one retries
                log.exception("alert evaluation failed")

    def start(self) -> None:
        """Start the loop (first pass after one interval)."""
        self._thread = threading.Thread(target=self._run, name="eventlens-alerts", daemon=True)
        self._thread.start()
        if self.sender is not None:
            self._sender_thread = threading.Thread(target=self.sender.run, args=(self._stop, self.send_interval_s),
                                                   name="eventlens-alert-sender", daemon=True)
            self._sender_thread.start()

    def stop(self) -> None:
        """Stop the loop and release the lease so another collector takes over at once."""
        self._stop.set()
        for thread in (self._thread, self._sender_thread):
            if thread is not None:
                thread.join(timeout=5)
        try:
            self.evaluator.store.release_lease(LEASE_NAME, self.evaluator.holder)
        except Exception:
            log.exception("releasing the alert lease failed")


__all__ = ["LEASE_NAME", "EvaluationLoop", "Evaluator"]
