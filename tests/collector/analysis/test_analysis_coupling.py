"""Coupling over crafted topologies: fan-in/out, Ca/Ce/instability, shared topics, event-type coupling,
temporal (request/reply) coupling, cycles, the coupling matrix and blast radius."""

from __future__ import annotations

import pytest
from analysis_builders import T0, consumed, process, produced, send, sighting

from eventlens.collector.analysis.coupling import build_coupling, find_cycles, service_graph, temporal_coupling
from eventlens.collector.analysis.topology import build_topology
from eventlens.collector.model import NS_PER_MINUTE, Role
from eventlens.instrumentation.attributes import CORRELATION_ID, REPLY_TO

WINDOW = (T0, T0 + 10 * NS_PER_MINUTE)


def _topo(*rollups):
    return build_topology(list(rollups), *WINDOW)


def _shop():
    """orders → orders.placed → {billing, shipping}; billing → invoices → notify; shipping → shipments → notify."""
    return _topo(
        produced("orders", "orders.placed", 10),
        consumed("orders", "orders.placed", "billing", "billing", 10),
        consumed("orders", "orders.placed", "shipping", "shipping", 10),
        consumed("billing", "invoices", "notify", "notify", 5),
        consumed("shipping", "shipments", "notify", "notify", 7),
    )


def _by_service(report):
    return {s.service: s for s in report.services}


def test_fan_in_and_fan_out_count_topics():
    """Fan-in counts topics consumed, fan-out topics produced."""
    notify = _by_service(build_coupling(_shop()))["notify"]
    orders = _by_service(build_coupling(_shop()))["orders"]
    assert (notify.fan_in, notify.fan_out) == (2, 0)
    assert (orders.fan_in, orders.fan_out) == (0, 1)


def test_afferent_efferent_and_instability():
    """Ca = services consuming my events, Ce = services whose events I consume, I = Ce/(Ca+Ce)."""
    services = _by_service(build_coupling(_shop()))
    assert (services["orders"].afferent, services["orders"].efferent, services["orders"].instability) == (2, 0, 0.0)
    assert (services["notify"].afferent, services["notify"].efferent, services["notify"].instability) == (0, 2, 1.0)
    assert services["billing"].instability == pytest.approx(0.5)


def test_isolated_producer_has_no_instability():
    """A service with neither Ca nor Ce reports instability None, not a division by zero."""
    services = _by_service(build_coupling(_topo(produced("lonely", "audit", 3))))
    assert services["lonely"].instability is None


def test_shared_topics_have_several_producers_or_consumers():
    """A topic read by two services is shared; a topic with one producer and one consumer is not."""
    shared = {t.topic: t for t in build_coupling(_shop()).shared_topics}
    assert shared["orders.placed"].consumers == ("billing", "shipping")
    assert "invoices" not in shared


def test_event_type_coupling_includes_consumers_of_the_topic():
    """Consumers depend on an event type when they report it or read a topic it is produced to."""
    sightings = [sighting("OrderPlaced", "json:a", "orders", Role.PRODUCER, "orders.placed"),
                 sighting("OrderPlaced", "json:a", "billing", Role.CONSUMER, "orders.placed")]
    et = build_coupling(_shop(), sightings).event_types[0]
    assert (et.event_type, et.producers, et.consumers) == ("OrderPlaced", ("orders",), ("billing", "shipping"))


def test_blast_radius_reaches_transitive_consumers():
    """Changing OrderPlaced hits billing and shipping directly and notify transitively."""
    sightings = [sighting("OrderPlaced", "json:a", "orders", Role.PRODUCER, "orders.placed")]
    radius = build_coupling(_shop(), sightings).blast_radius[0]
    assert (radius.direct, radius.transitive) == (("billing", "shipping"), ("notify",))


def test_cycles_are_found_and_normalised():
    """a → b → c → a is one cycle starting at its smallest name; a self-loop is a cycle too."""
    topo = _topo(consumed("b", "t1", "c", "c", 1), consumed("c", "t2", "a", "a", 1), consumed("a", "t3", "b", "b", 1),
                 consumed("d", "t4", "d", "d", 1))
    assert build_coupling(topo).cycles == (("d",), ("a", "b", "c"))


def test_cycle_search_is_bounded():
    """At most max_cycles cycles of at most max_length services are returned."""
    rollups = [consumed(f"s{i}", f"t{i}{j}", f"s{j}", f"s{j}", 1) for i in range(6) for j in range(6) if i != j]
    graph = service_graph(_topo(*rollups))
    cycles = find_cycles(graph, max_cycles=5, max_length=3)
    assert len(cycles) == 5
    assert all(len(c) <= 3 for c in cycles)


def test_matrix_counts_messages_between_services():
    """matrix[i][j] holds messages from services[i] to services[j]."""
    report = build_coupling(_shop())
    i, j = report.matrix_services.index("shipping"), report.matrix_services.index("notify")
    assert report.matrix[i][j] == 7
    assert report.matrix[j][i] == 0


def _request_reply(cid, reply_after_ms, requester="checkout", replier="pricing"):
    request = send(requester, "pricing.requests", attrs={REPLY_TO: "pricing.replies", CORRELATION_ID: cid})
    handle = process(replier, request, at_ms=1)
    reply = send(replier, "pricing.replies", trace=handle.trace_id, parent=handle.span_id,
                 attrs={CORRELATION_ID: cid}, at_ms=reply_after_ms - 1)
    back = process(requester, reply, at_ms=reply_after_ms, attrs={CORRELATION_ID: cid})
    return [request, handle, reply, back]


def test_request_reply_pairs_make_temporal_coupling():
    """Requests answered within the window are counted, with the median and max round trip."""
    spans = _request_reply("a", 20) + _request_reply("b", 40) + _request_reply("c", 90_000)
    (pair,) = temporal_coupling(spans, window_s=30)
    assert (pair.requester, pair.replier, pair.request_topic, pair.reply_topic) == (
        "checkout", "pricing", "pricing.requests", "pricing.replies")
    assert (pair.pairs, pair.within_window) == (3, 2)
    assert pair.median_round_trip_s == pytest.approx(0.04)
    assert pair.max_round_trip_s == pytest.approx(90.0)


def test_unanswered_request_is_not_temporal_coupling():
    """A request without a reply from another service pairs with nothing."""
    request = send("checkout", "pricing.requests", attrs={REPLY_TO: "pricing.replies", CORRELATION_ID: "x"})
    assert temporal_coupling([request]) == ()


def test_report_carries_the_window():
    """The report states the window it covers."""
    report = build_coupling(_shop())
    assert (report.start_ns, report.end_ns) == WINDOW


def test_semconv_conversation_id_pairs_requests_too():
    """Spans from other instrumentations carrying only `messaging.message.conversation_id` still pair."""
    request = send("a", "req", attrs={REPLY_TO: "rep", "messaging.message.conversation_id": "k"})
    reply = send("b", "rep", attrs={"messaging.message.conversation_id": "k"}, at_ms=5)
    (pair,) = temporal_coupling([request, reply])
    assert (pair.requester, pair.replier, pair.max_round_trip_s) == ("a", "b", pytest.approx(0.005))
