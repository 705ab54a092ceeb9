"""The lag poller: committed and end offsets of every consumer group, and lag in seconds, every interval.

The only module of `eventlens.collector.lag` that talks to Kafka (kafka-python 3's admin API and one
groupless consumer). Each cycle:

1. lists the consumer groups (filtered by include/exclude regexes), fetches their committed offsets
   (`list_group_offsets`) and the end offsets of those partitions (`list_partition_offsets`, LATEST);
2. computes lag in seconds exactly where it can: the timestamp of the first unconsumed record, read at the
   committed offset with a dedicated consumer (assign + seek), within a per-cycle time and record budget.
   A timestamp once read is reused while the committed offset stays put. What the budget does not cover
   is interpolated from a per-partition (end offset, time) table and marked `lag_seconds_estimated`;
3. writes one `LagSample` per (group, partition) through the `LagStore`, and forgets groups that are gone.

A broker outage fails the cycle (reported in the `PollReport`, logged once); the next cycle reconnects.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import OffsetSpec
from kafka.errors import KafkaError

from eventlens.collector.lag.interpolate import OffsetTimeTable, lag_seconds
from eventlens.collector.model import NS_PER_S, LagSample
from eventlens.collector.storage.protocol import LagStore, StoreError

log = logging.getLogger(__name__)

CLIENT_ID = "eventlens-lag"
FORGET_LOOKBACK_NS = 3600 * NS_PER_S
"""At the first cycle, groups with samples this recent in the store count as known (so deletions while
the poller was down are noticed)."""
INITIAL_READ_RATE = 2000.0
"""Timestamp reads per second assumed before any were measured (then adapted each cycle)."""
MIN_READS_PER_CYCLE = 100


@dataclass(frozen=True, slots=True)
class PollReport:
    """What one poll cycle did: counts, timings, and whether the broker was reachable."""

    now_ns: int
    groups: int = 0
    partitions: int = 0
    samples: int = 0
    exact_read: int = 0
    exact_cached: int = 0
    estimated: int = 0
    seconds_unknown: int = 0
    forgotten: tuple[str, ...] = ()
    outage: bool = False
    recovered: bool = False
    error: str | None = None
    offsets_s: float = 0.0
    seconds_s: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the cycle completed (broker reachable, samples stored)."""
        return not self.outage and self.error is None


