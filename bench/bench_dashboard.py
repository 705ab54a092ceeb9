"""Dashboard benchmark: each page's first render and a live refresh with 1M spans stored, beside the same page
on an empty store (the baseline, measured in the same run).

    python -m bench dashboard            # 1M spans (written fresh: the pages show the last hour)
    python -m bench dashboard --quick    # 100k spans
    EVENTLENS_BENCH_DASHBOARD_SPANS=500000 python -m bench dashboard

Server side: Streamlit's AppTest runs the real page scripts on the real SQLite store; "first render" is a new
session's first run of the page, "live refresh" a rerun after the cache tick has passed (every query runs
again, as in a fragment refresh; a full rerun, so an upper bound of the fragment's cost). End to end: when
Debian's Chromium is installed, a fresh browser tab against a running `eventlens dashboard`, from navigation
until the page's data is drawn.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench._common import Result
from bench.bench_analysis import SPANS_PER_CHAIN, chain
from eventlens.collector.model import NS_PER_S, LagSample
from eventlens.collector.storage.protocol import open_store
from eventlens.dashboard import settings
from eventlens.dashboard.cli import ENTRYPOINT
from eventlens.local_kafka import free_port

PAGES = ("overview", "topology", "lineage", "lag", "coupling", "schemas", "export")
READY = {  # what shows once a page has drawn its data (or its empty state)
    "overview": '[data-testid="stMetric"], [data-testid="stAlert"]',
    "topology": '[data-testid="stGraphVizChart"] svg, [data-testid="stAlert"]',
    "lineage": '[data-testid="stButton"] button:has-text("from"), [data-testid="stAlert"]',
    "lag": '[data-testid="stDataFrame"], [data-testid="stAlert"]',
    "coupling": '[data-testid="stVegaLiteChart"], [data-testid="stAlert"]',
    "schemas": '[data-testid="stDataFrame"], [data-testid="stAlert"]',
    "export": '[data-testid="stDownloadButton"]',
}
SPREAD_S = 50 * 60
"""The spans are spread over the 50 minutes before the run, inside every page's default window."""
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def build_store(path: Path, total: int, now_ns: int) -> None:
    """Write `total` spans of 5-hop event chains (50 services, 100 topics) and a lag history per group."""
    store = open_store(f"sqlite:///{path}")
    try:
        chains = total // SPANS_PER_CHAIN
        step = SPREAD_S * NS_PER_S // max(1, chains)
        first = now_ns - SPREAD_S * NS_PER_S
        batch = []
        for c in range(chains):
            batch.extend(chain(c, first + c * step))
            if len(batch) >= 5000:
                store.write_spans(batch)
                batch = []
        if batch:
            store.write_spans(batch)
        samples = [LagSample(f"g{g}", f"t{g}", p, 1000 * k, 1000 * k + 50 * p, now_ns - (600 - 20 * k) * NS_PER_S,
                             lag_seconds=0.1 * p)
                   for g in range(50) for p in range(6) for k in range(30)]
        store.write_lag_samples(samples)
    finally:
        store.close()


def _apptest_times(path: Path, trace_id: str | None) -> dict[str, tuple[float, float]]:
    """Per page: (first render, live refresh) in seconds, server side (AppTest on the real page scripts).

    Each page gets its own spelling of the store's path, so its first render finds nothing cached (not even
    the open store): a cold start. The refresh reruns it once the live views' freshness has lapsed.
    """
    from streamlit.testing.v1 import AppTest

    out: dict[str, tuple[float, float]] = {}
    cases = [(p, {}) for p in PAGES] + ([("lineage", {"trace": trace_id})] if trace_id else [])
    for n, (page, query) in enumerate(cases):
        alias = f"{path.parent}/{'./' * (n + 1)}{path.name}"  # the same file under new cache keys
        os.environ[settings.STORE_ENV] = f"sqlite:///{alias}"
        at = AppTest.from_file(str(ENTRYPOINT), default_timeout=300)
        if page != "overview":  # the default page: switching needs one run first, on another alias
            os.environ[settings.STORE_ENV] = f"sqlite:///{path.parent}/{'./' * 40}{path.name}"
            at.run()
            os.environ[settings.STORE_ENV] = f"sqlite:///{alias}"
            at.switch_page(f"app_pages/{page}.py")
        at.query_params.update(query)
        t0 = time.perf_counter()
        at.run()
        first = time.perf_counter() - t0
        time.sleep(settings.LIVE_TTL_S + 0.1)
        t0 = time.perf_counter()
        at.run()
        refresh = time.perf_counter() - t0
        if at.exception:
            raise RuntimeError(f"{page}: {at.exception[0].message}")
        out[page + ("?trace" if query else "")] = (first, refresh)
    return out


