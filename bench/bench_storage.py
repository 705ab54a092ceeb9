"""Storage: write throughput of the backends and query latency over a filled store.

Workload: realistic Kafka messaging spans in batches of 512: per message a `send` PRODUCER span (5 producer
services, 10 topics, semconv attributes, shared resource) and a `process` CONSUMER span parented on it (3
consumer groups), plus one `poll` span per 16 messages linking them; 1,000 messages per simulated second.
Only `write_spans` is timed (building the SpanRecords is not). Baseline in the same run: the same rows
inserted with a plain `executemany` into a bare table (no index, no rollups), WAL/NORMAL, one transaction
per batch.

    python -m bench storage                       # via the runner (also starts a broker it does not use)
    python -m bench.bench_storage --spans 1000000 # 1M-span store (default); --spans 5000000 for the 5M figure
    python -m bench.bench_storage --quick --postgres
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench._common import Result, format_table
from eventlens.collector import query
from eventlens.collector.model import NS_PER_MINUTE, NS_PER_S, Messaging, Operation, SpanKind, SpanLink, SpanRecord
from eventlens.collector.storage import _rows
from eventlens.collector.storage.api import Store

BATCH = 512
T0 = 1_780_000_000 * NS_PER_S
PRODUCERS = [f"svc-{c}" for c in "abcde"]
TOPICS = [f"topic-{i}" for i in range(10)]
GROUPS = [("billing", "billing-g"), ("shipping", "shipping-g"), ("audit", "audit-g")]


def _resource(service: str) -> dict[str, str | int]:
    return {"service.name": service, "service.version": "1.4.2", "telemetry.sdk.language": "python",
            "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.version": "1.45.1", "host.name": "node-7",
            "process.pid": 4242}


RESOURCES = {s: _resource(s) for s in PRODUCERS + [c for c, _ in GROUPS]}


def spans(n: int, seed: int = 7, batch_size: int = BATCH) -> Iterator[list[SpanRecord]]:
    """Batches of about BATCH spans, n spans in all (send + process per message, a poll per 16 messages)."""
    rng = random.Random(seed)
    made = 0
    msg = 0
    batch: list[SpanRecord] = []
    pending_poll: list[SpanRecord] = []
    while made < n:
        t = T0 + msg * 1_000_000  # 1,000 messages per second
        producer, topic = PRODUCERS[msg % 5], TOPICS[msg % 10]
        consumer, group = GROUPS[msg % 3]
        trace_id = rng.getrandbits(128).to_bytes(16, "big").hex()
        send_id = rng.getrandbits(64).to_bytes(8, "big").hex()
        partition, offset, key = msg % 6, msg // 6, f"order-{msg % 5000}"
        event_id = f"{rng.getrandbits(122):031x}"
        attrs = {"messaging.system": "kafka", "messaging.destination.name": topic,
                 "messaging.operation.name": "send", "messaging.operation.type": "send",
                 "messaging.destination.partition.id": str(partition), "messaging.kafka.message.key": key,
                 "messaging.kafka.offset": offset, "messaging.message.body.size": 420,
                 "cloudevents.event_id": event_id, "cloudevents.event_type": "OrderPlaced",
                 "server.address": "127.0.0.1", "server.port": 9092}
        m = Messaging(system="kafka", operation=Operation.SEND, operation_name="send", topic=topic,
                      partition=partition, offset=offset, key=key, client_id="p-1", body_size=420,
                      event_id=event_id, event_type="OrderPlaced", schema_fingerprint="json:5f1c",
                      server_address="127.0.0.1")
        send = SpanRecord(trace_id, send_id, None, f"send {topic}", SpanKind.PRODUCER, producer, t, t + 800_000,
                          messaging=m, attributes=attrs, resource=RESOURCES[producer], scope="eventlens.kafka")
        pattrs = dict(attrs, **{"messaging.operation.name": "process", "messaging.operation.type": "process",
                                "messaging.consumer.group.name": group, "eventlens.lag.offsets": 3})
        pm = Messaging(system="kafka", operation=Operation.PROCESS, operation_name="process", topic=topic,
                       partition=partition, offset=offset, key=key, consumer_group=group, body_size=420,
                       event_id=event_id, event_type="OrderPlaced", schema_fingerprint="json:5f1c", lag_offsets=3,
                       lag_seconds=0.02)
        ct = t + rng.randint(2_000_000, 80_000_000)
        proc = SpanRecord(trace_id, rng.getrandbits(64).to_bytes(8, "big").hex(), send_id, f"process {topic}",
                          SpanKind.CONSUMER, consumer, ct, ct + 1_500_000, messaging=pm, attributes=pattrs,
                          resource=RESOURCES[consumer], scope="eventlens.kafka")
        batch += [send, proc]
        pending_poll.append(send)
        made += 2
        msg += 1
        if len(pending_poll) == 16:
            pt = pending_poll[-1].start_ns + 1_000_000
            poll = SpanRecord(rng.getrandbits(128).to_bytes(16, "big").hex(),
                              rng.getrandbits(64).to_bytes(8, "big").hex(), None, "poll topics", SpanKind.CLIENT,
                              consumer, pt, pt + 2_000_000,
                              links=tuple(SpanLink(s.trace_id, s.span_id) for s in pending_poll),
                              messaging=Messaging(system="kafka", operation=Operation.RECEIVE, operation_name="poll",
                                                  consumer_group=group, batch_count=16),
                              resource=RESOURCES[consumer], scope="eventlens.kafka")
            batch.append(poll)
            made += 1
            pending_poll = []
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def fill(store: Store, n: int, batch_size: int = BATCH) -> tuple[float, float, int, list[SpanRecord]]:
    """Write n spans; return (wall s inside write_spans, CPU s of the process, spans written, a sample)."""
    spent = 0.0
    total = 0
    sample: list[SpanRecord] = []
    cpu = 0.0
    for i, batch in enumerate(spans(n, batch_size=batch_size)):
        c0, t0 = time.process_time(), time.perf_counter()
        total += store.write_spans(batch)
        spent += time.perf_counter() - t0
        cpu += time.process_time() - c0
        if i % 50 == 0:
            sample.append(batch[0])
    return spent, cpu, total, sample


def raw_baseline(path: Path, n: int) -> tuple[float, float]:
    """(rows/s, CPU µs/row) of a plain executemany of the same rows into a bare table (rows built untimed)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    cols = ", ".join(_rows.SPAN_COLUMNS)
    conn.execute(f"CREATE TABLE bare ({cols})")
    sql = f"INSERT INTO bare VALUES ({', '.join('?' * len(_rows.SPAN_COLUMNS))})"
    spent, total, cpu = 0.0, 0, 0.0
    for batch in spans(n):
        rows = [_rows.span_row(s, 1, 1) for s in batch]
        c0, t0 = time.process_time(), time.perf_counter()
        conn.execute("BEGIN")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")
        spent += time.perf_counter() - t0
        cpu += time.process_time() - c0
        total += len(rows)
    conn.close()
    return total / spent, cpu / total * 1e6


