"""Browser-test helpers: run `eventlens dashboard` as a process, open pages in Chromium and wait on them."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from eventlens.local_kafka import free_port

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGES = {  # url path: (title, what shows once the page has rendered its data)
    "overview": ("eventlens", '[data-testid="stMetric"]'),
    "topology": ("Topology", '[data-testid="stGraphVizChart"] svg'),
    "lineage": ("Event lineage", '[data-testid="stButton"] button:has-text(" from ")'),
    "lag": ("Consumer lag", '[data-testid="stDataFrame"]'),
    "coupling": ("Coupling", '[data-testid="stVegaLiteChart"]'),
    "schemas": ("Schemas", '[data-testid="stDataFrame"]'),
    "export": ("Export", '[data-testid="stDownloadButton"]'),
}
TIMEOUT_MS = 60_000
expect.set_options(timeout=TIMEOUT_MS)  # a loaded CI machine renders slowly; every wait is on a condition


def wait_healthy(url: str, proc: subprocess.Popen[bytes], deadline_s: float = 90) -> None:
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
def dashboard(store: str, log_path: Path, refresh: float) -> Iterator[str]:
    """`eventlens dashboard` on a free loopback port until the block ends; yields its base URL."""
    port = free_port()
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "eventlens", "dashboard", "--store", store, "--port",
                                 str(port), "--address", "127.0.0.1", "--refresh", str(refresh)],
                                stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, proc)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def open_page(page: Page, base: str, path: str) -> None:
    title, ready = PAGES[path]
    page.goto(f"{base}/{path}")
    expect(page.get_by_role("heading", name=title, exact=True).first).to_be_visible()
    expect(page.locator(ready).first).to_be_visible()


def choose_first(page: Page, label: str) -> None:
    """Open a selectbox and pick its first option (retrying while a script rerun re-renders the widget)."""
    box = page.get_by_role("combobox", name=label)
    for _ in range(10):
        expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0)
        box.click()
        option = page.get_by_role("option").first
        try:
            option.wait_for(state="visible", timeout=5_000)
            option.click(timeout=5_000)  # a rerun may re-render the list between visible and click: open again
        except PlaywrightTimeoutError:
            page.keyboard.press("Escape")
            continue
        return
    raise AssertionError(f"the {label!r} selectbox never opened")


def open_first_recent_flow(page: Page, base: str) -> None:
    open_page(page, base, "lineage")
    page.locator(PAGES["lineage"][1]).first.click()
    expect(page.get_by_role("heading", name="Causal graph")).to_be_visible()
