"""A "correctness" proof for the lag evaluator: a numbered table where each case says why it holds."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from eventlens.collector.lag.evaluator import (
    Thresholds,
    evaluate_group,
    evaluate_partition,
    sample_lag,
    time_to_drain_s,
)
from eventlens.collector.model import NS_PER_S, LagSample, LagStatus, PartitionStatus

T0 = 1_700_000_000 * NS_PER_S
STEP = 30 * NS_PER_S
MIN = 60 * NS_PER_S


def series(committed: list[int | None], end: list[int], *, step_ns: int = STEP, start_ns: int = T0,
           seconds: float | None = None, estimated: bool = False) -> list[LagSample]:
    """Samples of group g on t/0, one every `step_ns`."""
    assert len(committed) == len(end)
    return [LagSample("g", "t", 0, c, e, start_ns + i * step_ns, seconds, estimated)
            for i, (c, e) in enumerate(zip(committed, end, strict=True))]


def after(samples: list[LagSample], ns: int = STEP) -> int:
    """A `now` that is `ns` after the newest sample."""
    return samples[-1].observed_at_ns + ns


@dataclass(frozen=True)
class Case:
    n: int
    committed: list[int | None]
    end: list[int]
    expected: LagStatus
    why: str
    now_after_ns: int = STEP
    step_ns: int = STEP
    thresholds: Thresholds = field(default_factory=Thresholds)


CASES = [
    Case(1, [10] * 10, [10] * 10, LagStatus.OK,
         "idle topic, consumer caught up: lag 0 is OK however long nothing moves (Burrow says STOP: #38/#140/#195)"),
    Case(2, list(range(0, 100, 10)), list(range(0, 100, 10)), LagStatus.OK,
         "records flowing and the consumer keeps up in every sample"),
    Case(3, [5] * 21, [5] * 21, LagStatus.OK,
         "a consumer that has not committed for 10 minutes but has nothing to read is healthy"),
    Case(4, [0, 0, 0, 0, 40], [10, 20, 30, 40, 40], LagStatus.OK,
         "lag rose, but the consumer is caught up now: the latest sample decides"),
    Case(5, [10] * 10, list(range(20, 120, 10)), LagStatus.STOP,
         "offset frozen for 5 minutes while records keep arriving: the consumer is gone"),
    Case(6, [10] * 10, [20] * 10, LagStatus.STOP,
         "idle topic but 10 unread records and no progress for 5 minutes: idleness does not excuse a backlog"),
    Case(7, [10] * 6, [20] * 6, LagStatus.STALL,
         "no progress for 3 minutes (≥ stall_after 2 min, < stop_after 5 min) with work to do"),
    Case(8, [10, 10, 10], [20, 20, 20], LagStatus.OK,
         "frozen for only 90 s with constant lag: too short to judge, and lag is not rising"),
    Case(9, [0, 5, 10, 15, 20], [10, 20, 30, 40, 50], LagStatus.WARN,
         "consumer moves but lag never decreases and rises overall: it is falling behind"),
    Case(10, [0, 15, 30, 45, 60], [50, 55, 60, 65, 70], LagStatus.OK,
         "lag falls every sample: catching up"),
    Case(11, [0, 5], [10, 20], LagStatus.OK,
         "lag rose across only two samples: fewer than warn_min_samples (3) cannot show a trend"),
    Case(12, [0, 5, 18, 20, 25], [10, 20, 30, 40, 50], LagStatus.OK,
         "lag dipped once (15 → 12): the consumer keeps up at times, so no WARN (as in Burrow)"),
    Case(13, [100, 110, 120, 0, 0], [200] * 5, LagStatus.REWIND,
         "committed offset went back from 120 to 0 and has not come back: a reset or reprocessing"),
    Case(14, [100, 110, 0, 50, 130], [200] * 5, LagStatus.OK,
         "after the rewind the consumer passed its old position (130 > 110) and lag is falling: recovered"),
    Case(15, [100, 100, 0], [100, 100, 100], LagStatus.REWIND,
         "reset to earliest on a caught-up group: lag appears because the offset went back"),
    Case(16, [0] * 8 + [40] * 8 + [80] * 7, list(range(10, 240, 10)), LagStatus.OK,
         "commits every 4 min: a 3.5 min pause is within twice its own cadence, so not STALL"),
    Case(17, [10] * 3, [20] * 3, LagStatus.STOP,
         "explicit thresholds apply: stop_after 60 s, frozen 90 s",
         thresholds=Thresholds(stop_after_ns=MIN, stall_after_ns=30 * NS_PER_S)),
    Case(18, [10] * 21, [13] * 21, LagStatus.OK,
         "lag 3 within allowed_lag 5 counts as caught up", thresholds=Thresholds(allowed_lag=5)),
    Case(19, [500, 500, 500], [20, 20, 20], LagStatus.OK,
         "end offset below committed (topic recreated): lag is clamped to 0, never negative"),
    Case(20, [100, 0, *range(10, 210, 10)], [200, 200, *range(20, 220, 10)], LagStatus.OK,
         "a rewind 11 minutes ago is outside the 10-minute window; since then lag is steady at 10"),
    Case(21, [None, None], [20, 20], LagStatus.NOTFOUND,
         "no committed offset in the window: nothing to judge"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.n:02d}")
def test_partition_status_table(case: Case) -> None:
    """Each numbered case evaluates to its expected status, for the reason it states."""
    samples = series(case.committed, case.end, step_ns=case.step_ns)
    status = evaluate_partition(samples, now_ns=after(samples, case.now_after_ns), thresholds=case.thresholds)
    assert status.status is case.expected, f"case {case.n}: {case.why}"


def test_case_numbers_are_unique_and_reasons_given() -> None:
    """The table stays a readable proof: unique numbers, a reason on every line."""
    assert len({c.n for c in CASES}) == len(CASES)
    assert all(len(c.why) > 20 for c in CASES)


def test_lag_is_end_minus_committed_and_never_negative() -> None:
    """Lag in offsets is the end offset minus the committed one, clamped at zero."""
    assert sample_lag(LagSample("g", "t", 0, 7, 10, T0)) == 3
    assert sample_lag(LagSample("g", "t", 0, 12, 10, T0)) == 0
    assert sample_lag(LagSample("g", "t", 0, None, 10, T0)) is None


def test_caught_up_partition_reports_zero_seconds_even_if_sample_says_otherwise() -> None:
    """With lag 0 there is nothing waiting, so lag in seconds is exactly 0."""
    samples = series([10, 10], [10, 10], seconds=12.0, estimated=True)
    status = evaluate_partition(samples, now_ns=after(samples))
    assert (status.lag_offsets, status.lag_seconds, status.lag_seconds_estimated) == (0, 0.0, False)


def test_estimated_seconds_flag_is_carried_from_the_latest_sample() -> None:
    """A partition whose latest seconds were interpolated says so."""
    samples = series([0, 5, 10], [20, 25, 30], seconds=4.5, estimated=True)
    status = evaluate_partition(samples, now_ns=after(samples))
    assert (status.lag_seconds, status.lag_seconds_estimated) == (4.5, True)


def test_time_to_drain_from_consume_and_produce_rates() -> None:
    """Consuming 10/s against 5/s produced drains a lag of 100 in 20 s."""
    samples = series([0, 300], [250, 400])  # 30 s apart: consume 10/s, produce 5/s; lag 100
    assert time_to_drain_s(samples) == pytest.approx(20.0)


def test_time_to_drain_is_none_when_not_draining() -> None:
    """A consumer slower than its producers never drains."""
    assert time_to_drain_s(series([0, 100], [200, 400])) is None


def test_time_to_drain_is_zero_when_caught_up() -> None:
    """Nothing to drain takes no time."""
    assert time_to_drain_s(series([0, 100], [0, 100])) == 0.0


def test_complete_is_the_part_of_the_window_covered() -> None:
    """Five minutes of history in a ten-minute window is half complete."""
    samples = series([0] * 10, [0] * 10)  # 4.5 min of samples, now 30 s later: 5 min
    assert evaluate_partition(samples, now_ns=after(samples)).complete == pytest.approx(0.5)


def _ps(status: LagStatus, lag: int = 0, seconds: float | None = None, complete: float = 1.0,
        partition: int = 0) -> PartitionStatus:
    return PartitionStatus("g", "t", partition, status, lag, seconds, False, None, complete)


def test_group_status_is_worst_partition_capped_at_err() -> None:
    """A STOP partition makes the group ERR, as in Burrow."""
    group = evaluate_group("g", [_ps(LagStatus.OK), _ps(LagStatus.STOP, partition=1)])
    assert group.status is LagStatus.ERR


def test_group_status_warn_when_worst_is_warn() -> None:
    """A WARN partition next to OK ones makes the group WARN."""
    assert evaluate_group("g", [_ps(LagStatus.WARN), _ps(LagStatus.OK, partition=1)]).status is LagStatus.WARN


def test_group_totals_max_seconds_and_complete() -> None:
    """Totals sum the lag, take the largest seconds and the least complete partition."""
    group = evaluate_group("g", [_ps(LagStatus.OK, 5, 1.5, 0.5), _ps(LagStatus.OK, 7, 9.0, 1.0, partition=1)])
    assert (group.total_lag, group.max_lag_seconds, group.complete) == (12, 9.0, 0.5)


def test_group_without_partitions_is_notfound() -> None:
    """A group with nothing evaluated is NOTFOUND."""
    assert evaluate_group("g", []).status is LagStatus.NOTFOUND
