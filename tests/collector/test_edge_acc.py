"""The one edge accumulator: per-span counting at ingest, per-rollup summing in the topology, merging, freezing."""

from __future__ import annotations

from eventlens.collector import edge_acc, rollup
from eventlens.collector.analysis import topology
from eventlens.collector.edge_acc import N_BUCKETS, EdgeAcc, bucket_index
from eventlens.collector.model import LATENCY_BUCKETS_S, EdgeRollup

KEY = (60_000_000_000, "orders", "t", "g", "billing")


def _rollup(*, producer: str | None = "orders", count: int = 2, errors: int = 1, nbytes: int = 20,
            latency_sum_s: float = 0.5, buckets: tuple[int, ...] | None = None) -> EdgeRollup:
    hist = buckets if buckets is not None else (2,) + (0,) * (N_BUCKETS - 1)
    return EdgeRollup(0, producer, "t", "g", "billing", count, errors, nbytes, latency_sum_s, hist)


def test_ingest_and_topology_use_the_same_class() -> None:
    """rollup (ingest) and analysis.topology (window sums) both accumulate with edge_acc.EdgeAcc."""
    assert rollup.EdgeAcc is edge_acc.EdgeAcc
    assert topology.EdgeAcc is edge_acc.EdgeAcc


def test_add_counts_n_messages_with_their_latency() -> None:
    """add(n=3) counts three messages, three errors, the bytes once and the latency three times."""
    acc = EdgeAcc()
    acc.add(True, 30, 0.02, 3)
    assert (acc.count, acc.errors, acc.bytes, acc.latency_sum_s) == (3, 3, 30, 0.06)
    assert acc.buckets[bucket_index(0.02)] == 3 and sum(acc.buckets) == 3


def test_add_without_latency_leaves_the_histogram_empty() -> None:
    """A partial consumption (producer unknown) has no latency: counted, but not in the histogram."""
    acc = EdgeAcc()
    acc.add(False, None, None)
    assert (acc.count, acc.errors, acc.bytes, sum(acc.buckets)) == (1, 0, 0, 0)


def test_add_clamps_a_negative_latency_to_zero() -> None:
    """Clock skew can make consume time precede produce start: counted as zero latency, in the first bucket."""
    acc = EdgeAcc()
    acc.add(False, None, -1.0)
    assert acc.latency_sum_s == 0.0 and acc.buckets[0] == 1


def test_bucket_index_puts_each_bound_in_its_own_bucket_and_beyond_in_overflow() -> None:
    """Bounds are inclusive upper bounds; past the last bound is the overflow bucket."""
    assert [bucket_index(b) for b in LATENCY_BUCKETS_S] == list(range(len(LATENCY_BUCKETS_S)))
    assert bucket_index(LATENCY_BUCKETS_S[-1] * 2) == N_BUCKETS - 1


def test_add_rollup_sums_a_stored_rollup() -> None:
    """Counts, errors, bytes, latency sum and buckets of a rollup add up; a paired rollup is not partial."""
    acc = EdgeAcc()
    acc.add_rollup(_rollup())
    acc.add_rollup(_rollup())
    assert (acc.count, acc.errors, acc.bytes, acc.latency_sum_s, acc.buckets[0]) == (4, 2, 40, 1.0, 4)
    assert not acc.partial


def test_add_rollup_without_producer_makes_the_edge_partial() -> None:
    """A rollup whose producer span was never seen flags the accumulated edge partial."""
    acc = EdgeAcc()
    acc.add_rollup(_rollup(producer=None))
    assert acc.partial


def test_add_rollup_ignores_negative_counts_and_folds_a_long_histogram_into_overflow() -> None:
    """A bad row (negative counts, one bucket too many) neither subtracts nor loses messages."""
    acc = EdgeAcc()
    acc.add_rollup(_rollup(count=-5, errors=-1, nbytes=-9, buckets=(0,) * N_BUCKETS + (7,)))
    assert (acc.count, acc.errors, acc.bytes) == (0, 0, 0)
    assert len(acc.buckets) == N_BUCKETS and acc.buckets[-1] == 7


def test_merge_sums_counts_and_histograms_and_keeps_partial() -> None:
    """merge adds another accumulator in; whether the edge is partial stays the caller's decision."""
    left, right = EdgeAcc(), EdgeAcc()
    left.add(False, 10, 0.02)
    right.add(True, 5, 4.0, 2)
    right.partial = True
    left.merge(right)
    assert (left.count, left.errors, left.bytes, left.latency_sum_s) == (3, 2, 15, 8.02)
    assert left.buckets[bucket_index(0.02)] == 1 and left.buckets[bucket_index(4.0)] == 2
    assert not left.partial


def test_freeze_is_the_rollup_under_its_key() -> None:
    """freeze turns the accumulator into the model's EdgeRollup for (minute, producer, topic, group, consumer)."""
    acc = EdgeAcc()
    acc.add(False, 7, 0.02)
    assert acc.freeze(KEY) == EdgeRollup(*KEY, 1, 0, 7, 0.02, tuple(acc.buckets))
