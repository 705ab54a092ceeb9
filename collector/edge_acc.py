"""The one edge accumulator: messages, errors, bytes and the latency histogram of an edge, summed per span at
ingest (`rollup`) and per stored rollup over a window (`analysis.topology`). Pure, no I/O."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from eventlens.collector.analysis.histogram import add_into
from eventlens.collector.model import LATENCY_BUCKETS_S, N_LATENCY_BUCKETS, EdgeRollup

N_BUCKETS = N_LATENCY_BUCKETS


def bucket_index(latency_s: float) -> int:
    """Index of the latency bucket: the first bound ≥ the latency, or the overflow bucket."""
    return bisect.bisect_left(LATENCY_BUCKETS_S, latency_s)


def _empty_buckets() -> list[int]:
    return [0] * N_BUCKETS


@dataclass(slots=True)
class EdgeAcc:
    """Mutable accumulator of one edge (an edge minute at ingest, a whole window in the topology).

    `partial` is set by `add_rollup` when a rollup has no producer; `merge` leaves it to the caller.
    """

    count: int = 0
    errors: int = 0
    bytes: int = 0
    latency_sum_s: float = 0.0
    buckets: list[int] = field(default_factory=_empty_buckets)
    partial: bool = False

    def add(self, error: bool, nbytes: int | None, latency_s: float | None, n: int = 1) -> None:
        """Count `n` messages (latency, when given, for each); positional, as it runs for every span."""
        self.count += n
        if error:
            self.errors += n
        if nbytes:
            self.bytes += nbytes
        if latency_s is not None:
            latency_s = max(latency_s, 0.0)
            self.latency_sum_s += latency_s * n
            self.buckets[bucket_index(latency_s)] += n

    def add_rollup(self, r: EdgeRollup) -> None:
        """Sum one stored rollup in: negative counts (a bad row) ignored, a histogram of another length folded
        (see `histogram.add_into`); a rollup without a producer makes the edge partial."""
        self.count += max(0, r.count)
        self.errors += max(0, r.errors)
        self.bytes += max(0, r.bytes)
        self.latency_sum_s += r.latency_sum_s
        if r.latency_buckets:
            self.buckets = add_into(self.buckets, r.latency_buckets)
        if r.producer is None:
            self.partial = True

    def merge(self, other: EdgeAcc) -> None:
        """Sum another accumulator's counts and histogram in (`partial` unchanged)."""
        self.count += other.count
        self.errors += other.errors
        self.bytes += other.bytes
        self.latency_sum_s += other.latency_sum_s
        self.buckets = add_into(self.buckets, other.buckets)

    def freeze(self, key: tuple[int, str | None, str, str | None, str | None]) -> EdgeRollup:
        """The model object for this accumulator under (minute, producer, topic, consumer group, consumer)."""
        minute, producer, topic, group, consumer = key
        return EdgeRollup(minute, producer, topic, group, consumer, self.count, self.errors, self.bytes,
                          self.latency_sum_s, tuple(self.buckets))
