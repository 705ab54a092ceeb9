"""Rule conditions (pure): from what the query layers give to the label sets that hold now, with their values.

One function per rule kind whose data exists today. Each returns `Holding` rows: the alert's identifying labels
(the rule's own `labels` are added by the evaluator) and the measured value the transition records. A label set
left out does not hold (`state.py`). Kinds without a function here are not evaluated yet (docs/alerts.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from eventlens.collector.alerts.rules import Rule, RuleKind
from eventlens.collector.model import (
    NS_PER_S,
    Deprecation,
    GroupStatus,
    PartitionStatus,
    SchemaReport,
    Topology,
    TopologyFlow,
)


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



def _flow_labels(flow: TopologyFlow) -> dict[str, str]:
    """A flow's identifying labels; an uninstrumented or unseen side is the empty string."""
    return {"producer": flow.producer or "", "topic": flow.topic, "consumer": flow.consumer or ""}


def _selects_flow(rule: Rule, flow: TopologyFlow) -> bool:
    """Whether the rule's `producer`, `topic` and `consumer` selectors match a flow (a missing side matches
    only a selector left out)."""
    sides = (("producer", flow.producer), ("topic", flow.topic), ("consumer", flow.consumer))
    return all(rule.params.get(key) is None if value is None else rule.selects(key, value) for key, value in sides)


def edge_latency(rule: Rule, topology: Topology) -> list[Holding]:
    """Per producer → topic → consumer flow over the rule's window: the `quantile` latency, when above `above`."""
    above_s = rule.params["above"] / NS_PER_S
    attr = "p95_s" if rule.params.get("quantile") == "p95" else "p99_s"
    out = []
    for flow in topology.flows:
        value = getattr(flow.latency, attr)
        if value is not None and value > above_s and _selects_flow(rule, flow):
            out.append(Holding(_flow_labels(flow), float(value)))
    return out


def edge_partial(rule: Rule, topology: Topology) -> list[Holding]:
    """Per flow seen from one side only over the window (producer or consumer missing); the value is its
    message count."""
    return [Holding(_flow_labels(flow), float(flow.messages)) for flow in topology.flows
            if flow.partial and _selects_flow(rule, flow)]


def _service_topic(node: str, other: str, topic: str) -> tuple[str, str] | None:
    """(service, topic) of an edge touching a `service:` node, else None."""
    for end in (node, other):
        if end.startswith("service:"):
            return end.removeprefix("service:"), topic
    return None


def error_rate(rule: Rule, topology: Topology) -> list[Holding]:
    """Per (service, topic) over the window: failed produce and handle operations over all of them, when above
    `above` (edges into or out of a service; a service and topic with no messages does not hold)."""
    above = float(rule.params["above"])
    totals: dict[tuple[str, str], list[int]] = {}
    for edge in topology.edges:
        key = _service_topic(edge.source, edge.target, edge.topic)
        if key is None or not rule.selects("service", key[0]) or not rule.selects("topic", key[1]):
            continue
        counts = totals.setdefault(key, [0, 0])
        counts[0] += edge.errors
        counts[1] += edge.messages
    out = []
    for (service, topic), (errors, messages) in sorted(totals.items()):
        if messages and errors / messages > above:
            out.append(Holding({"service": service, "topic": topic}, errors / messages))
    return out


TOPOLOGY_CONDITIONS: Mapping[RuleKind, Callable[[Rule, Topology], list[Holding]]] = {
    RuleKind.EDGE_LATENCY: edge_latency,
    RuleKind.EDGE_PARTIAL: edge_partial,
    RuleKind.ERROR_RATE: error_rate,
}
"""The kinds evaluated from the topology over the rule's `window` (`collector/analysis/query.py`)."""



def _flows(rule: Rule, topology: Topology) -> dict[tuple[tuple[str, str], ...], TopologyFlow]:
    """The selected flows of a topology by their sorted labels."""
    return {tuple(sorted(_flow_labels(f).items())): f for f in topology.flows if _selects_flow(rule, f)}


def throughput_drop(rule: Rule, current: Topology, earlier: Topology) -> list[Holding]:
    """Per flow that carried messages in the earlier window: now below `below_fraction` of then (a flow gone
    silent is 0); the value is the fraction now / then."""
    below = float(rule.params["below_fraction"])
    now_flows = _flows(rule, current)
    out = []
    for key, then in sorted(_flows(rule, earlier).items()):
        if then.messages <= 0:
            continue
        now = now_flows.get(key)
        fraction = (now.messages if now is not None else 0) / then.messages
        if fraction < below:
            out.append(Holding(dict(key), fraction))
    return out


