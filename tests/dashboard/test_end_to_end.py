"""The whole path in a browser: instrumented services → real Kafka → running collector → dashboard → Chromium.

Three service processes (instrumented with `eventlens.instrumentation.instrument()`) exchange events through
the session broker; a `eventlens collector` process receives their spans over OTLP/HTTP and polls the groups'
lag; a `eventlens dashboard` process reads the collector's SQLite store; Chromium clicks through it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dashboard_browser import PAGES, choose_first, dashboard, open_first_recent_flow, open_page
from playwright.sync_api import Page, expect

from eventlens.collector.analysis.query import lineage
from eventlens.collector.lag.query import group_statuses
from eventlens.collector.storage.protocol import open_store

pytestmark = [pytest.mark.kafka, pytest.mark.browser]

SHOP = Path(__file__).with_name("e2e_shop.py")
ORDERS = 5
XSS = "<img src=x onerror=alert(1)>"
_LISTENING = re.compile(r"eventlens collector listening http=(\d+)")


def _wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.5)


@pytest.fixture
def collector(tmp_path: Path, kafka_bootstrap: str) -> Iterator[tuple[str, str]]:
    """A running `eventlens collector` on a SQLite store, polling lag every second: (store URL, OTLP endpoint)."""
    store = f"sqlite:///{tmp_path / 'e2e.db'}"
    proc = subprocess.Popen([sys.executable, "-m", "eventlens", "collector", "--store", store, "--http-port", "0",
                             "--grpc-port", "-1", "--lag-bootstrap", kafka_bootstrap, "--lag-interval", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    port: list[int] = []
    log = (tmp_path / "collector.log").open("wb")

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            log.write(line)
            log.flush()
            match = _LISTENING.search(line.decode(errors="replace"))
            if match:
                port.append(int(match.group(1)))

    threading.Thread(target=read, daemon=True).start()
    try:
        _wait_for(lambda: bool(port) or proc.poll() is not None, "the collector to listen", 60)
        assert port, f"collector exited: {(tmp_path / 'collector.log').read_text(errors='replace')}"
        yield store, f"http://127.0.0.1:{port[0]}"
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()


def _run_shop(role: str, topics: tuple[str, str, str], endpoint: str, logs: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_METRICS_EXPORTER": "none",
           "OTEL_BSP_SCHEDULE_DELAY": "200"}
    log = (logs / f"shop-{role}.log").open("wb")
    return subprocess.Popen([sys.executable, str(SHOP), role, *topics, str(ORDERS)], env=env, stdout=log,
                            stderr=subprocess.STDOUT)


@pytest.fixture
def shop_store(kafka_bootstrap: str, make_topic: Callable[..., str], collector: tuple[str, str],
               tmp_path: Path) -> str:
    """The collector's store once the shop's traffic (orders → billing → shipping) and its lag are in it."""
    store_url, endpoint = collector
    topics = (kafka_bootstrap, make_topic(partitions=2, suffix="-orders"), make_topic(partitions=1, suffix="-pay"))
    shop = [_run_shop(role, topics, endpoint, tmp_path) for role in ("billing", "shipping", "orders")]
    for proc in shop:
        assert proc.wait(timeout=240) == 0, f"a shop service failed; logs in {tmp_path}"
    reader = open_store(store_url)
    try:
        _wait_for(lambda: len(lineage(reader, event_id="evt-order-0").nodes) == 4, "the first order's lineage")
        _wait_for(lambda: {g.group for g in group_statuses(reader, time.time_ns())} >= {"billing-g", "shipping-g"},
                  "the groups' lag samples")
    finally:
        reader.close()
    return store_url


def test_spans_from_instrumented_services_through_kafka_show_in_the_dashboard(
        shop_store: str, tmp_path: Path, page: Page, artifacts_dir: Path) -> None:
    """Every page renders from real traffic; the lineage of an order is clicked through; the XSS service name
    is text and no dialog opens."""
    with dashboard(shop_store, tmp_path / "dashboard.log", refresh=0) as base:
        for path in PAGES:
            open_page(page, base, path)
            expect(page.locator('[data-testid="stException"]')).to_have_count(0)
            page.screenshot(path=str(artifacts_dir / f"dashboard-e2e-{path}.png"), full_page=True)
        open_page(page, base, "topology")
        expect(page.locator('[data-testid="stGraphVizChart"] svg text', has_text=XSS).first).to_be_attached()
        open_first_recent_flow(page, base)
        expect(page.get_by_text(XSS).first).to_be_visible()
        choose_first(page, "Inspect a span")
        cells = page.locator('[data-testid="stDataFrame"] td[role="gridcell"]')
        expect(cells.filter(has_text="messaging.destination.name").first).to_be_attached()
        assert page.locator('img[src="x"]').count() == 0
        page.screenshot(path=str(artifacts_dir / "dashboard-e2e-lineage-clicked.png"), full_page=True)
