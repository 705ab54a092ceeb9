"""Query-parameter parsing shared by every `/api` route: a malformed value is a `BadQuery` (answered 400 with the
reason), never an OverflowError or a 500.

Integers must fit a signed 64-bit column (what both stores hold); durations (`timerange`) must be finite,
positive and at most `MAX_SECONDS` (about 292 years), so a window converted to nanoseconds still fits int64.
"""

from __future__ import annotations

import re

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
NS_PER_S = 1_000_000_000
MAX_SECONDS = INT64_MAX // NS_PER_S
"""The longest window or look-back any route accepts: its nanoseconds fit int64 (about 292 years)."""
_INT = re.compile(r"^\s*[+-]?\d{1,30}\s*$")


class BadQuery(ValueError):
    """A query parameter is malformed or out of range; the message names it and says why (answered 400)."""


def int64(name: str, raw: str | None, *, low: int = INT64_MIN, high: int = INT64_MAX) -> int | None:
    """`raw` as an integer in [low, high] (None when absent or empty)."""
    if raw is None or raw == "":
        return None
    if not _INT.match(raw):
        raise BadQuery(f"query parameter {name}={raw[:40]!r} is not an integer")
    value = int(raw)
    if not low <= value <= high:
        raise BadQuery(f"query parameter {name}={raw[:40]!r} is out of range ({low}..{high})")
    return value


def clamp(value: int | None, default: int, high: int) -> int:
    """`value` (the default when None) clamped to [1, high]."""
    return max(1, min(default if value is None else value, high))


def window_start(end_ns: int, length_ns: int) -> int:
    """`end_ns - length_ns`, refused when it leaves int64."""
    start = end_ns - length_ns
    if start < INT64_MIN:
        raise BadQuery("the window reaches before the earliest representable time")
    return start
