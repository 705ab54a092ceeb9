"""The lag poller against the real broker: offsets, exact seconds, statuses, deleted groups, outages."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import OffsetSpec
from typer.testing import CliRunner

from eventlens.collector.lag.cli import app as lag_app
from eventlens.collector.lag.poller import LagPoller
from eventlens.collector.lag.query import group_history, group_statuses
from eventlens.collector.model import NS_PER_S, GroupStatus, LagStatus
from eventlens.collector.storage.protocol import Store, open_store
from eventlens.local_kafka import LocalKafka, free_port

pytestmark = pytest.mark.kafka

MIN = 60 * NS_PER_S


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """The store the poller writes to: the real SQLite backend."""
    backend = open_store(f"sqlite:///{tmp_path / 'lag.db'}")
    yield backend
    backend.close()


@pytest.fixture
def group() -> str:
    """A consumer group name unique to the test."""
    return f"g-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def poller(kafka_bootstrap: str, store: Store, group: str) -> Iterator[LagPoller]:
    """A poller watching only this test's group (the session broker is shared)."""
    p = LagPoller(kafka_bootstrap, store, interval_s=1.0, include=[f"^{group}$"], budget_s=5.0)
    yield p
    p.stop()


def produce(bootstrap: str, topic: str, n: int, *, partition: int = 0,
            timestamps_ms: list[int] | None = None) -> None:
    """Send n records to one partition (with explicit timestamps when given) and wait for the acks."""
    with KafkaProducer(bootstrap_servers=bootstrap) as producer:
        for i in range(n):
            ts = timestamps_ms[i] if timestamps_ms else None
            producer.send(topic, f"r{i}".encode(), partition=partition, timestamp_ms=ts)
        producer.flush()


def consume_and_commit(bootstrap: str, topic: str, group: str, n: int, partitions: int = 1) -> None:
    """Read n records as `group` (from its committed position, else the start), commit them and leave."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                             auto_offset_reset="earliest")
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(tps)
    seen, deadline = 0, time.monotonic() + 60
    while seen < n and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500, max_records=n - seen).values():
            seen += len(records)
    assert seen == n, f"consumed {seen} of {n}"
    consumer.commit()
    consumer.close()


def status_of(store: Store, group: str, now_ns: int) -> GroupStatus:
    """The single group's evaluated status."""
    statuses = group_statuses(store, now_ns, group=group)
    assert [s.group for s in statuses] == [group]
    return statuses[0]


def test_caught_up_group_is_ok_with_zero_lag_and_zero_seconds(kafka_bootstrap: str, make_topic, group: str,
                                                              poller: LagPoller, store: Store) -> None:
    """A group that has read everything is OK, 0 offsets and 0 s behind."""
    topic = make_topic(partitions=2)
    produce(kafka_bootstrap, topic, 5, partition=0)
    produce(kafka_bootstrap, topic, 5, partition=1)
    consume_and_commit(kafka_bootstrap, topic, group, 10, partitions=2)
    now = time.time_ns()
    report = poller.poll_once(now)
    assert report.ok and report.groups == 1 and report.samples == 2
    status = status_of(store, group, now)
    assert status.status is LagStatus.OK and status.total_lag == 0 and status.max_lag_seconds == 0.0


def test_idle_topic_stays_ok_with_zero_seconds(kafka_bootstrap: str, make_topic, group: str,
                                               poller: LagPoller, store: Store) -> None:
    """No new records for 15 minutes with the consumer caught up is OK, not Burrow's false STOP."""
    topic = make_topic(partitions=1)
    produce(kafka_bootstrap, topic, 3)
    consume_and_commit(kafka_bootstrap, topic, group, 3)
    start = time.time_ns()
    for minute in range(0, 16, 1):
        assert poller.poll_once(start + minute * MIN).ok
    status = status_of(store, group, start + 15 * MIN)
    assert status.status is LagStatus.OK
    assert status.partitions[0].lag_seconds == 0.0
    assert status.complete == 1.0


