"""Lag in seconds by interpolation over (end offset, time) points, when exact reads are out of budget."""

from __future__ import annotations

from eventlens.collector.lag.interpolate import OffsetTimeTable, Point, estimate_append_ns, lag_seconds
from eventlens.collector.model import NS_PER_S

S = NS_PER_S


def test_interpolates_between_the_points_around_the_record() -> None:
    """Offset 14 was appended when the end went from 14 to 15: a quarter of the way from 10 (t=0) to 30 (t=40)."""
    points = [Point(10, 0), Point(30, 40 * S)]
    assert estimate_append_ns(points, 14) == 10 * S


def test_extrapolates_backwards_before_the_first_point() -> None:
    """At 1 record/s, offset 5 (end passing 6) was appended 4 s before the end was seen at 10."""
    assert estimate_append_ns([Point(10, 100 * S), Point(20, 110 * S)], 5) == 96 * S


def test_flat_table_gives_the_first_time_as_a_lower_bound() -> None:
    """On an idle partition the record is at least as old as the first observation."""
    assert estimate_append_ns([Point(10, 100 * S), Point(10, 200 * S)], 5) == 100 * S


def test_unknown_with_one_point_or_an_offset_not_yet_reached() -> None:
    """One point cannot give a rate, and a record not yet appended has no time."""
    assert estimate_append_ns([Point(10, 0)], 5) is None
    assert estimate_append_ns([Point(10, 0), Point(20, S)], 20) is None


def test_table_keeps_only_the_ends_of_a_flat_run_and_its_size() -> None:
    """A flat run keeps when the offset was reached and when it was last seen; the size is bounded."""
    table = OffsetTimeTable(size=3)
    for t, end in enumerate([5, 10, 10, 10, 10]):
        table.add(end, t * S)
    assert list(table.points) == [Point(5, 0), Point(10, S), Point(10, 4 * S)]
    table.add(11, 5 * S)
    assert len(table.points) == 3 and table.points[0] == Point(10, S)


def test_end_offset_going_back_restarts_the_table() -> None:
    """A recreated topic (end offset lower than before) must not mix old and new points."""
    table = OffsetTimeTable()
    table.add(100, 0)
    table.add(3, S)
    assert list(table.points) == [Point(3, S)]


def test_lag_seconds_never_negative() -> None:
    """A timestamp in the future (producer clock ahead) counts as no lag."""
    assert lag_seconds(10 * S, 12 * S) == 0.0
    assert lag_seconds(12 * S, 10 * S) == 2.0