@dataclass(frozen=True, slots=True)
class GroupFilter:
    """Which groups to watch: any `include` regex matches (all when empty) and no `exclude` regex does."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def __call__(self, group: str) -> bool:
        """True when the group is watched (regexes are searched, like Burrow's allow/deny lists)."""
        if self.include and not any(re.search(p, group) for p in self.include):
            return False
        return not any(re.search(p, group) for p in self.exclude)


@dataclass(slots=True)
class _Seconds:
    """Per-cycle bookkeeping of how lag in seconds was obtained."""

    values: dict[tuple[TopicPartition, int], tuple[float, bool]] = field(default_factory=dict)
    exact_read: int = 0
    exact_cached: int = 0
    estimated: int = 0
    unknown: int = 0


class LagPoller:
    """Polls consumer-group lag from a Kafka cluster into a `LagStore`; `start()`/`stop()` run it in a thread."""

    def __init__(self, bootstrap: str, store: LagStore, *, interval_s: float = 30.0,
                 include: Sequence[str] = (), exclude: Sequence[str] = (), budget_s: float = 1.0,
                 budget_records: int = 10_000, request_timeout_ms: int = 10_000,
                 table_size: int = 60, exact_seconds: bool = True) -> None:
        for pattern in (*include, *exclude):
            re.compile(pattern)  # a bad pattern fails here, not in the thread
        self.bootstrap = bootstrap
        self.store = store
        self.interval_s = interval_s
        self.filter = GroupFilter(tuple(include), tuple(exclude))
        self.budget_s = budget_s
        self.budget_records = budget_records
        self.request_timeout_ms = request_timeout_ms
        self.exact_seconds = exact_seconds
        self.last_report: PollReport | None = None
        self._table_size = table_size
        self._tables: dict[TopicPartition, OffsetTimeTable] = {}
        self._exact: dict[tuple[TopicPartition, int], int] = {}
        self._last_read_ns: dict[TopicPartition, int] = {}
        self._read_rate = INITIAL_READ_RATE
        self._known_groups: set[str] | None = None
        self._outage_since_ns: int | None = None
        self._admin: Any = None
        self._consumer: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> LagPoller:
        """Poll every `interval_s` in a daemon thread until `stop()`."""
        if self._thread is not None:
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="eventlens-lag-poller", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the thread (after its current cycle) and close the Kafka clients."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        with self._lock:
            self._close_clients()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.poll_once(time.time_ns())
            except Exception:  # the thread must survive anything a cycle throws
                log.exception("lag poll cycle failed")
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))

    # -- one cycle -------------------------------------------------------------------------------------

    def poll_once(self, now_ns: int | None = None) -> PollReport:
        """Run one cycle with `now_ns` as the observation time (default: the wall clock) and report it."""
        now = time.time_ns() if now_ns is None else now_ns
        with self._lock:
            report = self._cycle(now)
        self.last_report = report
        return report

    def _cycle(self, now_ns: int) -> PollReport:
        started = time.perf_counter()
        try:
            admin = self._ensure_admin()
            groups = self._list_groups(admin)
            committed = self._committed_offsets(admin, groups)
            ends = self._end_offsets(admin, {tp for offsets in committed.values() for tp in offsets})
        except (KafkaError, OSError) as exc:
            return self._outage(now_ns, exc)
        offsets_s = time.perf_counter() - started
        self._tables = {tp: self._tables.get(tp) or OffsetTimeTable(self._table_size) for tp in ends}
        for tp, end in ends.items():
            self._tables[tp].add(end, now_ns)
        started = time.perf_counter()
        seconds = self._lag_seconds(committed, ends, now_ns)
        seconds_s = time.perf_counter() - started
        samples = [
            LagSample(group, tp.topic, tp.partition, offset, ends[tp], now_ns,
                      *seconds.values.get((tp, offset), (None, False)))
            for group, offsets in sorted(committed.items()) for tp, offset in sorted(offsets.items())
            if tp in ends
        ]
        recovered = self._outage_since_ns is not None
        if recovered:
            log.info("lag poller: broker %s reachable again", self.bootstrap)
            self._outage_since_ns = None
        try:
            self.store.write_lag_samples(samples)
            forgotten = self._forget_missing(groups, now_ns)
        except StoreError as exc:
            log.warning("lag poller: store failed: %s", exc)
            return PollReport(now_ns, groups=len(groups), partitions=len(ends), recovered=recovered,
                              error=f"store: {exc}", offsets_s=offsets_s, seconds_s=seconds_s)
        return PollReport(
            now_ns, groups=len(groups), partitions=len(ends), samples=len(samples),
            exact_read=seconds.exact_read, exact_cached=seconds.exact_cached, estimated=seconds.estimated,
            seconds_unknown=seconds.unknown, forgotten=forgotten, recovered=recovered,
            offsets_s=offsets_s, seconds_s=seconds_s,
        )

    def _outage(self, now_ns: int, exc: BaseException) -> PollReport:
        """Report a failed cycle; drop the clients so that the next cycle reconnects from scratch."""
        if self._outage_since_ns is None:
            self._outage_since_ns = now_ns
            log.warning("lag poller: broker %s unreachable: %s", self.bootstrap, exc)
        self._close_clients()
        return PollReport(now_ns, outage=True, error=f"{type(exc).__name__}: {exc}")

    # -- offsets ---------------------------------------------------------------------------------------

    def _ensure_admin(self) -> Any:
        if self._admin is None:
            self._admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id=CLIENT_ID,
                                           request_timeout_ms=self.request_timeout_ms,
                                           bootstrap_timeout_ms=self.request_timeout_ms)
        return self._admin

    def _list_groups(self, admin: Any) -> list[str]:
        """Watched consumer groups (share groups have no committed offsets and are skipped)."""
        listed = admin.list_groups()
        return sorted(g["group_id"] for g in listed
                      if str(g.get("group_type", "")).lower() != "share" and self.filter(g["group_id"]))

    def _committed_offsets(self, admin: Any, groups: list[str]) -> dict[str, dict[TopicPartition, int]]:
        """Committed offsets per group; one request for all groups, then group by group if one fails."""
        if not groups:
            return {}
        try:
            raw = admin.list_group_offsets(groups)
        except KafkaError:  # one bad group fails the batch: ask group by group, skip those that fail
            raw = _each(groups, lambda group: admin.list_group_offsets([group]))
        return {group: {tp: om.offset for tp, om in (offsets or {}).items() if om.offset >= 0}
                for group, offsets in raw.items()}

    def _end_offsets(self, admin: Any, partitions: set[TopicPartition]) -> dict[TopicPartition, int]:
        """Latest offsets of the partitions that still exist (a deleted topic is skipped, not an error)."""
        if not partitions:
            return {}
        wanted = {tp: OffsetSpec.LATEST for tp in partitions}
        try:
            found = admin.list_partition_offsets(wanted)
        except KafkaError:  # e.g. a deleted topic that still has commits: ask again without missing topics
            existing = set(admin.list_topics())
            wanted = {tp: spec for tp, spec in wanted.items() if tp.topic in existing}
            found = _each(sorted({tp.topic for tp in wanted}), lambda topic: admin.list_partition_offsets(
                {tp: spec for tp, spec in wanted.items() if tp.topic == topic}))
        return {tp: oat.offset for tp, oat in found.items() if oat.offset >= 0}

    # -- lag in seconds --------------------------------------------------------------------------------

    def _lag_seconds(self, committed: dict[str, dict[TopicPartition, int]], ends: dict[TopicPartition, int],
                     now_ns: int) -> _Seconds:
        """Seconds of lag per (partition, committed offset): 0 when caught up, exact, cached or estimated."""
        result = _Seconds()
        behind = {(tp, off) for offsets in committed.values() for tp, off in offsets.items()
                  if tp in ends and off < ends[tp]}
        for offsets in committed.values():
            for tp, off in offsets.items():
                if tp in ends and off >= ends[tp]:
                    result.values[(tp, off)] = (0.0, False)
        cache = {key: self._exact[key] for key in behind if key in self._exact}
        result.exact_cached = len(cache)
        if self.exact_seconds:
            fresh = self._read_timestamps(sorted(behind - cache.keys(), key=self._read_priority), now_ns)
            result.exact_read = len(fresh)
            cache.update(fresh)
        self._exact = cache  # keep only what is still needed: the cache stays as small as the lagging set
        for key in behind:
            if key in cache:
                result.values[key] = (lag_seconds(now_ns, cache[key] * 1_000_000), False)
                continue
            appended = self._tables[key[0]].produce_time_ns(key[1]) if key[0] in self._tables else None
            if appended is None:
                result.unknown += 1
            else:
                result.estimated += 1
                result.values[key] = (lag_seconds(now_ns, appended), True)
        return result

    def _read_priority(self, key: tuple[TopicPartition, int]) -> tuple[int, str, int, int]:
        """Partitions read longest ago first, so that a tight budget still covers every partition in turn."""
        tp, offset = key
        return self._last_read_ns.get(tp, 0), tp.topic, tp.partition, offset

    def _read_timestamps(self, wanted: list[tuple[TopicPartition, int]],
                         now_ns: int) -> dict[tuple[TopicPartition, int], int]:
        """Timestamps (ms) of the records at the wanted offsets, read within the cycle's budget."""
        started = time.monotonic()
        # Fetch only what the budget can take at the rate seen so far: all partitions are fetched at once,
        # so asking for far too many would spend the whole budget before the first answer arrives.
        limit = min(self.budget_records, max(MIN_READS_PER_CYCLE, int(self._read_rate * self.budget_s)))
        found: dict[tuple[TopicPartition, int], int] = {}
        try:
            found = _read_first_records(self._ensure_consumer(), wanted[:limit], started + self.budget_s)
        except (KafkaError, OSError) as exc:
            log.info("lag poller: reading record timestamps failed (%s); estimating instead", exc)
            self._close_consumer()
        elapsed = time.monotonic() - started
        if wanted[:limit] and elapsed > 0:
            done_all = len(found) == len(wanted[:limit])
            rate = len(found) / elapsed
            # Grow while everything asked for was read in time; otherwise follow the measured rate.
            self._read_rate = max(self._read_rate, 2 * rate) if done_all else (self._read_rate + rate) / 2
        for tp, _ in found:
            self._last_read_ns[tp] = now_ns
        return found

    def _ensure_consumer(self) -> Any:
        if self._consumer is None:
            self._consumer = KafkaConsumer(
                bootstrap_servers=self.bootstrap, client_id=f"{CLIENT_ID}-reader", group_id=None,
                enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=50,
                max_partition_fetch_bytes=64 * 1024, request_timeout_ms=self.request_timeout_ms,
                check_crcs=False,  # only timestamps are read; pure-Python CRC32C was half of the cost
                bootstrap_timeout_ms=self.request_timeout_ms,
            )
        return self._consumer

    # -- groups that are gone --------------------------------------------------------------------------

    def _forget_missing(self, groups: Iterable[str], now_ns: int) -> tuple[str, ...]:
        """Forget (in the store) watched groups that the cluster no longer lists."""
        current = set(groups)
        if self._known_groups is None:
            recent = self.store.lag_samples(since_ns=now_ns - FORGET_LOOKBACK_NS)
            self._known_groups = {s.group for s in recent if self.filter(s.group)}
        gone = tuple(sorted(self._known_groups - current))
        for group in gone:
            self.store.forget_group(group)
            log.info("lag poller: group %s no longer exists; its samples were dropped", group)
        self._known_groups = current
        return gone

    def _close_clients(self) -> None:
        if self._admin is not None:
            with contextlib.suppress(Exception):
                self._admin.close()
            self._admin = None
        self._close_consumer()

    def _close_consumer(self) -> None:
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                self._consumer.close()
            self._consumer = None


