"""The dashboard in a real headless Chromium (Debian's package) against a running `eventlens dashboard`.

Every page loads without an exception element, a lineage is clicked through from the recent-events list to a
span's attributes, the XSS probe shows as text and never opens a dialog; screenshots land in `artifacts_dir`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard_browser import PAGES, choose_first, dashboard, open_first_recent_flow, open_page
from dashboard_seed import ORDERS, XSS, Seeded, order_flow
from playwright.sync_api import Page, expect

from eventlens.collector.storage.protocol import open_store

pytestmark = pytest.mark.browser

@pytest.fixture
def dashboard_url(seeded: tuple[str, Seeded], tmp_path: Path) -> Iterator[str]:
    """A running `eventlens dashboard` (live refresh off) reading the seeded store."""
    with dashboard(seeded[0], tmp_path / "dashboard.log", refresh=0) as url:
        yield url


def test_every_page_loads_without_an_error(dashboard_url: str, page: Page, artifacts_dir: Path) -> None:
    """Each page renders its title and no exception box; a screenshot of each is kept."""
    for path in PAGES:
        open_page(page, dashboard_url, path)
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
        page.screenshot(path=str(artifacts_dir / f"dashboard-{path}.png"), full_page=True)


def test_a_lineage_can_be_clicked_through_to_span_attributes(dashboard_url: str, page: Page,
                                                             artifacts_dir: Path) -> None:
    """Recent flow → its lineage (story, graph, URL deep link) → a hop's attributes, by clicking only."""
    open_first_recent_flow(page, dashboard_url)
    expect(page.get_by_text("OrderPlaced → PaymentCaptured", exact=True)).to_be_visible()
    expect(page).to_have_url(re.compile(r"/lineage\?trace=[0-9a-f]{32}$"))
    expect(page.locator('[data-testid="stGraphVizChart"] svg')).to_be_visible()
    choose_first(page, "Inspect a span")
    expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(2)
    cell = page.locator('[data-testid="stDataFrame"] td[role="gridcell"]', has_text="<script>alert(2)</script>")
    expect(cell).to_have_count(1)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    page.screenshot(path=str(artifacts_dir / "dashboard-lineage-clicked.png"), full_page=True)


def test_the_xss_service_name_renders_as_text(dashboard_url: str, page: Page, artifacts_dir: Path) -> None:
    """The probe name appears as visible text (story, graph labels) and never becomes an element."""
    open_page(page, dashboard_url, "topology")
    expect(page.locator('[data-testid="stGraphVizChart"] svg text', has_text=XSS).first).to_be_attached()
    expect(page.locator('[data-testid="stDataFrame"] td[role="gridcell"]', has_text=XSS).first).to_be_attached()
    open_first_recent_flow(page, dashboard_url)
    expect(page.get_by_text(XSS, exact=False).first).to_be_visible()
    assert page.locator('img[src="x"]').count() == 0
    page.screenshot(path=str(artifacts_dir / "dashboard-xss.png"), full_page=True)


def test_live_refresh_shows_new_traffic_and_keeps_the_users_selection(
        seeded: tuple[str, Seeded], tmp_path: Path, page: Page, artifacts_dir: Path) -> None:
    """With a 1 s refresh, spans written after the page opened appear on their own, while the service chosen
    through the deep link stays selected and in the URL."""
    store, _ = seeded
    with dashboard(store, tmp_path / "live.log", refresh=1) as base:
        page.goto(f"{base}/topology?service=orders")
        request_shot = artifacts_dir / "dashboard-live-refresh.png"
        edges = page.locator('[data-testid="stDataFrame"] td[role="gridcell"]')
        expect(edges.filter(has_text=re.compile(r"^720$")).first).to_be_attached()  # 6 orders x 120 bytes
        writer = open_store(store)
        try:
            writer.write_spans([s for i in range(ORDERS, 2 * ORDERS)
                                for s in order_flow(i, time.time_ns() - 10 * 1_000_000_000)])
        finally:
            writer.close()
        try:
            expect(edges.filter(has_text=re.compile(r"^1,?440$")).first).to_be_attached()  # 12 orders, no reload
            expect(page.get_by_role("combobox", name="Service")).to_have_value("orders")
            expect(page).to_have_url(re.compile(r"/topology\?service=orders$"))
        finally:
            page.screenshot(path=str(request_shot), full_page=True)
