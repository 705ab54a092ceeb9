"""Rule conditions (pure): from what the query layers give to the label sets that hold now, with their values.

One function per rule kind whose data exists today. Each returns `Holding` rows: the alert's identifying labels
(the rule's own `labels` are added by the evaluator) and the measured value the transition records. A label set
left out does not hold (`state.py`). Kinds without a function here are not evaluated yet (docs/alerts.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from eventlens.collector.alerts.rules import Rule, RuleKind
from eventlens.collector.model import NS_PER_S, GroupStatus, PartitionStatus


@dataclass(frozen=True, slots=True)
class Holding:
    """One label set whose condition holds, and the value that made it hold."""

    labels: Mapping[str, str]
    value: float | None


def _by_topic(status: GroupStatus, rule: Rule) -> dict[str, list[PartitionStatus]]:
    """A group's partitions per topic, only topics the rule selects."""
    topics: dict[str, list[PartitionStatus]] = {}
    for p in status.partitions:
        if rule.selects("topic", p.topic):
            topics.setdefault(p.topic, []).append(p)
    return topics


def lag_seconds(rule: Rule, statuses: Sequence[GroupStatus]) -> list[Holding]:
    """Per (group, topic): the worst partition's lag in seconds, when above `above` (a partition without a
    seconds figure does not count)."""
    above_s = rule.params["above"] / NS_PER_S
    out = []
    for status in statuses:
        if not rule.selects("group", status.group):
            continue
        for topic, parts in sorted(_by_topic(status, rule).items()):
            seconds = [p.lag_seconds for p in parts if p.lag_seconds is not None]
            if seconds and max(seconds) > above_s:
                out.append(Holding({"group": status.group, "topic": topic}, max(seconds)))
    return out


def lag_offsets(rule: Rule, statuses: Sequence[GroupStatus]) -> list[Holding]:
    """Per (group, topic): the lag in offsets summed over the topic's partitions, when above `above`."""
    above = float(rule.params["above"])
    out = []
    for status in statuses:
        if not rule.selects("group", status.group):
            continue
        for topic, parts in sorted(_by_topic(status, rule).items()):
            total = sum(p.lag_offsets for p in parts)
            if total > above:
                out.append(Holding({"group": status.group, "topic": topic}, float(total)))
    return out


def lag_status(rule: Rule, statuses: Sequence[GroupStatus]) -> list[Holding]:
    """Per group: holds when any selected partition's status is one of `statuses` (per partition, since the
    group's own status is capped at ERR and would never be STOP or STALL); the value is the worst such
    status's `LagStatus` number."""
    wanted = {str(s) for s in rule.params["statuses"]}
    out = []
    for status in statuses:
        if not rule.selects("group", status.group):
            continue
        matching = [p.status for parts in _by_topic(status, rule).values() for p in parts if p.status.name in wanted]
        if matching:
            worst = max(matching)
            out.append(Holding({"group": status.group}, float(worst)))
    return out


LAG_CONDITIONS: Mapping[RuleKind, Callable[[Rule, Sequence[GroupStatus]], list[Holding]]] = {
    RuleKind.LAG_SECONDS: lag_seconds,
    RuleKind.LAG_OFFSETS: lag_offsets,
    RuleKind.LAG_STATUS: lag_status,
}
"""The kinds evaluated from consumer-group statuses (`collector/lag/query.py`)."""

EVALUATED_KINDS: frozenset[RuleKind] = frozenset(LAG_CONDITIONS)
"""Every kind the evaluator can decide today; rules of other kinds are skipped (and logged once)."""
