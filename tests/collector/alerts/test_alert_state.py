"""The alert state machine as a numbered table: each case is a run of evaluations and says why it ends as it does."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from eventlens.collector.alerts.state import (
    Alert,
    AlertState,
    LabelSet,
    Timing,
    Transition,
    label_set,
    step,
)
from eventlens.collector.model import NS_PER_S

IN, PE, FI, RE = AlertState.INACTIVE, AlertState.PENDING, AlertState.FIRING, AlertState.RESOLVED
T0 = 1_700_000_000 * NS_PER_S
G = label_set({"group": "billing"})


@dataclass(frozen=True)
class Case:
    n: int
    for_s: float
    keep_s: float
    evaluations: list[tuple[float, bool]]  # (seconds after T0, does the condition hold for G)
    transitions: list[tuple[AlertState, AlertState, float]]  # (before, after, seconds after T0)
    final: AlertState
    why: str


CASES = [
    Case(1, 0, 0, [(0, False), (60, False)], [], IN,
         "the condition never holds: no alert, no transition"),
    Case(2, 0, 0, [(0, True)], [(IN, FI, 0)], FI,
         "for 0: the first evaluation where it holds fires at once, one transition (Prometheus skips pending)"),
    Case(3, 300, 0, [(0, True), (60, True)], [(IN, PE, 0)], PE,
         "for 5m: pending while the condition has held only 1 minute"),
    Case(4, 300, 0, [(0, True), (60, True), (300, True)], [(IN, PE, 0), (PE, FI, 300)], FI,
         "for 5m: fires at the evaluation where it has held exactly 5 minutes (elapsed >= for)"),
    Case(5, 300, 0, [(0, True), (299, True)], [(IN, PE, 0)], PE,
         "for 5m: one second short is still pending"),
    Case(6, 300, 0, [(0, True), (120, False)], [(IN, PE, 0), (PE, IN, 120)], IN,
         "stops holding while pending: back to inactive, never resolved since it never fired"),
    Case(7, 300, 0, [(0, True), (120, False), (180, True), (420, True), (480, True)],
         [(IN, PE, 0), (PE, IN, 120), (IN, PE, 180), (PE, FI, 480)], FI,
         "flapping while pending restarts the clock: 5 minutes counted from 180 s, not from 0"),
    Case(8, 0, 0, [(0, True), (60, False)], [(IN, FI, 0), (FI, RE, 60)], RE,
         "keep_firing_for 0: resolves at the first evaluation where the condition stops holding"),
    Case(9, 0, 120, [(0, True), (60, False), (120, False)], [(IN, FI, 0)], FI,
         "keep_firing_for 2m: still firing 1 minute after the condition stopped (counted from 60 s)"),
    Case(10, 0, 120, [(0, True), (60, False), (120, False), (180, False)], [(IN, FI, 0), (FI, RE, 180)], RE,
         "keep_firing_for 2m: resolves once 2 minutes have passed since the first evaluation where it did not hold"),
    Case(11, 0, 120, [(0, True), (60, False), (150, True), (200, False), (300, False), (320, False)],
         [(IN, FI, 0), (FI, RE, 320)], RE,
         "a hold during keep_firing_for restarts its count: resolved 2 minutes after 200 s, not after 60 s"),
    Case(12, 0, 120, [(0, True), (60, False), (90, True), (120, False), (150, True)], [(IN, FI, 0)], FI,
         "flapping while firing with keep_firing_for: no resolve/fire churn reaches receivers"),
    Case(13, 0, 0, [(0, True), (60, False), (120, True)], [(IN, FI, 0), (FI, RE, 60), (RE, FI, 120)], FI,
         "flapping while firing without keep_firing_for: each stop resolves and each hold fires again"),
    Case(14, 300, 0, [(0, True), (60, False), (120, True)], [(IN, PE, 0), (PE, IN, 60), (IN, PE, 120)], PE,
         "for 5m damps flapping: the alert never fires"),
    Case(15, 300, 0, [(0, True), (600, True)], [(IN, PE, 0), (PE, FI, 600)], FI,
         "evaluations 10 minutes apart (a gap, e.g. a restart): the condition held at both ends, so it fires"),
    Case(16, 60, 0, [(0, True), (60, True), (120, False), (180, True)],
         [(IN, PE, 0), (PE, FI, 60), (FI, RE, 120), (RE, PE, 180)], PE,
         "holding again after resolved starts a new alert: pending with for, not straight back to firing"),
    Case(17, 300, 0, [(100, True), (50, True)], [(IN, PE, 100)], PE,
         "a `now` earlier than active_at (clock went back) counts as no time passed: still pending"),
    Case(18, 0, 120, [(0, True), (100, False), (50, False)], [(IN, FI, 0)], FI,
         "a clock going back during keep_firing_for does not shorten it"),
    Case(19, 0, 0, [(0, True), (60, False), (60 + 15 * 60, False), (61 + 15 * 60, False)],
         [(IN, FI, 0), (FI, RE, 60)], IN,
         "a resolved alert is kept 15 minutes (resendable), then dropped without another transition"),
]


def run(case: Case) -> tuple[list[Transition], dict[LabelSet, Alert]]:
    timing = Timing(int(case.for_s * NS_PER_S), int(case.keep_s * NS_PER_S))
    alerts: dict[LabelSet, Alert] = {}
    seen: list[Transition] = []
    for offset_s, holds in case.evaluations:
        alerts, transitions = step("r", timing, alerts, [G] if holds else [], T0 + int(offset_s * NS_PER_S))
        seen.extend(transitions)
    return seen, alerts


@pytest.mark.parametrize("case", CASES, ids=[f"{c.n}" for c in CASES])
def test_state_table(case: Case):
    transitions, alerts = run(case)
    assert [(t.before, t.after, (t.at_ns - T0) / NS_PER_S) for t in transitions] == case.transitions, case.why
    assert alerts.get(G, Alert("r", G)).state is case.final, case.why


def test_case_numbers_are_unique_and_in_order():
    assert [c.n for c in CASES] == list(range(1, len(CASES) + 1))


def test_label_sets_are_independent_alerts():
    a, b = label_set({"group": "a"}), label_set({"group": "b"})
    alerts, transitions = step("r", Timing(), {}, [a, b], T0)
    alerts, transitions = step("r", Timing(), alerts, [b], T0 + NS_PER_S)
    assert [(t.labels, t.after) for t in transitions] == [(a, RE)]
    assert (alerts[a].state, alerts[b].state) == (RE, FI)


def test_a_label_set_missing_from_the_result_does_not_hold():
    alerts, _ = step("r", Timing(), {}, [G], T0)
    _, transitions = step("r", Timing(), alerts, [], T0 + NS_PER_S)
    assert [(t.before, t.after) for t in transitions] == [(FI, RE)]


def test_inactive_alerts_are_not_kept():
    alerts, _ = step("r", Timing(for_ns=60 * NS_PER_S), {}, [G], T0)
    alerts, _ = step("r", Timing(for_ns=60 * NS_PER_S), alerts, [], T0 + NS_PER_S)
    assert alerts == {}


def test_transitions_carry_the_rule_and_labels():
    _, (transition,) = step("lag-behind", Timing(), {}, [G], T0)
    assert transition == Transition("lag-behind", G, IN, FI, T0)


def test_firing_records_when_it_became_active_and_when_it_fired():
    timing = Timing(for_ns=60 * NS_PER_S)
    alerts, _ = step("r", timing, {}, [G], T0)
    alerts, _ = step("r", timing, alerts, [G], T0 + 90 * NS_PER_S)
    assert (alerts[G].active_at_ns, alerts[G].fired_at_ns) == (T0, T0 + 90 * NS_PER_S)


def test_label_set_is_order_independent():
    assert label_set({"b": "2", "a": "1"}) == label_set({"a": "1", "b": "2"}) == (("a", "1"), ("b", "2"))


def test_step_does_not_change_the_alerts_it_is_given():
    alerts, _ = step("r", Timing(), {}, [G], T0)
    frozen = dict(alerts)
    step("r", Timing(), alerts, [], T0 + NS_PER_S)
    assert alerts == frozen
