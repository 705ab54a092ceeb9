"""Every page on a seeded SQLite store, driven headlessly with AppTest: what a user sees."""

from __future__ import annotations

from typing import Any

from dashboard_seed import ORDERS, XSS, Seeded
from streamlit.testing.v1 import AppTest

from eventlens.collector.analysis.query import EXPORT_FORMATS
from eventlens.dashboard import ui
from eventlens.dashboard.cli import ENTRYPOINT


def _page(page: str, query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(ENTRYPOINT), default_timeout=60)
    at.run()
    at.switch_page(f"app_pages/{page}.py")
    at.query_params.update(query or {})
    at.run()
    assert not at.exception, at.exception
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _frames(at: AppTest) -> list[Any]:
    return [d.value for d in at.dataframe]


def _texts(at: AppTest) -> list[str]:
    return [t.value for t in at.text]


def test_overview_shows_counts_traffic_and_the_worst_group(seeded: tuple[str, Seeded]) -> None:
    """Spans, services, topics and the lagging group are summed up on the first page."""
    _, written = seeded
    at = _page("overview")
    metrics = _metrics(at)
    assert metrics["Spans stored"] == f"{written.spans:,}"
    assert metrics["Services"] == "3"
    assert metrics["Topics (15 min)"] == "2"
    assert metrics["Produced (15 min)"] == f"{2 * ORDERS:,}"
    assert metrics["Worst consumer group"] != "none observed"
    services = _frames(at)[-1]["service"].tolist()
    assert services == sorted(["billing", "orders", XSS])


def test_overview_lists_recent_schema_drift(seeded: tuple[str, Seeded]) -> None:
    """The OrderPlaced schema change by the orders service is listed."""
    at = _page("overview")
    drift = _frames(at)[0]
    assert drift["event_type"].tolist() == ["OrderPlaced"]
    assert drift["producer"].tolist() == ["orders"]


def test_topology_draws_every_service_and_topic_and_lists_edges(seeded: tuple[str, Seeded]) -> None:
    """The graph carries every name (escaped) and the edge table the traffic of each hop."""
    at = _page("topology")
    dot_text = at.get("graphviz_chart")[0].proto.spec
    for name in ("orders", "billing", "payments", "billing-g", "shipping-g", XSS):
        assert f'label="{name}"' in dot_text
    edges = _frames(at)[0]
    sent = edges[(edges["from"] == "orders") & (edges["to"] == "orders")]
    assert sent["messages"].tolist() == [ORDERS]
    assert XSS in edges["to"].tolist()


def test_topology_deep_link_to_a_service_keeps_only_its_topics(seeded: tuple[str, Seeded]) -> None:
    """`?service=orders` shows the orders topic's edges only, and selects the service in the filter."""
    at = _page("topology", {"service": "orders"})
    assert at.selectbox(key="service").value == "orders"
    edges = _frames(at)[0]
    assert set(edges["topic"]) == {"orders"}


def test_a_window_deep_link_in_the_shared_grammar_preselects_the_window(seeded: tuple[str, Seeded]) -> None:
    """`?window=1d` (the collector's duration grammar) opens the page on the "24 h" window."""
    at = _page("topology", {"window": "1d"})
    assert at.selectbox(key="topology_window").value == "24 h"


def test_lineage_without_search_lists_recent_flows_that_open_their_lineage(seeded: tuple[str, Seeded]) -> None:
    """A newcomer sees the recent flows by their first event; clicking one fills the trace search."""
    _, written = seeded
    at = _page("lineage")
    buttons = [b for b in at.button if b.key and b.key.startswith("recent_")]
    assert len(buttons) == ORDERS
    expected = {ui.escape_md(f"OrderPlaced from orders → orders (key order-{i})") for i in range(ORDERS)}
    assert {b.label for b in buttons} == expected
    at.button(key=f"recent_{written.trace_ids[0]}").click().run()
    assert not at.exception
    assert at.text_input(key="trace").value == written.trace_ids[0]
    assert "OrderPlaced → PaymentCaptured" in _texts(at)


