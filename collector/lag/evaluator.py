"""Burrow-style consumer health from a window of lag samples: pure functions, `now_ns` passed in.

Like Burrow's evaluator (no Kafka, no storage here), but with explicit thresholds (`Thresholds`) and its
known false alarms fixed: a consumer that is caught up is OK whatever its commit cadence, so an idle topic
(no new records) or a consumer that commits rarely is never STOP (linkedin/Burrow#38, #140, #195).
The rules are documented, with their reasons, in `docs/lag.md`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from eventlens.collector.model import NS_PER_S, GroupStatus, LagSample, LagStatus, PartitionStatus

NS_PER_MIN = 60 * NS_PER_S


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The evaluator's explicit thresholds (Burrow has none; its implicit ones cause false alarms).

    - `allowed_lag`: a partition whose latest lag (offsets) is at most this is caught up: OK.
    - `window_ns`: how much history a full judgement wants; `complete` is the part of it covered.
    - `stall_after_ns`: committed offset unchanged this long while lag > allowed → STALL.
    - `stop_after_ns`: committed offset unchanged this long while lag > allowed → STOP (presumed gone).
    - `warn_min_samples`: lag must have been seen not decreasing over at least this many samples to WARN.
    """

    allowed_lag: int = 0
    window_ns: int = 10 * NS_PER_MIN
    stall_after_ns: int = 2 * NS_PER_MIN
    stop_after_ns: int = 5 * NS_PER_MIN
    warn_min_samples: int = 3


DEFAULT_THRESHOLDS = Thresholds()


def sample_lag(sample: LagSample) -> int | None:
    """Lag in offsets of one sample (end − committed, never negative), or None without a committed offset."""
    if sample.committed_offset is None:
        return None
    return max(0, sample.end_offset - sample.committed_offset)


def _committed(samples: Sequence[LagSample]) -> list[LagSample]:
    """The samples that carry a committed offset, oldest first."""
    return sorted((s for s in samples if s.committed_offset is not None), key=lambda s: s.observed_at_ns)


def _is_rewound(samples: Sequence[LagSample]) -> bool:
    """The committed offset went backwards in the window and has not yet come back past where it was."""
    high = -1
    rewound_from: int | None = None
    for s in samples:
        offset = s.committed_offset if s.committed_offset is not None else -1
        if offset < high and rewound_from is None:
            rewound_from = high
        high = max(high, offset)
    last = samples[-1].committed_offset if samples else None
    return rewound_from is not None and last is not None and last < rewound_from


def _frozen_for_ns(samples: Sequence[LagSample], now_ns: int) -> int:
    """How long (ns, up to now) the committed offset has been at its latest value, as far as the window shows."""
    last = samples[-1].committed_offset
    since = samples[-1].observed_at_ns
    for s in reversed(samples):
        if s.committed_offset != last:
            break
        since = s.observed_at_ns
    return max(0, now_ns - since)


def _lagging_throughout(samples: Sequence[LagSample], allowed_lag: int, since_ns: int) -> bool:
    """Lag stayed above `allowed_lag` in every sample observed at or after `since_ns`."""
    return all((sample_lag(s) or 0) > allowed_lag for s in samples if s.observed_at_ns >= since_ns)


def _longest_move_gap_ns(samples: Sequence[LagSample]) -> int:
    """The longest time between two observed moves of the committed offset in the window (0 if < 2 moves)."""
    moves = [b.observed_at_ns for a, b in itertools.pairwise(samples)
             if a.committed_offset != b.committed_offset]
    return max((b - a for a, b in itertools.pairwise(moves)), default=0)


def _no_progress_for(samples: Sequence[LagSample], now_ns: int, th: Thresholds, after_ns: int) -> bool:
    """No progress for `after_ns` (or twice the consumer's own commit cadence if longer) with work to do."""
    frozen = _frozen_for_ns(samples, now_ns)
    limit = max(after_ns, 2 * _longest_move_gap_ns(samples))
    return frozen >= limit and _lagging_throughout(samples, th.allowed_lag, now_ns - frozen)


def _is_stopped(samples: Sequence[LagSample], now_ns: int, th: Thresholds) -> bool:
    """No progress for `stop_after_ns` while there was work to do: the consumer is presumed gone."""
    return _no_progress_for(samples, now_ns, th, th.stop_after_ns)


def _is_stalled(samples: Sequence[LagSample], now_ns: int, th: Thresholds) -> bool:
    """No progress for `stall_after_ns` while there was work to do (checked after STOP)."""
    return _no_progress_for(samples, now_ns, th, th.stall_after_ns)