def row_building(n: int) -> float:
    """Microseconds per span to turn SpanRecords into rows (the Python share of a write)."""
    spent, total = 0.0, 0
    for batch in spans(n):
        t0 = time.perf_counter()
        for s in batch:
            _rows.span_row(s, 1, 1)  # one attribute-key id, as the store caches it per key sequence
        spent += time.perf_counter() - t0
        total += len(batch)
    return spent / total * 1e6


def timed(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    """Median milliseconds of `repeat` calls."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def query_results(store: Store, sample: list[SpanRecord], n: int, label: str) -> list[Result]:
    """Query latencies over a filled store."""
    end = max(s.start_ns for s in sample) + 10 * NS_PER_MINUTE
    tops = timed(lambda: query.edge_totals(store, end - 24 * 60 * NS_PER_MINUTE, end), 5)
    it = iter(sample * 10)
    trace_ms = timed(lambda: store.get_trace(next(it).trace_id), min(200, len(sample) * 10))
    it2 = iter(sample * 10)
    ev_ms = timed(lambda: store.find_spans(event_id=next(it2).messaging.event_id), min(200, len(sample) * 10))
    it3 = iter(sample * 10)

    def tpo() -> None:
        s = next(it3)
        store.find_spans(topic=s.messaging.topic, partition=s.messaging.partition, offset=s.messaging.offset)

    tpo_ms = timed(tpo, min(200, len(sample) * 10))
    size = f"{n / 1e6:g}M spans"
    return [
        Result(f"{label}: edge totals (topology read), 24 h window, {size}", tops, "ms", goal="≤ 1000 ms"),
        Result(f"{label}: trace by id, {size}", trace_ms, "ms", goal="≤ 50 ms"),
        Result(f"{label}: spans by event id, {size}", ev_ms, "ms"),
        Result(f"{label}: spans by topic/partition/offset, {size}", tpo_ms, "ms"),
    ]


@contextlib.contextmanager
def postgres_dsn() -> Iterator[str]:
    """`EVENTLENS_TEST_POSTGRES_DSN` if set, else a throwaway local cluster (tests/_services.py)."""
    external = os.environ.get("EVENTLENS_TEST_POSTGRES_DSN")
    if external:
        yield external
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from _services import local_postgres

    with local_postgres() as pg:
        yield pg.dsn


def measure(n: int, quick: bool, with_postgres: bool, batch: int = BATCH, fill_only: bool = False) -> list[Result]:
    """Every storage figure for a store of n spans filled in batches of `batch` (`fill_only`: skip the rest)."""
    from eventlens.collector.storage.sqlite import SQLiteStore

    results: list[Result] = []
    small = min(n, 50_000 if quick else 200_000)
    with tempfile.TemporaryDirectory(prefix="eventlens-bench-store-") as tmp:
        raw, raw_cpu = raw_baseline(Path(tmp) / "bare.db", small)
        results.append(Result("python: SpanRecord → row", row_building(min(n, 50_000)), "µs/span"))
        store = SQLiteStore(Path(tmp) / "big.db")
        wall, cpu, total, sample = fill(store, n, batch_size=batch)
        results += [
            Result(f"SQLite write_spans, batches of {batch}, {n / 1e6:g}M spans", total / wall, "spans/s",
                   "bare executemany", raw, goal="well above 50,000"),
            Result(f"SQLite write_spans CPU, batches of {batch}", cpu / total * 1e6, "µs/span",
                   "bare executemany", raw_cpu),
        ]
        results += query_results(store, sample, n, "SQLite")
        store.close()
        if fill_only:
            return results
        big = SQLiteStore(Path(tmp) / "group.db")
        wall, cpu, total, _ = fill(big, small, batch_size=8 * BATCH)
        results += [
            Result(f"SQLite write_spans, batches of {8 * BATCH} (group commit), {small / 1e6:g}M spans",
                   total / wall, "spans/s", "bare executemany", raw),
            Result(f"SQLite write_spans CPU, batches of {8 * BATCH}", cpu / total * 1e6, "µs/span",
                   "bare executemany", raw_cpu),
        ]
        big.close()
    if with_postgres:
        from eventlens.collector.storage.postgres import PostgresStore

        with postgres_dsn() as dsn:
            pstore = PostgresStore(dsn)
            wall, cpu, total, sample = fill(pstore, small)
            results += [
                Result(f"PostgreSQL write_spans (COPY), batches of {BATCH}, {small / 1e6:g}M spans",
                       total / wall, "spans/s"),
                Result("PostgreSQL write_spans, collector-side CPU", cpu / total * 1e6, "µs/span"),
            ]
            results += query_results(pstore, sample, small, "PostgreSQL")
            pstore.close()
    return results


def run(bootstrap: str, quick: bool = False) -> list[Result]:
    """Runner entry point: 1M spans (50k with --quick), SQLite and PostgreSQL."""
    del bootstrap
    return measure(50_000 if quick else 1_000_000, quick, with_postgres=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_storage")
    parser.add_argument("--spans", type=int, default=1_000_000, help="spans in the filled store (5000000 for 5M)")
    parser.add_argument("--quick", action="store_true", help="small baselines and PostgreSQL fill")
    parser.add_argument("--postgres", action="store_true", help="also measure PostgreSQL")
    parser.add_argument("--batch", type=int, default=BATCH, help="spans per write_spans call for the big store")
    parser.add_argument("--only-big", action="store_true", help="only fill the big store and query it")
    args = parser.parse_args()
    print(format_table(measure(args.spans, args.quick, args.postgres, args.batch, args.only_big)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