def test_lineage_by_trace_tells_the_story_and_shows_each_hop(seeded: tuple[str, Seeded]) -> None:
    """`?trace=` shows the business story, the causal graph, the timeline and all hops."""
    _, written = seeded
    at = _page("lineage", {"trace": written.trace_ids[0]})
    assert "OrderPlaced → PaymentCaptured" in _texts(at)
    assert at.get("graphviz_chart") and at.get("vega_lite_chart")
    hops = _frames(at)[0]
    assert hops["service"].tolist() == ["orders", "billing", "billing", XSS]


def test_lineage_by_event_id_finds_the_same_flow(seeded: tuple[str, Seeded]) -> None:
    """Searching the first order's event id yields its lineage."""
    _, written = seeded
    at = _page("lineage", {"event": written.first_event_id})
    hops = _frames(at)[0]
    assert "evt-order-0" in hops["event_id"].tolist()


def test_lineage_click_through_shows_a_spans_attributes_as_text(seeded: tuple[str, Seeded]) -> None:
    """Choosing a hop shows its attributes; an HTML-looking attribute value is plain data."""
    _, written = seeded
    at = _page("lineage", {"trace": written.trace_ids[0]})
    at.selectbox(key="lineage_span").select(0).run()
    assert not at.exception
    attributes = _frames(at)[-1]
    values = dict(zip(attributes["key"], attributes["value"], strict=True))
    assert values["order.note"] == "<script>alert(2)</script>"


def test_lag_lists_groups_worst_first_and_drills_into_one(seeded: tuple[str, Seeded]) -> None:
    """Groups are listed; `?group=` shows that group's partitions, totals and lag chart."""
    at = _page("lag", {"group": "shipping-g"})
    groups = _frames(at)[0]
    assert set(groups["group"]) == {"billing-g", "shipping-g"}
    assert groups["group"].tolist()[0] == "shipping-g"
    assert _metrics(at)["Total lag (offsets)"] == "55"
    partitions = _frames(at)[1]
    assert partitions["topic"].tolist() == ["payments"]
    assert at.get("vega_lite_chart")


def test_coupling_shows_matrix_metrics_and_blast_radius(seeded: tuple[str, Seeded]) -> None:
    """The heatmap, the metrics per service, and who an OrderPlaced change reaches."""
    at = _page("coupling")
    assert at.get("vega_lite_chart")
    metrics = _frames(at)[0]
    assert set(metrics["service"]) == {"orders", "billing", XSS}
    at.selectbox(key="event_type").select("OrderPlaced").run()
    radius = _frames(at)[-1]
    reach = dict(zip(radius["service"], radius["reach"], strict=True))
    assert reach["orders"] == "producer"
    assert reach["billing"] == "direct consumer"


def test_schemas_lists_versions_and_drift(seeded: tuple[str, Seeded]) -> None:
    """OrderPlaced has two versions and one drift; PaymentCaptured one version."""
    at = _page("schemas")
    versions = _frames(at)[0]
    order = versions[versions["event_type"] == "OrderPlaced"]
    assert order["fingerprint"].tolist() == ["json:order-v1", "json:order-v2"]
    assert _metrics(at)["Drifts"] == "1"


def test_export_offers_one_download_per_format_and_a_preview(seeded: tuple[str, Seeded]) -> None:
    """Every export format has its download button; the preview shows the exported text."""
    at = _page("export")
    buttons = at.get("download_button")
    assert len(buttons) == len(EXPORT_FORMATS)
    at.selectbox(key="export_preview").select("csv").run()
    assert "orders" in at.code[-1].value


def test_xss_service_name_is_only_ever_text(seeded: tuple[str, Seeded]) -> None:
    """No page emits the probe through Markdown or HTML: it appears only in data, text and escaped DOT."""
    for page in ("overview", "topology", "coupling", "lineage"):
        at = _page(page)
        for element in (*at.markdown, *at.caption, *at.info):
            assert "<img" not in element.value
        assert not at.get("html")
