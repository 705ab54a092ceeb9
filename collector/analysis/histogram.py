"""The one latency quantile rule: percentiles interpolated inside the rollups' fixed buckets (as Prometheus'
histogram_quantile); topology, exports and the dashboard all read their p50/p95/p99 from here."""

from __future__ import annotations

import operator
from collections.abc import Sequence

from eventlens.collector.model import LATENCY_BUCKETS_S, LatencySummary


def add_into(total: list[int], hist: Sequence[int]) -> list[int]:
    """`total` plus one histogram, bucket by bucket; a histogram of another length (bad row) is padded or
    folded into the overflow bucket, negative counts ignored."""
    if len(hist) == len(total) and min(hist, default=0) >= 0:
        return list(map(operator.add, total, hist))
    out = list(total)
    for i, count in enumerate(hist):
        out[min(i, len(out) - 1)] += max(0, int(count))
    return out


def quantile(buckets: Sequence[int], q: float, bounds: Sequence[float] = LATENCY_BUCKETS_S) -> float | None:
    """The q-quantile (0..1) by linear interpolation inside the bucket holding it; None for an empty histogram.

    A quantile falling into the overflow bucket is reported as the highest finite bound (a lower bound).
    """
    total = sum(buckets)
    if total <= 0:
        return None
    rank = q * total
    cumulative = 0
    for i, count in enumerate(buckets):
        if count <= 0:
            continue
        if cumulative + count >= rank:
            if i >= len(bounds):
                return float(bounds[-1])
            lower = 0.0 if i == 0 else float(bounds[i - 1])
            upper = float(bounds[i])
            return lower + (upper - lower) * max(0.0, rank - cumulative) / count
        cumulative += count
    return float(bounds[-1])


def summarize(buckets: Sequence[int], latency_sum_s: float) -> LatencySummary:
    """Count, mean and p50/p95/p99 of one merged histogram."""
    count = sum(buckets)
    if count <= 0:
        return LatencySummary()
    return LatencySummary(
        count=count,
        mean_s=latency_sum_s / count,
        p50_s=quantile(buckets, 0.50),
        p95_s=quantile(buckets, 0.95),
        p99_s=quantile(buckets, 0.99),
    )
