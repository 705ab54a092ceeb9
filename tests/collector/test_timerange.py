"""The one window and time-range grammar (collector/timerange.py), as tables: what each form means, what is refused."""

from __future__ import annotations

import pytest

from eventlens.collector import timerange
from eventlens.collector.params import INT64_MIN, MAX_SECONDS, NS_PER_S, BadQuery

NOW = 1_764_860_400 * NS_PER_S  # 2025-12-04T15:00:00Z
S = NS_PER_S


@pytest.mark.parametrize(("text", "ns"), [
    ("500ms", 500_000_000),
    ("30s", 30 * S),
    ("15m", 15 * 60 * S),
    ("2h", 2 * 3600 * S),
    ("7d", 7 * 86400 * S),
    ("1w", 7 * 86400 * S),
    ("600", 600 * S),            # a bare number is seconds (the lag API's `window=600`)
    ("0.5", S // 2),
    ("1.5h", 5400 * S),
    ("1e3", 1000 * S),           # what float() accepted for the lag API
    (" 15 m ", 15 * 60 * S),     # the analysis API allowed spaces
    ("+60", 60 * S),
    (".5s", S // 2),
])
def test_a_duration_reads_as_its_nanoseconds(text: str, ns: int) -> None:
    """Each accepted spelling of a duration and its length."""
    assert timerange.parse_duration(text) == ns


@pytest.mark.parametrize("text", [
    "", "soon", "15x", "m", "-5m", "-1", "0", "0s", "inf", "nan", "1e400", "9" * 400 + "w", "99999999999d",
    str(MAX_SECONDS + 1), "15 minutes", "1h30m",
])
def test_a_malformed_or_out_of_range_duration_is_a_bad_query_naming_the_parameter(text: str) -> None:
    """Garbage, zero, negative, infinite, NaN and longer than int64 nanoseconds: BadQuery naming `since`."""
    with pytest.raises(BadQuery, match="since"):
        timerange.parse_duration(text, "since")


@pytest.mark.parametrize(("text", "ns"), [
    ("2025-12-04T15:00:00Z", NOW),
    ("2025-12-04T15:00:00+00:00", NOW),
    ("2025-12-04T16:00:00+01:00", NOW),
    ("2025-12-04T15:00:00", NOW),              # no offset: UTC
    ("2025-12-04T15:00:00.250Z", NOW + 250_000_000),
    ("2025-12-04", NOW - 15 * 3600 * S),
    ("1764860400000", NOW),                    # epoch milliseconds
    ("0", 0),
])
def test_an_instant_reads_as_epoch_nanoseconds(text: str, ns: int) -> None:
    """ISO-8601 (UTC unless it says otherwise) and epoch milliseconds."""
    assert timerange.parse_instant(text) == ns


@pytest.mark.parametrize("text", ["yesterday", "2025-13-01", "1.5", "9" * 20, "nan"])
def test_a_malformed_or_out_of_range_instant_is_a_bad_query(text: str) -> None:
    """Not ISO-8601, not integer milliseconds, or beyond int64 nanoseconds: BadQuery naming `to`."""
    with pytest.raises(BadQuery, match="to"):
        timerange.parse_instant(text, "to")


@pytest.mark.parametrize(("query", "start", "end"), [
    ({}, NOW - 15 * 60 * S, NOW),                                              # the caller's default window
    ({"window": "2h"}, NOW - 7200 * S, NOW),
    ({"window": "600"}, NOW - 600 * S, NOW),
    ({"start_ns": "10", "end_ns": "20"}, 10, 20),                              # the older nanosecond form
    ({"start_ns": "10"}, 10, NOW),
    ({"end_ns": str(NOW - 60 * S)}, NOW - 16 * 60 * S, NOW - 60 * S),          # window back from the end
    ({"from": "2025-12-04T14:00:00Z"}, NOW - 3600 * S, NOW),
    ({"from": "1764856800000", "to": "1764858600000"}, NOW - 3600 * S, NOW - 1800 * S),
    ({"window": "1h", "to": "2025-12-04T14:00:00Z"}, NOW - 7200 * S, NOW - 3600 * S),
    ({"from": "1764856800000", "window": "5m"}, NOW - 3600 * S, NOW),          # a start makes the window moot
    ({"window": ""}, NOW - 15 * 60 * S, NOW),                                  # empty means absent
])
def test_a_query_resolves_to_its_half_open_range(query: dict[str, str], start: int, end: int) -> None:
    """`from`/`start_ns` .. `to`/`end_ns` (default now), else `window` back from the end."""
    assert timerange.resolve(query, NOW) == timerange.TimeRange(start, end)


@pytest.mark.parametrize(("query", "reason"), [
    ({"from": "1", "start_ns": "1"}, "not both"),
    ({"to": "1", "end_ns": "1"}, "not both"),
    ({"start_ns": "20", "end_ns": "10"}, "before"),
    ({"from": "2025-12-04T15:00:00Z"}, "before"),                              # empty range: start == end
    ({"window": "soon"}, "window"),
    ({"start_ns": "nan"}, "start_ns"),
    ({"end_ns": str(1 << 63)}, "end_ns"),
    ({"end_ns": str(INT64_MIN + 1), "window": "1h"}, "earliest"),
])
def test_a_contradictory_or_malformed_query_is_a_bad_query_saying_why(query: dict[str, str], reason: str) -> None:
    """Both spellings of one end, an empty or reversed range, or a malformed part: BadQuery with the reason."""
    with pytest.raises(BadQuery, match=reason):
        timerange.resolve(query, NOW)


def test_an_older_window_name_is_read_when_the_caller_lists_it() -> None:
    """The lag history's `since` reads like `window`; the first name listed that is present wins."""
    assert timerange.resolve({"since": "1h"}, NOW, window_names=("since", "window")).start_ns == NOW - 3600 * S
    assert timerange.resolve({"since": "1h", "window": "2h"}, NOW,
                             window_names=("since", "window")).start_ns == NOW - 3600 * S


def test_last_is_the_window_ending_now_and_has_its_length_in_minutes() -> None:
    """What a CLI's `--window 15m` means; `minutes` feeds per-minute rates."""
    found = timerange.last(NOW, "15m")
    assert (found.start_ns, found.end_ns, found.length_ns, found.minutes) == (NOW - 900 * S, NOW, 900 * S, 15.0)


@pytest.mark.parametrize(("query", "bounds"), [
    ({}, (None, None)),                                                        # no filter at all
    ({"start_ns": "10"}, (10, None)),
    ({"to": "1764860400000"}, (None, NOW)),
    ({"window": "1h"}, (NOW - 3600 * S, None)),                                # back from now, end left open
    ({"window": "1h", "end_ns": "7200000000000"}, (3600 * S, 7200 * S)),
    ({"start_ns": "20", "end_ns": "10"}, (20, 10)),                            # empty, not refused
])
def test_an_optional_range_bounds_only_what_the_query_names(query: dict[str, str],
                                                           bounds: tuple[int | None, int | None]) -> None:
    """A filter such as /api/spans' time bounds stays open on any side the query leaves out."""
    assert timerange.optional_range(query, NOW) == bounds