def test_stopped_consumer_is_stop(kafka_bootstrap: str, make_topic, group: str,
                                  poller: LagPoller, store: Store) -> None:
    """A consumer that stops while records keep arriving is STOP once it has made no progress for 5 min."""
    topic = make_topic(partitions=1)
    produce(kafka_bootstrap, topic, 10)
    consume_and_commit(kafka_bootstrap, topic, group, 5)
    start = time.time_ns()
    for minute in range(7):
        produce(kafka_bootstrap, topic, 2)
        assert poller.poll_once(start + minute * MIN).ok
    status = status_of(store, group, start + 6 * MIN)
    assert status.partitions[0].status is LagStatus.STOP
    assert status.status is LagStatus.ERR  # capped at ERR for the group, as in Burrow
    assert status.total_lag == 5 + 14


def test_slow_consumer_has_rising_lag_and_warns(kafka_bootstrap: str, make_topic, group: str,
                                                poller: LagPoller, store: Store) -> None:
    """A consumer reading 5 records per interval while 20 arrive has rising lag and is WARN."""
    topic = make_topic(partitions=1)
    start = time.time_ns()
    for step in range(4):
        produce(kafka_bootstrap, topic, 20)
        consume_and_commit(kafka_bootstrap, topic, group, 5)
        assert poller.poll_once(start + step * 30 * NS_PER_S).ok
    history = group_history(store, group, since_ns=start)[(topic, 0)]
    lags = [s.end_offset - (s.committed_offset or 0) for s in history]
    assert lags == [15, 30, 45, 60]
    status = status_of(store, group, start + 90 * NS_PER_S)
    assert status.status is LagStatus.WARN
    assert status.partitions[0].time_to_drain_s is None  # it is not draining


def test_reset_to_earliest_is_rewind_with_exact_seconds(kafka_bootstrap: str, make_topic, group: str,
                                                        poller: LagPoller, store: Store) -> None:
    """Resetting a caught-up group to the earliest offset is REWIND, with the first record's age as lag."""
    topic = make_topic(partitions=1)
    first_ms = int(time.time() * 1000) - 600_000
    produce(kafka_bootstrap, topic, 10, timestamps_ms=[first_ms + i * 1000 for i in range(10)])
    consume_and_commit(kafka_bootstrap, topic, group, 10)
    now = time.time_ns()
    assert poller.poll_once(now).ok
    with KafkaAdminClient(bootstrap_servers=kafka_bootstrap) as admin:
        admin.reset_group_offsets(group, {TopicPartition(topic, 0): OffsetSpec.EARLIEST})
    assert poller.poll_once(now + 30 * NS_PER_S).ok
    status = status_of(store, group, now + 30 * NS_PER_S).partitions[0]
    assert status.status is LagStatus.REWIND and status.lag_offsets == 10
    assert status.lag_seconds == pytest.approx((now + 30 * NS_PER_S) / NS_PER_S - first_ms / 1000, abs=0.01)
    assert status.lag_seconds_estimated is False  # no "astronomical" extrapolation (kafka-lag-exporter#496)


def test_lag_seconds_match_produce_timestamps_within_one_interval(kafka_bootstrap: str, make_topic, group: str,
                                                                  poller: LagPoller,
                                                                  store: Store) -> None:
    """Lag in seconds is the age of the first unconsumed record, read from its produce timestamp."""
    topic = make_topic(partitions=1)
    base_ms = int(time.time() * 1000) - 120_000
    produce(kafka_bootstrap, topic, 10, timestamps_ms=[base_ms + i * 1000 for i in range(10)])
    consume_and_commit(kafka_bootstrap, topic, group, 3)
    report = poller.poll_once()  # wall clock
    assert report.ok and report.exact_read == 1
    sample = store.lag_samples(group=group)[-1]
    expected_s = (sample.observed_at_ns - (base_ms + 3000) * 1_000_000) / NS_PER_S
    assert sample.lag_seconds is not None and not sample.lag_seconds_estimated
    assert abs(sample.lag_seconds - expected_s) <= poller.interval_s
    again = poller.poll_once()
    assert again.exact_cached == 1 and again.exact_read == 0  # offset unchanged: the timestamp is reused