def _lag_not_decreasing(samples: Sequence[LagSample], th: Thresholds) -> bool:
    """Lag never went down between consecutive samples and rose overall, over enough samples."""
    lags = [sample_lag(s) or 0 for s in samples]
    if len(lags) < th.warn_min_samples:
        return False
    return all(b >= a for a, b in itertools.pairwise(lags)) and lags[-1] > lags[0]


def time_to_drain_s(samples: Sequence[LagSample]) -> float | None:
    """Seconds until lag reaches zero at the window's consume and produce rates; 0 when caught up.

    None when it is not draining (consume rate not above produce rate) or there are too few samples.
    """
    rows = _committed(samples)
    if not rows:
        return None
    lag = sample_lag(rows[-1]) or 0
    if lag == 0:
        return 0.0
    first, last = rows[0], rows[-1]
    span_s = (last.observed_at_ns - first.observed_at_ns) / NS_PER_S
    if span_s <= 0 or first.committed_offset is None or last.committed_offset is None:
        return None
    consume_rate = (last.committed_offset - first.committed_offset) / span_s
    produce_rate = (last.end_offset - first.end_offset) / span_s
    drain_rate = consume_rate - produce_rate
    return lag / drain_rate if drain_rate > 0 else None


_Rule = Callable[[Sequence[LagSample], int, Thresholds], bool]

# Checked in order of severity once a partition is behind; the first that holds decides.
_RULES: tuple[tuple[LagStatus, _Rule], ...] = (
    (LagStatus.REWIND, lambda s, now, th: _is_rewound(s)),
    (LagStatus.STOP, _is_stopped),
    (LagStatus.STALL, _is_stalled),
    (LagStatus.WARN, lambda s, now, th: _lag_not_decreasing(s, th)),
)


def _status(samples: Sequence[LagSample], now_ns: int, th: Thresholds) -> LagStatus:
    """The partition status from its committed samples (oldest first), rules in order of severity."""
    if not samples:
        return LagStatus.NOTFOUND
    if (sample_lag(samples[-1]) or 0) <= th.allowed_lag:
        return LagStatus.OK
    return next((status for status, rule in _RULES if rule(samples, now_ns, th)), LagStatus.OK)


def _complete(samples: Sequence[LagSample], now_ns: int, th: Thresholds) -> float:
    """The fraction of the evaluation window the samples cover (from the oldest sample to now)."""
    if not samples or th.window_ns <= 0:
        return 0.0
    return max(0.0, min(1.0, (now_ns - samples[0].observed_at_ns) / th.window_ns))


def evaluate_partition(samples: Sequence[LagSample], *, now_ns: int,
                       thresholds: Thresholds = DEFAULT_THRESHOLDS) -> PartitionStatus:
    """Evaluate one group's samples on one partition (any order; samples older than the window are ignored)."""
    if not samples:
        raise ValueError("evaluate_partition needs at least one sample to name the partition")
    head = samples[0]
    window = [s for s in _committed(samples) if s.observed_at_ns >= now_ns - thresholds.window_ns]
    latest = window[-1] if window else None
    lag = sample_lag(latest) if latest is not None else None
    seconds = latest.lag_seconds if latest is not None else None
    if lag == 0:
        seconds = 0.0
    return PartitionStatus(
        group=head.group, topic=head.topic, partition=head.partition,
        status=_status(window, now_ns, thresholds),
        lag_offsets=lag or 0,
        lag_seconds=seconds,
        lag_seconds_estimated=bool(latest is not None and lag and latest.lag_seconds_estimated),
        time_to_drain_s=time_to_drain_s(window),
        complete=_complete(window, now_ns, thresholds),
    )


def evaluate_group(group: str, partitions: Sequence[PartitionStatus]) -> GroupStatus:
    """A group's status: its worst partition, capped at ERR (STOP, STALL, REWIND count as ERR), as Burrow does."""
    ordered = tuple(sorted(partitions, key=lambda p: (p.topic, p.partition)))
    worst = max((p.status for p in ordered), default=LagStatus.NOTFOUND)
    seconds = [p.lag_seconds for p in ordered if p.lag_seconds is not None]
    return GroupStatus(
        group=group,
        status=min(worst, LagStatus.ERR),
        partitions=ordered,
        total_lag=sum(p.lag_offsets for p in ordered),
        max_lag_seconds=max(seconds) if seconds else None,
        complete=min((p.complete for p in ordered), default=0.0),
    )
