"""Streamlit building blocks every page shares: the store check, empty states, the window picker, live refresh.

Untrusted text (names, attribute values, error messages from a store) is only ever shown through
`st.text`, `st.code`, `st.dataframe`, charts, or after `escape_md`; never as HTML.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import streamlit as st

from eventlens.dashboard import data, settings

REFRESH_KEY = "refresh_s"
"""Session-state key of the live-refresh interval chosen in the sidebar (seconds, 0 = off)."""

INSTRUMENT_HINT = (
    "import eventlens.instrumentation\n"
    'eventlens.instrumentation.instrument(service_name="orders")  # then produce/consume with kafka-python\n'
)
COLLECTOR_HINT = "eventlens collector --store {url}\nexport OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318"

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>$:&])")


def escape_md(text: str) -> str:
    """`text` with every Markdown/HTML-significant character backslash-escaped, for use inside st.markdown."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def now_ns() -> int:
    """The wall clock in nanoseconds (the one place pages read time)."""
    return time.time_ns()


def store_url_or_stop() -> str:
    """The configured store URL; when it cannot be used, shows why and what to do, then stops the page."""
    url = settings.store_url()
    missing = settings.missing_sqlite_file(url)
    if missing is not None:
        st.info("No eventlens store here yet. Start the collector so instrumented services have somewhere to "
                "send spans, then reload this page.")
        st.code(COLLECTOR_HINT.format(url=url), language="bash")
        st.caption("Looking for the SQLite file:")
        st.text(str(missing))
        st.stop()
    try:
        data.span_count(url)
    except Exception as exc:  # any backend error: show it as text, never crash the page
        st.error("The store could not be read.")
        st.text(f"{settings.redact_url(url)}\n{type(exc).__name__}: {exc}")
        st.stop()
    return url


def empty_state(message: str, next_step: str | None = None, code: str | None = None) -> None:
    """A friendly empty state: what is missing (`message`, our own text), what to do, and a command to run."""
    st.info(message)
    if next_step:
        st.caption(next_step)
    if code:
        st.code(code, language="python" if "import" in code else "bash")


def no_spans_yet() -> None:
    """The empty state of a store without spans: instrument a service and point it at the collector."""
    empty_state(
        "No spans yet: instrument a service with `eventlens.instrumentation.instrument()` and point it at the "
        "collector.",
        "Spans arrive over OTLP (HTTP port 4318 by default); this page refreshes on its own.",
        INSTRUMENT_HINT,
    )


def window_picker(key: str, container: Any = st) -> int:
    """A time-window selector (kept in session state under `key`; a `?window=24h` URL picks the first choice);
    returns the window length in ns."""
    labels = list(settings.WINDOWS)
    first = settings.window_label(st.query_params.get("window"))
    label = container.selectbox("Time window", labels, index=labels.index(first), key=key)
    return settings.WINDOWS[label or settings.DEFAULT_WINDOW]


def window(length_ns: int) -> settings.Window:
    """The window of `length_ns` ending now (call inside the live fragment so it slides with each refresh)."""
    return settings.window(now_ns(), length_ns)


def refresh_interval() -> float | None:
    """The live-refresh interval chosen in the sidebar, or None when live refresh is off."""
    value = st.session_state.get(REFRESH_KEY, settings.refresh_seconds())
    return float(value) if value else None


def live(render: Callable[[], None]) -> None:
    """Run `render` as a fragment that reruns on its own every refresh interval; widgets outside it (and
    their values) are untouched, so the user's selections survive each refresh."""
    st.fragment(render, run_every=refresh_interval())()


def sidebar() -> None:
    """The sidebar every page shares: which store, the live-refresh interval, and a refresh-now button."""
    with st.sidebar:
        st.caption("Store")
        st.text(settings.redact_url(settings.store_url()))
        choices = sorted({*settings.REFRESH_CHOICES_S, settings.refresh_seconds()})
        if REFRESH_KEY not in st.session_state:
            st.session_state[REFRESH_KEY] = settings.refresh_seconds()
        st.selectbox("Live refresh", choices, key=REFRESH_KEY,
                     format_func=lambda s: "off" if not s else f"every {s:g} s")
        if st.button("Refresh now", icon=":material/refresh:"):
            data.clear_caches()
