"""Lag poller: one poll cycle over 2,000 partitions (20 topics × 100), three groups, against the broker.

Figures (wall seconds per cycle, median of several cycles):
- offsets only (the baseline): list groups, committed offsets, end offsets, samples written;
- with exact seconds, cold: every lagging partition's first unconsumed record read (assign + seek);
- with exact seconds, warm: committed offsets unchanged, timestamps reused from the previous cycle;
- with exact seconds, moving: every committed offset moved since the last cycle, so all are read again.
Samples go to the real SQLite store (6,000 per cycle), as in the collector.
Goal: a cycle over 2,000 partitions in at most 2 s (the issue's figure).
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid

from kafka import KafkaAdminClient, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import CoordinatorNotAvailableError
from kafka.structs import OffsetAndMetadata

from bench._common import Result
from eventlens.collector.lag.poller import LagPoller, PollReport
from eventlens.collector.storage.protocol import Store, open_store

RECORDS_PER_PARTITION = 10


def _setup(bootstrap: str, topics: int, partitions: int) -> tuple[str, list[TopicPartition], list[str]]:
    prefix = f"bench-lag-{uuid.uuid4().hex[:6]}"
    names = [f"{prefix}-{i:02d}" for i in range(topics)]
    with KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=120_000) as admin:
        admin.create_topics([NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names])
    tps = [TopicPartition(n, p) for n in names for p in range(partitions)]
    with KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20) as producer:
        for _ in range(RECORDS_PER_PARTITION):
            for tp in tps:
                producer.send(tp.topic, b"x" * 100, partition=tp.partition)
        producer.flush()
    groups = [f"{prefix}-caught-up", f"{prefix}-behind", f"{prefix}-far-behind"]
    _commit(bootstrap, groups, tps, shift=0)
    return prefix, tps, groups


def _commit(bootstrap: str, groups: list[str], tps: list[TopicPartition], shift: int) -> None:
    """caught-up: at the end; behind: 3 back; far-behind: 6 back; lagging groups moved on by `shift` (0 or 1)."""
    lags = {groups[0]: 0, groups[1]: 3, groups[2]: 6}
    with KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=120_000) as admin:
        for group, lag in lags.items():
            offset = RECORDS_PER_PARTITION - lag + (shift if lag else 0)
            deadline = time.monotonic() + 60  # a fresh broker creates __consumer_offsets on first use
            while True:
                try:
                    admin.alter_group_offsets(group, {tp: OffsetAndMetadata(offset, "", -1) for tp in tps})
                    break
                except CoordinatorNotAvailableError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)


def _cycle(poller: LagPoller) -> tuple[float, PollReport]:
    started = time.perf_counter()
    report = poller.poll_once(time.time_ns())
    elapsed = time.perf_counter() - started
    if not report.ok:
        raise RuntimeError(f"poll cycle failed: {report.error}")
    return elapsed, report


def run(bootstrap: str, quick: bool = False) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="eventlens-bench-lag-") as tmp:
        store = open_store(f"sqlite:///{tmp}/lag.db")
        try:
            return _measure(bootstrap, store, quick)
        finally:
            store.close()


def _measure(bootstrap: str, store: Store, quick: bool) -> list[Result]:
    topics, partitions = (4, 50) if quick else (20, 100)
    repeats = 2 if quick else 5
    prefix, tps, groups = _setup(bootstrap, topics, partitions)
    n = len(tps)
    include = [f"^{prefix}-"]

    baseline = LagPoller(bootstrap, store, include=include, exact_seconds=False)
    _cycle(baseline)  # connect, warm metadata
    offsets_only = statistics.median(_cycle(baseline)[0] for _ in range(repeats))
    baseline.stop()

    exact = LagPoller(bootstrap, store, include=include, budget_s=10.0, budget_records=100_000)
    _cycle(exact)  # connect; reads every timestamp
    cold_runs, moving_runs, warm_runs, reads = [], [], [], 0
    for i in range(repeats):
        _commit(bootstrap, groups, tps, shift=1 - i % 2)  # every lagging committed offset moves
        elapsed, report = _cycle(exact)
        moving_runs.append((elapsed, report.seconds_s))
        reads = report.exact_read
        elapsed, report = _cycle(exact)  # nothing moved: timestamps come from the cache
        warm_runs.append(elapsed)
    exact.stop()

    budgeted = LagPoller(bootstrap, store, include=include)  # default 1 s budget
    _commit(bootstrap, groups, tps, shift=0)
    _cycle(budgeted)
    _commit(bootstrap, groups, tps, shift=1)  # every lagging offset moves: nothing cached
    elapsed, report = _cycle(budgeted)
    cold_runs.append(elapsed)
    budgeted.stop()

    moving = statistics.median(e for e, _ in moving_runs)
    moving_seconds = statistics.median(s for _, s in moving_runs)
    goal = "≤ 2 s per cycle"
    return [
        Result(f"cycle, offsets only ({n} partitions × {len(groups)} groups)", offsets_only, "s", goal=goal),
        Result(f"cycle, exact seconds, all {reads} lagging offsets moved", moving, "s",
               "offsets only", offsets_only, goal),
        Result("  of which reading first-unconsumed timestamps", moving_seconds, "s"),
        Result("  per timestamp read", moving_seconds / max(1, reads) * 1e6, "µs"),
        Result("cycle, exact seconds, offsets unchanged (cached)", statistics.median(warm_runs), "s",
               "offsets only", offsets_only, goal),
        Result(f"cycle, default 1 s budget: {report.exact_read} read, {report.estimated} estimated, "
               f"{report.seconds_unknown} unknown",
               elapsed, "s", "offsets only", offsets_only, goal),
    ]
