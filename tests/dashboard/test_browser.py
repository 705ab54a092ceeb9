"""The dashboard in a real headless Chromium (Debian's package) against a running `eventlens dashboard`.

Every page loads without an exception element, a lineage is clicked through from the recent-events list to a
span's attributes, the XSS probe shows as text and never opens a dialog; screenshots land in `artifacts_dir`.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dashboard_seed import ORDERS, XSS, Seeded, order_flow
from eventlens.collector.storage.api import open_store
from playwright.sync_api import Browser, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from eventlens.local_kafka import free_port

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGES = {  # url path: (title, what shows once the page has rendered its data)
    "overview": ("eventlens", '[data-testid="stMetric"]'),
    "topology": ("Topology", '[data-testid="stGraphVizChart"] svg'),
    "lineage": ("Event lineage", '[data-testid="stButton"] button:has-text("OrderPlaced")'),
    "lag": ("Consumer lag", '[data-testid="stDataFrame"]'),
    "coupling": ("Coupling", '[data-testid="stVegaLiteChart"]'),
    "schemas": ("Schemas", '[data-testid="stDataFrame"]'),
    "export": ("Export", '[data-testid="stDownloadButton"]'),
}
TIMEOUT_MS = 60_000
expect.set_options(timeout=TIMEOUT_MS)  # a loaded CI machine renders slowly; every wait is on a condition


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], deadline_s: float = 90) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"eventlens dashboard exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:  # noqa: S310 (loopback)
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError("the dashboard did not answer /_stcore/health")


@contextmanager
def _dashboard(store: str, log_path: Path, refresh: float) -> Iterator[str]:
    """`eventlens dashboard` on a free loopback port until the block ends; yields its base URL."""
    port = free_port()
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "eventlens", "dashboard", "--store", store, "--port",
                                 str(port), "--address", "127.0.0.1", "--refresh", str(refresh)],
                                stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, proc)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def dashboard_url(seeded: tuple[str, Seeded], tmp_path: Path) -> Iterator[str]:
    """A running `eventlens dashboard` (live refresh off) reading the seeded store."""
    with _dashboard(seeded[0], tmp_path / "dashboard.log", refresh=0) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright."""
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser, artifacts_dir: Path, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh page that fails the test if anything opens a dialog (alert, confirm, prompt); its final state
    is kept as a screenshot (`dashboard-end-<test>.png`) to explain failures."""
    dialogs: list[str] = []
    tab = browser.new_page(viewport={"width": 1400, "height": 1000})
    tab.set_default_timeout(TIMEOUT_MS)
    tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    yield tab
    tab.screenshot(path=str(artifacts_dir / f"dashboard-end-{request.node.name}.png"), full_page=True)
    tab.close()
    assert dialogs == [], f"a dialog opened: {dialogs}"


def _open(page: Page, base: str, path: str) -> None:
    title, ready = PAGES[path]
    page.goto(f"{base}/{path}")
    expect(page.get_by_role("heading", name=title, exact=True).first).to_be_visible()
    expect(page.locator(ready).first).to_be_visible()


def _choose_first(page: Page, label: str) -> None:
    """Open a selectbox and pick its first option (retrying while a script rerun re-renders the widget)."""
    box = page.get_by_role("combobox", name=label)
    for _ in range(10):
        expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0)
        box.click()
        option = page.get_by_role("option").first
        try:
            option.wait_for(state="visible", timeout=5_000)
        except PlaywrightTimeoutError:
            page.keyboard.press("Escape")
            continue
        option.click()
        return
    raise AssertionError(f"the {label!r} selectbox never opened")


def _open_first_recent_flow(page: Page, base: str) -> None:
    _open(page, base, "lineage")
    page.locator(PAGES["lineage"][1]).first.click()
    expect(page.get_by_text("OrderPlaced → PaymentCaptured", exact=True)).to_be_visible()


def test_every_page_loads_without_an_error(dashboard_url: str, page: Page, artifacts_dir: Path) -> None:
    """Each page renders its title and no exception box; a screenshot of each is kept."""
    for path in PAGES:
        _open(page, dashboard_url, path)
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
        page.screenshot(path=str(artifacts_dir / f"dashboard-{path}.png"), full_page=True)


def test_a_lineage_can_be_clicked_through_to_span_attributes(dashboard_url: str, page: Page,
                                                             artifacts_dir: Path) -> None:
    """Recent flow → its lineage (story, graph, URL deep link) → a hop's attributes, by clicking only."""
    _open_first_recent_flow(page, dashboard_url)
    expect(page).to_have_url(re.compile(r"/lineage\?trace=[0-9a-f]{32}$"))
    expect(page.locator('[data-testid="stGraphVizChart"] svg')).to_be_visible()
    _choose_first(page, "Inspect a span")
    expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(2)
    cell = page.locator('[data-testid="stDataFrame"] td[role="gridcell"]', has_text="<script>alert(2)</script>")
    expect(cell).to_have_count(1)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    page.screenshot(path=str(artifacts_dir / "dashboard-lineage-clicked.png"), full_page=True)


def test_the_xss_service_name_renders_as_text(dashboard_url: str, page: Page, artifacts_dir: Path) -> None:
    """The probe name appears as visible text (story, graph labels) and never becomes an element."""
    _open(page, dashboard_url, "topology")
    expect(page.locator('[data-testid="stGraphVizChart"] svg text', has_text=XSS).first).to_be_attached()
    expect(page.locator('[data-testid="stDataFrame"] td[role="gridcell"]', has_text=XSS).first).to_be_attached()
    _open_first_recent_flow(page, dashboard_url)
    expect(page.get_by_text(XSS, exact=False).first).to_be_visible()
    assert page.locator('img[src="x"]').count() == 0
    page.screenshot(path=str(artifacts_dir / "dashboard-xss.png"), full_page=True)


def test_live_refresh_shows_new_traffic_and_keeps_the_users_selection(
        seeded: tuple[str, Seeded], tmp_path: Path, page: Page, artifacts_dir: Path) -> None:
    """With a 1 s refresh, spans written after the page opened appear on their own, while the service chosen
    through the deep link stays selected and in the URL."""
    store, _ = seeded
    with _dashboard(store, tmp_path / "live.log", refresh=1) as base:
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