def _read_first_records(consumer: Any, wanted: list[tuple[TopicPartition, int]],
                        deadline: float) -> dict[tuple[TopicPartition, int], int]:
    """Timestamp (ms) of the first record at or after each wanted offset, until done or past the deadline.

    Every partition is fetched at once from its lowest wanted offset; one fetch answers every wanted offset
    it covers (several groups close together on one partition), then the partition moves on to the next.
    Finished partitions are dropped by re-assigning the rest rather than pausing them (kafka-python 3.0.12
    can leave a paused-then-resumed partition never fetched again); only moved partitions are re-seeked.
    """
    pending: dict[TopicPartition, list[int]] = defaultdict(list)
    for tp, offset in wanted:
        pending[tp].append(offset)
    for offsets in pending.values():
        offsets.sort(reverse=True)  # lowest last: pop() takes it
    found: dict[tuple[TopicPartition, int], int] = {}
    moved = set(pending)
    try:
        while pending and (remaining := deadline - time.monotonic()) > 0:
            if moved:
                consumer.assign(list(pending))
                for tp in moved:
                    consumer.seek(tp, pending[tp][-1])
            # Bounded work per poll (records are decoded in poll), so the deadline is checked often.
            batch = consumer.poll(timeout_ms=max(1, min(200, int(remaining * 1000))), max_records=500)
            moved = _take_first_records(batch, pending, found)
    finally:
        consumer.unsubscribe()  # no background fetching between cycles
    return found


