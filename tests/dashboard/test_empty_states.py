"""A store that exists but holds nothing yet: each page says what is missing and what to do next."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from eventlens.collector.analysis.query import EXPORT_FORMATS
from eventlens.dashboard.cli import ENTRYPOINT

EXPECTED = {
    "overview": "No spans yet: instrument a service with `eventlens.instrumentation.instrument()`",
    "topology": "No traffic in this window",
    "lineage": "No spans yet: instrument a service",
    "lag": "No consumer groups observed yet",
    "coupling": "No services exchanged events in this window",
    "schemas": "No event schemas seen in this window",
}


@pytest.mark.parametrize("page", sorted(EXPECTED))
def test_page_on_an_empty_store_explains_the_next_step(page: str, empty_store_url: str) -> None:
    """The page shows its empty state (our own text) instead of empty tables or an error."""
    at = AppTest.from_file(str(ENTRYPOINT), default_timeout=60).run()
    at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception
    assert any(EXPECTED[page] in info.value for info in at.info)
    assert not at.dataframe


def test_no_spans_yet_shows_the_one_line_to_add(empty_store_url: str) -> None:
    """The overview's empty state carries the instrumentation snippet to copy."""
    at = AppTest.from_file(str(ENTRYPOINT), default_timeout=60).run()
    assert any("eventlens.instrumentation.instrument(" in code.value for code in at.code)


def test_export_on_an_empty_store_still_offers_every_format(empty_store_url: str) -> None:
    """Exports of an empty window are valid (empty) documents, so the buttons stay."""
    at = AppTest.from_file(str(ENTRYPOINT), default_timeout=60).run()
    at.switch_page("app_pages/export.py").run()
    assert not at.exception
    assert len(at.get("download_button")) == len(EXPORT_FORMATS)
