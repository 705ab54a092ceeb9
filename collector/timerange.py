"""The one window and time-range grammar of the HTTP API, the CLIs and the dashboard (pure; `now` passed in).

A *duration* is a number and an optional unit: `500ms`, `30s`, `15m`, `2h`, `7d`, `1w`; a bare number is seconds
(`600`, `0.5`, `1e3`). It must be finite, positive and at most `params.MAX_SECONDS` (its nanoseconds fit int64).

A *time range* is half-open `[start, end)` in nanoseconds since the epoch:
- `from` / `to`: an instant, ISO-8601 (`2026-12-04T15:00:00Z`; no offset means UTC) or epoch milliseconds;
- `start_ns` / `end_ns`: epoch nanoseconds (older form, still accepted);
- `window`: a duration back from the end (default per caller); ignored when a start is given;
- the end defaults to now. docs/collector.md "Windows and time ranges" is the user's description.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from eventlens.collector.params import INT64_MAX, INT64_MIN, MAX_SECONDS, NS_PER_S, BadQuery, int64, window_start

UNIT_NS: dict[str, int] = {"ms": 1_000_000, "s": NS_PER_S, "m": 60 * NS_PER_S, "h": 3600 * NS_PER_S,
                           "d": 86400 * NS_PER_S, "w": 7 * 86400 * NS_PER_S}
"""Duration units and their nanoseconds; a number without a unit is seconds."""
_DURATION = re.compile(r"^\s*\+?((?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_EPOCH_MS = re.compile(r"^\s*[+-]?\d{1,30}\s*$")
EXAMPLES = "500ms, 30s, 15m, 2h, 7d (a bare number is seconds)"
START_NAMES = ("from", "start_ns")
END_NAMES = ("to", "end_ns")


@dataclass(frozen=True, slots=True)
class TimeRange:
    """A half-open time range [start_ns, end_ns) in nanoseconds since the epoch."""

    start_ns: int
    end_ns: int

    @property
    def length_ns(self) -> int:
        """Length of the range in nanoseconds."""
        return self.end_ns - self.start_ns

    @property
    def minutes(self) -> float:
        """Length of the range in minutes (for per-minute rates)."""
        return self.length_ns / (60 * NS_PER_S)


def parse_duration(text: str, name: str = "window") -> int:
    """Nanoseconds of a duration such as `15m` or `600`; `BadQuery` naming `name` when malformed or out of range."""
    match = _DURATION.match(text)
    if match is None:
        raise BadQuery(f"{name}={text[:40]!r} is not a duration like {EXAMPLES}")
    number, unit = float(match.group(1)), match.group(2) or "s"
    seconds = number * UNIT_NS[unit] / NS_PER_S
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_SECONDS:
        raise BadQuery(f"{name}={text[:40]!r} must be positive and at most {MAX_SECONDS} s")
    return int(seconds * NS_PER_S)


def parse_instant(text: str, name: str = "from") -> int:
    """Epoch nanoseconds of an ISO-8601 instant (UTC when it has no offset) or of integer epoch milliseconds."""
    if _EPOCH_MS.match(text):
        value = int(text) * 1_000_000
    else:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError as exc:
            raise BadQuery(f"{name}={text[:40]!r} is neither ISO-8601 (2026-12-04T15:00:00Z) "
                           "nor epoch milliseconds") from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
        value = (delta.days * 86400 + delta.seconds) * NS_PER_S + delta.microseconds * 1000
    if not INT64_MIN <= value <= INT64_MAX:
        raise BadQuery(f"{name}={text[:40]!r} is out of range for nanoseconds since the epoch")
    return value


def _instant(query: Mapping[str, str], names: tuple[str, str]) -> int | None:
    iso_name, ns_name = names
    iso, ns = query.get(iso_name) or None, query.get(ns_name) or None
    if iso is not None and ns is not None:
        raise BadQuery(f"give {iso_name} or {ns_name}, not both")
    if iso is not None:
        return parse_instant(iso, iso_name)
    return int64(ns_name, ns)


def resolve(query: Mapping[str, str], now_ns: int, *, default_window: str = "15m",
            window_names: tuple[str, ...] = ("window",)) -> TimeRange:
    """The range a query names: `from`/`start_ns` .. `to`/`end_ns` (default now), else `window` back from the end.

    `window_names` lists the accepted spellings of the duration (the first present wins), so an older name such
    as the lag history's `since` keeps working.
    """
    end = _instant(query, END_NAMES)
    end = now_ns if end is None else end
    start = _instant(query, START_NAMES)
    if start is None:
        name, text = next(((n, query[n]) for n in window_names if query.get(n)), (window_names[0], default_window))
        start = window_start(end, parse_duration(text, name))
    if start >= end:
        raise BadQuery("the range's start must be before its end (from/start_ns before to/end_ns)")
    return TimeRange(start, end)


def optional_range(query: Mapping[str, str], now_ns: int) -> tuple[int | None, int | None]:
    """(start, end) for a filter that may be open at either side: None where the query bounds nothing.

    `window` bounds the start (back from the end, or from now); without it, no start means no lower bound.
    An empty range is not refused: it matches nothing (what `/api/spans` always did).
    """
    end = _instant(query, END_NAMES)
    start = _instant(query, START_NAMES)
    if start is None and query.get("window"):
        start = resolve(query, now_ns).start_ns
    return start, end


def last(now_ns: int, window: str) -> TimeRange:
    """The range of `window` (a duration) ending at `now_ns`: what a CLI's `--window` means."""
    return resolve({"window": window}, now_ns)
