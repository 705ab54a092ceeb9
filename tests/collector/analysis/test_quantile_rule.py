"""One latency quantile rule: every figure computed from rollup buckets (topology edges and flows, the CSV and DOT
exports, the dashboard's edge table) equals `histogram.quantile` on the same buckets."""

from __future__ import annotations

import csv
import io

import pytest
from analysis_builders import NS_PER_MINUTE, T0, buckets

from eventlens.collector.analysis.exports import to_csv, to_dot
from eventlens.collector.analysis.histogram import quantile
from eventlens.collector.analysis.topology import build_topology
from eventlens.collector.model import EdgeRollup, Topology
from eventlens.dashboard.tables import Duration, topology_edge_rows

WINDOW = (T0, T0 + 10 * NS_PER_MINUTE)

SPREADS = {
    "one bucket": buckets(*[0.02] * 10),
    "spread": buckets(0.001, 0.004, 0.02, 0.02, 0.06, 0.3, 0.3, 0.9, 4.0, 12.0),
    "heavy tail": buckets(*[0.003] * 90, *[40.0] * 9, 2000.0),
    "mostly overflow": buckets(0.01, *[5000.0] * 20),
}
"""Histograms that put the p50/p95/p99 in the first bucket, in between buckets, and in the overflow bucket."""


def _topology(hist: tuple[int, ...]) -> Topology:
    """A paired flow orders → t → g → billing whose consume-side rollup holds `hist`."""
    count = sum(hist)
    rollups = [
        EdgeRollup(T0, "orders", "t", None, None, count, 0, count * 10, 0.0, buckets()),
        EdgeRollup(T0, "orders", "t", "g", "billing", count, 0, count * 10, 0.5 * count, hist),
    ]
    return build_topology(rollups, *WINDOW)


def _expected(hist: tuple[int, ...]) -> tuple[float | None, float | None, float | None]:
    return quantile(hist, 0.50), quantile(hist, 0.95), quantile(hist, 0.99)


@pytest.mark.parametrize("hist", SPREADS.values(), ids=SPREADS.keys())
def test_topology_consume_edges_use_the_rule(hist: tuple[int, ...]) -> None:
    """The topic → group and group → service edges report the rule's p50/p95/p99 of their buckets."""
    topo = _topology(hist)
    consume = [e for e in topo.edges if not e.source.startswith("service:")]
    assert len(consume) == 2
    for e in consume:
        assert (e.latency.p50_s, e.latency.p95_s, e.latency.p99_s) == _expected(hist)


@pytest.mark.parametrize("hist", SPREADS.values(), ids=SPREADS.keys())
def test_topology_flows_use_the_rule(hist: tuple[int, ...]) -> None:
    """A flow (producer, topic, group, consumer) reports the rule's percentiles of its buckets."""
    (flow,) = _topology(hist).flows
    assert (flow.latency.p50_s, flow.latency.p95_s, flow.latency.p99_s) == _expected(hist)


@pytest.mark.parametrize("hist", SPREADS.values(), ids=SPREADS.keys())
def test_csv_export_columns_use_the_rule(hist: tuple[int, ...]) -> None:
    """The CSV edge list's latency_p50_s/p95_s/p99_s columns are the rule's values."""
    rows = list(csv.DictReader(io.StringIO(to_csv(_topology(hist)))))
    consume = [r for r in rows if r["source"] == "topic:t"]
    assert [(float(r["latency_p50_s"]), float(r["latency_p95_s"]), float(r["latency_p99_s"]))
            for r in consume] == [_expected(hist)]


@pytest.mark.parametrize("hist", SPREADS.values(), ids=SPREADS.keys())
def test_dot_export_label_uses_the_rule(hist: tuple[int, ...]) -> None:
    """The DOT export labels a consume edge with the rule's p95 in milliseconds."""
    p95 = quantile(hist, 0.95)
    assert p95 is not None
    assert f"p95 {p95 * 1000:.0f} ms" in to_dot(_topology(hist))


@pytest.mark.parametrize("hist", SPREADS.values(), ids=SPREADS.keys())
def test_dashboard_edge_table_uses_the_rule(hist: tuple[int, ...]) -> None:
    """The dashboard's topology table shows the rule's p50 and p95 for the consume edges."""
    p50, p95, _ = _expected(hist)
    rows = [r for r in topology_edge_rows(_topology(hist)) if r["from"] == "t"]
    assert [(r["p50"], r["p95"]) for r in rows] == [(str(Duration(p50)), str(Duration(p95)))]


def test_the_rule_interpolates_inside_a_bucket() -> None:
    """Ten latencies in (0.01, 0.025]: the median is half-way through that bucket, not its upper bound."""
    assert quantile(SPREADS["one bucket"], 0.5) == pytest.approx(0.0175)


def test_the_rule_reports_the_overflow_bucket_as_the_highest_finite_bound() -> None:
    """A quantile past the last bound is that bound (a lower bound), never infinity."""
    assert quantile(SPREADS["mostly overflow"], 0.99) == 900.0