def test_seconds_are_interpolated_and_marked_when_not_read(kafka_bootstrap: str, make_topic, group: str,
                                                           store: Store) -> None:
    """Without exact reads, seconds come from the (end offset, time) table and are marked estimated."""
    topic = make_topic(partitions=1)
    produce(kafka_bootstrap, topic, 10)
    consume_and_commit(kafka_bootstrap, topic, group, 5)
    poller = LagPoller(kafka_bootstrap, store, include=[f"^{group}$"], exact_seconds=False)
    try:
        t0 = time.time_ns()
        assert poller.poll_once(t0).seconds_unknown == 1  # one point: nothing to interpolate from yet
        produce(kafka_bootstrap, topic, 10)
        report = poller.poll_once(t0 + 10 * NS_PER_S)
    finally:
        poller.stop()
    assert report.estimated == 1
    sample = store.lag_samples(group=group)[-1]
    # 1 record/s between the points; offset 5 was appended when the end passed 6, 4 s before t0.
    assert sample.lag_seconds_estimated and sample.lag_seconds == pytest.approx(14.0, abs=0.01)


def test_budget_exhausted_falls_back_to_estimates(kafka_bootstrap: str, make_topic, group: str,
                                                  store: Store) -> None:
    """A zero record budget reads nothing and estimates every lagging partition."""
    topic = make_topic(partitions=1)
    produce(kafka_bootstrap, topic, 10)
    consume_and_commit(kafka_bootstrap, topic, group, 5)
    poller = LagPoller(kafka_bootstrap, store, include=[f"^{group}$"], budget_records=0)
    try:
        t0 = time.time_ns()
        poller.poll_once(t0)
        produce(kafka_bootstrap, topic, 5)
        report = poller.poll_once(t0 + 5 * NS_PER_S)
    finally:
        poller.stop()
    assert (report.exact_read, report.estimated) == (0, 1)


def test_deleted_group_disappears(kafka_bootstrap: str, make_topic, group: str,
                                  poller: LagPoller, store: Store) -> None:
    """A group deleted on the broker is dropped from the store and from statuses."""
    topic = make_topic(partitions=1)
    produce(kafka_bootstrap, topic, 4)
    consume_and_commit(kafka_bootstrap, topic, group, 2)
    now = time.time_ns()
    assert poller.poll_once(now).samples == 1
    with KafkaAdminClient(bootstrap_servers=kafka_bootstrap) as admin:
        admin.delete_groups([group])
    report = poller.poll_once(now + NS_PER_S)
    assert report.forgotten == (group,)
    assert store.lag_samples(group=group) == []
    assert group_statuses(store, now + NS_PER_S, group=group) == []


