"""Dashboard configuration from the environment, and the time arithmetic pages share (pure, no Streamlit).

`eventlens dashboard` passes its options to the Streamlit process through these variables, so the app
reads its configuration in one place whether it was started by the CLI or by `streamlit run`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

from eventlens.collector import defaults
from eventlens.collector.model import NS_PER_S
from eventlens.collector.params import BadQuery
from eventlens.collector.timerange import TimeRange, parse_duration

STORE_ENV = defaults.STORE_ENV
"""Store URL the dashboard reads (`sqlite:///path.db` or `postgresql://…`); the collector's variable too."""
DEFAULT_STORE = defaults.DEFAULT_STORE_URL
REFRESH_ENV = "EVENTLENS_DASHBOARD_REFRESH"
"""Default live-refresh interval in seconds; 0 turns live refresh off (users can change it in the sidebar)."""
DEFAULT_REFRESH_S = 10.0
DEPRECATIONS_ENV = "EVENTLENS_DEPRECATIONS"
"""Optional path of a deprecations YAML file (the analysis part's format) the Schemas page checks."""
REFRESH_CHOICES_S: tuple[float, ...] = (0.0, 2.0, 5.0, 10.0, 30.0, 60.0)
"""Intervals offered in the sidebar (seconds; 0 = off)."""

TICK_NS = 2 * NS_PER_S
"""Granularity of window ends: windows computed within one tick are equal (and share cached exports)."""
CACHE_TTL_S = 30.0
"""How long a lookup (a lineage, a span, an export) stays cached."""
LIVE_TTL_S = 2.0
"""Age after which a live view (last N minutes) is recomputed in the background on its next use."""
BACKGROUND_REFRESH_MULTIPLIER = 31
"""Streamlit's `runner.cacheBackgroundRefreshTTLMultiplier` set by `eventlens dashboard`: a live result is
served (while it recomputes) until it is this many `LIVE_TTL_S` old, i.e. for every refresh interval offered."""

WINDOW_CHOICES: dict[str, str] = {
    "5 min": "5m", "15 min": "15m", "1 h": "1h", "6 h": "6h", "24 h": "24h", "7 days": "7d",
}
"""Time windows offered by the pages' window selectors, label → duration in the collector's grammar
(`collector.timerange`, the same as `--window` and `?window=`)."""
WINDOWS: dict[str, int] = {label: parse_duration(text) for label, text in WINDOW_CHOICES.items()}
"""The same windows, label → length in nanoseconds."""
DEFAULT_WINDOW = "1 h"



def window_label(text: str | None) -> str:
    """The offered window a `?window=` duration names (`24h`, `1d`, `86400` → "24 h"), else the default."""
    try:
        length = parse_duration(text) if text else None
    except BadQuery:
        return DEFAULT_WINDOW
    return next((label for label, ns in WINDOWS.items() if ns == length), DEFAULT_WINDOW)


Window = TimeRange
"""A half-open time window [start_ns, end_ns) in nanoseconds since the epoch (the collector's `TimeRange`)."""


def store_url(environ: Mapping[str, str] = os.environ) -> str:
    """The store URL from `EVENTLENS_STORE`, else the collector's default SQLite file."""
    return defaults.store_url(None, environ)


def refresh_seconds(environ: Mapping[str, str] = os.environ) -> float:
    """The default live-refresh interval (seconds, 0 = off); an unreadable or negative value gives the default."""
    raw = environ.get(REFRESH_ENV, "").strip()
    if not raw:
        return DEFAULT_REFRESH_S
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_REFRESH_S
    return value if math.isfinite(value) and value >= 0 else DEFAULT_REFRESH_S


def deprecations_path(environ: Mapping[str, str] = os.environ) -> str | None:
    """The deprecations file named by `EVENTLENS_DEPRECATIONS`, or None."""
    return environ.get(DEPRECATIONS_ENV, "").strip() or None


def missing_sqlite_file(url: str) -> Path | None:
    """The file a `sqlite:` URL (or plain path) names when it does not exist yet, else None.

    The dashboard only reads: it tells the user to start the collector instead of creating an empty store.
    """
    if url.startswith(("postgresql://", "postgres://")):
        return None
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url.removeprefix("sqlite://")
    if path in ("", ":memory:"):
        return None
    candidate = Path(path)
    return None if candidate.exists() else candidate


def tick(now_ns: int, tick_ns: int = TICK_NS) -> int:
    """`now` rounded up to the next tick boundary, so cache keys change once per tick, not per call."""
    return -(-now_ns // tick_ns) * tick_ns


def window(now_ns: int, length_ns: int, tick_ns: int = TICK_NS) -> Window:
    """The window of `length_ns` ending at the tick after `now_ns`."""
    end = tick(now_ns, tick_ns)
    return Window(start_ns=end - length_ns, end_ns=end)


def redact_url(url: str) -> str:
    """The store URL safe to show: a password in `scheme://user:password@host` is replaced by `***`."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user, colon, _ = creds.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{host}"
