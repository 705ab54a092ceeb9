"""Lineage completeness: for each hop, are its spans present, missing because of sampling, or missing because
a service is not instrumented; pure (the query layer gathers the facts from the store).

The rules (docs/analysis.md "Lineage completeness"):
* every node of the lineage is a PRESENT hop;
* a handling (consumer span) whose record carried no trace context at all: its producer is NOT_INSTRUMENTED;
* a handling's input (its parent send, or a linked record) that is not in the store: SAMPLED_OUT when the
  topic has instrumented producers (their sends are in the store around that time), else NOT_INSTRUMENTED;
* an event whose topic a consumer group reads but that group has no handling of it in the lineage:
  NOT_INSTRUMENTED when the group is only known from the broker (lag samples) and never from spans;
  SAMPLED_OUT when the group's spans exist and the event was kept by a probability sampler (a threshold
  above 0: the group's service samples at a lower rate); otherwise UNKNOWN (not consumed yet, or outside
  the retention). Not judged for a truncated lineage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set

from eventlens.collector.model import HopStatus, Lineage, LineageHop, LineageNodeKind

SpanKey = tuple[str, str]


def lineage_hops(lineage: Lineage, *, missing_inputs: Mapping[str, Sequence[SpanKey]],
                 contextless: Set[str], sampled_events: Set[str], producer_topics: Set[str],
                 span_groups: Mapping[str, Set[str]], broker_groups: Mapping[str, Set[str]]) -> tuple[LineageHop, ...]:
    """The lineage's hops with their completeness.

    `missing_inputs`: handling node id → creation contexts (parent send or linked records) not in the store;
    `contextless`: handling node ids whose record carried no trace context; `sampled_events`: event node ids
    kept by a probability sampler (threshold > 0); `producer_topics`: topics with instrumented producers;
    `span_groups` / `broker_groups`: topic → consumer groups seen in spans / in the broker's lag samples.
    """
    nodes = sorted(lineage.nodes, key=lambda n: (n.start_ns, n.id))
    hops = [LineageHop(HopStatus.PRESENT, n.id, n.topic, n.consumer_group, n.trace_id, n.span_id) for n in nodes]
    handled: dict[str, set[str]] = {}
    by_id = {n.id: n for n in nodes}
    for edge in lineage.edges:
        source, target = by_id.get(edge.source), by_id.get(edge.target)
        if source is not None and target is not None and source.kind is LineageNodeKind.EVENT \
                and target.kind is LineageNodeKind.HANDLING and target.consumer_group:
            handled.setdefault(source.id, set()).add(target.consumer_group)
    for n in nodes:
        if n.kind is LineageNodeKind.HANDLING:
            if n.id in contextless:
                hops.append(LineageHop(HopStatus.NOT_INSTRUMENTED, n.id, n.topic))
            status = HopStatus.SAMPLED_OUT if n.topic in producer_topics else HopStatus.NOT_INSTRUMENTED
            hops.extend(LineageHop(status, n.id, n.topic, None, trace, span)
                        for trace, span in missing_inputs.get(n.id, ()))
        elif n.topic is not None and not lineage.truncated:  # a truncated lineage may lack handlings it has
            seen = span_groups.get(n.topic, set())
            for group in sorted(seen | broker_groups.get(n.topic, set())):
                if group in handled.get(n.id, set()):
                    continue
                if group not in seen:
                    status = HopStatus.NOT_INSTRUMENTED
                elif n.id in sampled_events:
                    status = HopStatus.SAMPLED_OUT
                else:
                    status = HopStatus.UNKNOWN
                hops.append(LineageHop(status, n.id, n.topic, group))
    return tuple(hops)