def test_include_and_exclude_patterns_select_groups(kafka_bootstrap: str, make_topic, group: str,
                                                    store: Store) -> None:
    """Only groups matching an include pattern and no exclude pattern are polled."""
    topic = make_topic(partitions=1)
    produce(kafka_bootstrap, topic, 2)
    for suffix in ("-keep", "-drop"):
        consume_and_commit(kafka_bootstrap, topic, group + suffix, 1)
    poller = LagPoller(kafka_bootstrap, store, include=[f"^{group}"], exclude=["-drop$"])
    try:
        poller.poll_once()
    finally:
        poller.stop()
    assert {s.group for s in store.lag_samples()} == {group + "-keep"}


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll `condition` until true, failing after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_broker_outage_is_reported_and_the_poller_recovers(tmp_path: Path, store: Store,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    """Stopping the broker makes cycles report an outage; when it returns the poller recovers by itself."""
    broker = LocalKafka(workdir=tmp_path / "kafka", port=free_port(), controller_port=free_port())
    broker.start(timeout_s=240)  # the machine may be busy: generous, condition-based waits only
    group = f"g-{uuid.uuid4().hex[:10]}"
    poller = LagPoller(broker.bootstrap, store, interval_s=0.5, include=[f"^{group}$"],
                       budget_s=2.0)
    try:
        produce(broker.bootstrap, "outage", 4)
        consume_and_commit(broker.bootstrap, "outage", group, 2)
        wait_for(lambda: poller.poll_once().ok, 120, "a first good cycle")
        caplog.clear()
        broker.stop()
        down = poller.poll_once()
        assert down.outage and down.error and not down.ok
        assert "unreachable" in caplog.text
        broker.start(timeout_s=240)
        caplog.set_level("INFO", logger="eventlens.collector.lag.poller")
        poller.start()
        wait_for(lambda: poller.last_report is not None and poller.last_report.ok, 240, "a good cycle")
        assert "reachable again" in caplog.text
        assert poller.last_report is not None and poller.last_report.samples == 1
        assert any(s.observed_at_ns > down.now_ns for s in store.lag_samples(group=group))
    finally:
        poller.stop()
        broker.stop()


def test_cli_standalone_polls_the_broker_and_prints_json(kafka_bootstrap: str, make_topic, group: str) -> None:
    """`eventlens lag --bootstrap B --json` works without a collector: it polls into a temporary store."""
    topic = make_topic(partitions=1)
    produce(kafka_bootstrap, topic, 6)
    consume_and_commit(kafka_bootstrap, topic, group, 4)
    result = CliRunner().invoke(lag_app, ["--bootstrap", kafka_bootstrap, "--json", "--cycles", "2",
                                          "--interval", "0.2", "--group", f"^{group}$"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    (entry,) = doc["groups"]
    assert entry["group"] == group and entry["total_lag"] == 2
    assert entry["partitions"][0]["lag_seconds"] > 0 and entry["partitions"][0]["lag_seconds_estimated"] is False


def test_cli_table_shows_the_group(kafka_bootstrap: str, make_topic, group: str) -> None:
    """The default output is a table naming the group, its topic and status."""
    topic = make_topic(partitions=1)
    produce(kafka_bootstrap, topic, 2)
    consume_and_commit(kafka_bootstrap, topic, group, 2)
    result = CliRunner().invoke(lag_app, ["-b", kafka_bootstrap, "--cycles", "1", "-g", f"^{group}$"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert group in result.output and topic in result.output and "OK" in result.output


def test_groups_at_different_offsets_of_one_partition_each_get_their_own_seconds(
        kafka_bootstrap: str, make_topic, group: str, store: Store) -> None:
    """Two groups behind on the same partition each get the age of their own first unconsumed record."""
    topic = make_topic(partitions=1)
    base_ms = int(time.time() * 1000) - 300_000
    produce(kafka_bootstrap, topic, 10, timestamps_ms=[base_ms + i * 10_000 for i in range(10)])
    consume_and_commit(kafka_bootstrap, topic, group + "-a", 2)
    consume_and_commit(kafka_bootstrap, topic, group + "-b", 5)
    poller = LagPoller(kafka_bootstrap, store, include=[f"^{group}-"], budget_s=10.0)
    try:
        now = time.time_ns()
        assert poller.poll_once(now).exact_read == 2
    finally:
        poller.stop()
    seconds = {s.group: s.lag_seconds for s in store.lag_samples()}
    for suffix, offset in (("-a", 2), ("-b", 5)):
        expected = (now - (base_ms + offset * 10_000) * 1_000_000) / NS_PER_S
        assert seconds[group + suffix] == pytest.approx(expected, abs=0.01)