@contextmanager
def _server(url: str) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "eventlens", "dashboard", "--store", url, "--port", str(port),
                             "--refresh", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2):  # noqa: S310 (loopback)
                    break
            except OSError:
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _browser_times(url: str) -> dict[str, float]:
    """Per page: seconds from navigation in a fresh tab until the page's data is drawn (Chromium, end to end)."""
    from playwright.sync_api import sync_playwright

    out: dict[str, float] = {}
    with _server(url) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            warm = browser.new_page()
            warm.goto(f"{base}/overview")  # the server's first session pays for imports, not a page
            warm.locator(READY["overview"]).first.wait_for(timeout=120_000)
            warm.close()
            for page in PAGES:
                time.sleep(settings.TICK_NS / NS_PER_S)
                tab = browser.new_page(viewport={"width": 1400, "height": 1000})
                t0 = time.perf_counter()
                tab.goto(f"{base}/{page}")
                tab.locator(READY[page]).first.wait_for(timeout=120_000)
                out[page] = time.perf_counter() - t0
                tab.close()
        finally:
            browser.close()
    return out


def run(bootstrap: str, quick: bool) -> list[Result]:
    """Write the store, then time every page on it and on an empty store."""
    total = int(os.environ.get("EVENTLENS_BENCH_DASHBOARD_SPANS") or (100_000 if quick else 1_000_000))
    with tempfile.TemporaryDirectory(prefix="eventlens-bench-dashboard-") as tmp:
        full, empty = Path(tmp) / "full.db", Path(tmp) / "empty.db"
        open_store(f"sqlite:///{empty}").close()
        t0 = time.perf_counter()
        build_store(full, total, time.time_ns())
        build_s = time.perf_counter() - t0
        trace_id = f"{0:016x}{0:016x}"  # the first chain's trace (bench_analysis naming)
        loaded = _apptest_times(full, trace_id)
        baseline = _apptest_times(empty, None)
        results = [Result("store build (write_spans)", build_s, "s", goal=f"{total:,} spans, last 50 min")]
        for page, (first, refresh) in loaded.items():
            base_first, base_refresh = baseline.get(page.split("?")[0], (None, None))
            results.append(Result(f"{page}: first render (server)", first * 1000, "ms", "empty store",
                                  None if base_first is None else base_first * 1000, goal="≤ 2000 ms"))
            results.append(Result(f"{page}: live refresh (server)", refresh * 1000, "ms", "empty store",
                                  None if base_refresh is None else base_refresh * 1000, goal="≤ 500 ms"))
        if Path(CHROMIUM).exists():
            browser_loaded = _browser_times(f"sqlite:///{full}")
            browser_empty = _browser_times(f"sqlite:///{empty}")
            for page, seconds in browser_loaded.items():
                results.append(Result(f"{page}: first render in Chromium", seconds * 1000, "ms", "empty store",
                                      browser_empty[page] * 1000, goal="≤ 2000 ms"))
        else:
            results.append(Result("Chromium end-to-end figures skipped: /usr/bin/chromium not installed", 0, "-"))
        return results


if __name__ == "__main__":
    from bench._common import format_table

    print(format_table(run("", quick="--quick" in sys.argv)))