def _take_first_records(batch: dict[TopicPartition, list[Any]], pending: dict[TopicPartition, list[int]],
                        found: dict[tuple[TopicPartition, int], int]) -> set[TopicPartition]:
    """Answer every pending offset a poll batch covers; returns the partitions that must seek elsewhere."""
    moved: set[TopicPartition] = set()
    for tp, records in batch.items():
        offsets = pending.get(tp)
        if not offsets or not records:
            continue
        index = 0
        while offsets and offsets[-1] <= records[-1].offset:
            offset = offsets.pop()
            while records[index].offset < offset:
                index += 1
            timestamp = records[index].timestamp
            if timestamp is not None and timestamp >= 0:
                found[(tp, offset)] = int(timestamp)
        if offsets:
            moved.add(tp)
        else:
            del pending[tp]
    return moved


def _each(keys: Sequence[str], fetch: Callable[[str], dict[Any, Any]]) -> dict[Any, Any]:
    """Merge `fetch(key)` over keys, skipping keys that fail; if every key fails the last error is raised."""
    merged: dict[Any, Any] = {}
    last: KafkaError | None = None
    for key in keys:
        try:
            merged.update(fetch(key))
        except KafkaError as exc:
            log.debug("lag poller: %s skipped: %s", key, exc)
            last = exc
    if last is not None and not merged:
        raise last
    return merged
