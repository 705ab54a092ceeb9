"""Lag in seconds by interpolation: a per-partition table of (end offset, observed time) points.

The fallback when the exact timestamp of the first unconsumed record could not be read within a cycle's
budget (as Kafka Lag Exporter does it): the record at offset `o` was appended when the end offset went from
`o` to `o + 1`, so its produce time lies between the two table points around `o + 1`. Pure; no Kafka here.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field

from eventlens.collector.model import NS_PER_S

DEFAULT_TABLE_SIZE = 60


@dataclass(frozen=True, slots=True)
class Point:
    """The end offset of a partition as observed at one time."""

    end_offset: int
    observed_at_ns: int


@dataclass(slots=True)
class OffsetTimeTable:
    """The last `size` (end offset, time) points of one partition, offsets and times non-decreasing."""

    size: int = DEFAULT_TABLE_SIZE
    points: deque[Point] = field(default_factory=deque)

    def add(self, end_offset: int, observed_at_ns: int) -> None:
        """Record an observation; an end offset that went back (topic recreated) restarts the table."""
        if self.points and end_offset < self.points[-1].end_offset:
            self.points.clear()
        if self.points and self.points[-1].end_offset == end_offset and len(self.points) > 1 \
                and self.points[-2].end_offset == end_offset:
            # A flat run keeps only its first and last points: when the offset was reached and that it held.
            self.points.pop()
        self.points.append(Point(end_offset, observed_at_ns))
        while len(self.points) > self.size:
            self.points.popleft()

    def produce_time_ns(self, offset: int) -> int | None:
        """Estimated append time of the record at `offset`, or None when the table cannot say (< 2 points)."""
        return estimate_append_ns(list(self.points), offset)


def estimate_append_ns(points: list[Point], offset: int) -> int | None:
    """Interpolate (or extrapolate backwards) when the end offset passed `offset + 1`.

    None with fewer than two points or when the partition has not reached `offset + 1` yet.
    """
    target = offset + 1
    if len(points) < 2 or points[-1].end_offset < target:
        return None
    for before, after in itertools.pairwise(points):
        if before.end_offset < target <= after.end_offset:
            elapsed = after.observed_at_ns - before.observed_at_ns
            return before.observed_at_ns + (target - before.end_offset) * elapsed // (
                after.end_offset - before.end_offset)
    first, last = points[0], points[-1]
    span = last.observed_at_ns - first.observed_at_ns
    if last.end_offset == first.end_offset or span <= 0:
        return first.observed_at_ns  # appended before the table begins: at least this old
    # Integer arithmetic: nanosecond times would lose precision as floats.
    return first.observed_at_ns - (first.end_offset - target) * span // (last.end_offset - first.end_offset)


def lag_seconds(now_ns: int, appended_ns: int) -> float:
    """Seconds from a record's append (or produce) time to now, never negative (clock skew)."""
    return max(0.0, (now_ns - appended_ns) / NS_PER_S)