def edge_vanished(rule: Rule, current: Topology, earlier: Topology) -> list[Holding]:
    """Per flow that carried messages in the earlier window and none in the current one; the value is what it
    carried then."""
    now_flows = _flows(rule, current)
    return [Holding(dict(key), float(then.messages)) for key, then in sorted(_flows(rule, earlier).items())
            if then.messages > 0 and (key not in now_flows or now_flows[key].messages == 0)]


def edge_appeared(rule: Rule, current: Topology, earlier: Topology) -> list[Holding]:
    """Per flow that carries messages in the current window and carried none in the earlier one; the value is
    what it carries now."""
    then_flows = _flows(rule, earlier)
    return [Holding(dict(key), float(now.messages)) for key, now in sorted(_flows(rule, current).items())
            if now.messages > 0 and (key not in then_flows or then_flows[key].messages == 0)]


COMPARING_CONDITIONS: Mapping[RuleKind, Callable[[Rule, Topology, Topology], list[Holding]]] = {
    RuleKind.THROUGHPUT_DROP: throughput_drop,
    RuleKind.EDGE_VANISHED: edge_vanished,
    RuleKind.EDGE_APPEARED: edge_appeared,
}
"""The kinds comparing the topology over `window` with an earlier one: `compared_to` earlier for
`throughput_drop`, the window just before for `edge_vanished` and `edge_appeared`."""

NEW_FINGERPRINT_RECENT_NS = 3600 * NS_PER_S
"""`new_schema_fingerprint`: a version first seen this long before the evaluation counts as new."""
SCHEMA_LOOKBACK_NS = 7 * 24 * 3600 * NS_PER_S
"""`new_schema_fingerprint`: how far back earlier versions are looked for (the schemas report's window)."""


def new_schema_fingerprint(rule: Rule, report: SchemaReport, now_ns: int) -> list[Holding]:
    """Per (event type, fingerprint) produced and first seen in the last hour while an older version of the event
    type exists in the report (a brand-new event type is not a schema change); the value is its message count."""
    recent = now_ns - NEW_FINGERPRINT_RECENT_NS
    out = []
    for schemas in report.event_types:
        if not rule.selects("event_type", schemas.event_type):
            continue
        oldest = min((v.first_seen_ns for v in schemas.versions), default=now_ns)
        for version in schemas.versions:
            if version.producers and version.first_seen_ns >= recent and version.first_seen_ns > oldest:
                out.append(Holding({"event_type": schemas.event_type, "fingerprint": version.fingerprint},
                                   float(version.count)))
    return out


def rule_deprecations(rule: Rule, report: SchemaReport) -> list[Deprecation]:
    """The deprecations a `deprecated_version` rule declares itself (`version` and `after`), one per selected
    event type of the report; none when it leaves them to the deprecations file (not evaluated yet)."""
    after = rule.params.get("after")
    version = rule.params.get("version")
    if not isinstance(after, dt.date) or version is None:
        return []
    moment = dt.datetime.combine(after + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)  # in use after that day
    after_ns = int(moment.timestamp()) * NS_PER_S
    return [Deprecation(t.event_type, str(version), after_ns) for t in report.event_types
            if rule.selects("event_type", t.event_type)]


def deprecated_version(rule: Rule, report: SchemaReport) -> list[Holding]:
    """Per (event type, fingerprint) of the report's deprecation violations still used as `usage` says
    (`produced`, `consumed` or `any`); the value is the last use (Unix seconds)."""
    usage = rule.params.get("usage", "any")
    out = []
    for v in report.violations:
        used = {"produced": bool(v.producers), "consumed": bool(v.consumers)}.get(usage, True)
        if used and rule.selects("event_type", v.deprecation.event_type):
            out.append(Holding({"event_type": v.deprecation.event_type, "fingerprint": v.fingerprint},
                               v.last_seen_ns / NS_PER_S))
    return out


EVALUATED_KINDS: frozenset[RuleKind] = (frozenset(LAG_CONDITIONS) | frozenset(TOPOLOGY_CONDITIONS)
                                        | frozenset(COMPARING_CONDITIONS)
                                        | {RuleKind.NEW_SCHEMA_FINGERPRINT, RuleKind.DEPRECATED_VERSION})
"""Every kind the evaluator can decide today; rules of other kinds are skipped (and logged once)."""
