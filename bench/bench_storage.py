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

Before/after: `--before-ref main` (a `git archive` of that ref's `collector/storage`) or `--before PATH` (a
storage package folder, or a tree holding `collector/storage`) loads that storage package beside this tree's and
measures both alternately in one process (fresh store each, order swapped every round), printing both sides'
medians and the ratio after/before. Only the storage package differs; the rest of the code is this tree's.

    python -m bench.bench_storage --before-ref main --spans 200000 --rounds 4 --postgres
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

from bench._common import Result, format_table
from eventlens.collector.edge_acc import EdgeAcc
from eventlens.collector.model import (
    NS_PER_MINUTE,
    NS_PER_S,
    EdgeRollup,
    Messaging,
    Operation,
    SpanKind,
    SpanLink,
    SpanRecord,
)
from eventlens.collector.storage import _rows
from eventlens.collector.storage.protocol import Store

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


def edge_totals(store: Store, start_ns: int, end_ns: int) -> list[EdgeRollup]:
    """One aggregate per edge over [start_ns, end_ns): the rollup read and sum a topology does."""
    accs: dict[tuple[str | None, str, str | None, str | None], EdgeAcc] = {}
    first: dict[tuple[str | None, str, str | None, str | None], int] = {}
    for r in store.edge_rollups(start_ns, end_ns):
        key = (r.producer, r.topic, r.consumer_group, r.consumer)
        accs.setdefault(key, EdgeAcc()).add_rollup(r)
        first[key] = min(first.get(key, r.minute), r.minute)
    return [acc.freeze((first[key], *key)) for key, acc in sorted(accs.items(), key=lambda kv: str(kv[0]))]


def query_results(store: Store, sample: list[SpanRecord], n: int, label: str) -> list[Result]:
    """Query latencies over a filled store."""
    end = max(s.start_ns for s in sample) + 10 * NS_PER_MINUTE
    tops = timed(lambda: edge_totals(store, end - 24 * 60 * NS_PER_MINUTE, end), 5)
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


_PKG = "eventlens.collector.storage"
ROOT = Path(__file__).resolve().parents[1]


def _storage_modules() -> dict[str, ModuleType]:
    return {k: v for k, v in sys.modules.items() if k == _PKG or k.startswith(_PKG + ".")}


class StorageSide:
    """One storage package (this tree's, or another tree's loaded under the same name) that can be made current.

    While a side is active, `eventlens.collector.storage*` in `sys.modules` are its modules, so imports made at
    call time and the schema files read with `importlib.resources` come from that side too.
    """

    def __init__(self, label: str, modules: dict[str, ModuleType]) -> None:
        self.label = label
        self.modules = modules

    @classmethod
    def current(cls) -> StorageSide:
        """This tree's storage package."""
        importlib.import_module(f"{_PKG}.sqlite")
        with contextlib.suppress(ImportError):
            importlib.import_module(f"{_PKG}.postgres")
        return cls("after", _storage_modules())

    @classmethod
    def load(cls, package_dir: Path, label: str = "before") -> StorageSide:
        """The storage package in `package_dir`, imported under its usual name, then set aside."""
        if (package_dir / "collector" / "storage").is_dir():
            package_dir = package_dir / "collector" / "storage"
        if not (package_dir / "__init__.py").is_file():
            raise SystemExit(f"bench storage: no storage package in {package_dir}")
        saved = _storage_modules()
        parent = sys.modules["eventlens.collector"]
        saved_attr = getattr(parent, "storage", None)
        for name in saved:
            del sys.modules[name]
        try:
            spec = importlib.util.spec_from_file_location(_PKG, package_dir / "__init__.py",
                                                          submodule_search_locations=[str(package_dir)])
            assert spec is not None and spec.loader is not None
            package = importlib.util.module_from_spec(spec)
            sys.modules[_PKG] = package
            spec.loader.exec_module(package)
            importlib.import_module(f"{_PKG}.sqlite")
            with contextlib.suppress(ImportError):
                importlib.import_module(f"{_PKG}.postgres")
            loaded = _storage_modules()
        finally:
            for name in _storage_modules():
                del sys.modules[name]
            sys.modules.update(saved)
            if saved_attr is not None:
                parent.storage = saved_attr  # type: ignore[attr-defined]
        return cls(label, loaded)

    @contextlib.contextmanager
    def active(self) -> Iterator[ModuleType]:
        """Make this side's modules current; yields its package."""
        saved = _storage_modules()
        parent = sys.modules["eventlens.collector"]
        saved_attr = getattr(parent, "storage", None)
        sys.modules.update(self.modules)
        parent.storage = self.modules[_PKG]  # type: ignore[attr-defined]
        try:
            yield self.modules[_PKG]
        finally:
            sys.modules.update(saved)
            if saved_attr is not None:
                parent.storage = saved_attr  # type: ignore[attr-defined]


@contextlib.contextmanager
def archived_storage(ref: str) -> Iterator[Path]:
    """`collector/storage` of a git ref of this repository, unpacked into a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="eventlens-bench-before-") as tmp:
        archive = subprocess.run(["git", "archive", ref, "collector/storage"], cwd=ROOT, capture_output=True,
                                 check=False)
        if archive.returncode != 0:
            raise SystemExit(f"bench storage: git archive {ref} failed: {archive.stderr.decode().strip()}")
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        yield Path(tmp) / "collector" / "storage"


def _side_figures(side: StorageSide, n: int, with_postgres: bool, dsn: str | None) -> dict[str, tuple[float, str]]:
    """Write and query figures of one side on fresh stores: name → (value, unit)."""
    out: dict[str, tuple[float, str]] = {}
    with side.active() as package, tempfile.TemporaryDirectory(prefix="eventlens-bench-side-") as tmp:
        stores: list[tuple[str, Callable[[], Store]]] = [
            ("SQLite", lambda: package.sqlite.SQLiteStore(Path(tmp) / "side.db"))]
        if with_postgres and dsn is not None:
            stores.append(("PostgreSQL", lambda: package.postgres.PostgresStore(_fresh_database(dsn))))
        for label, make in stores:
            store = make()
            try:
                wall, cpu, total, sample = fill(store, n)
                out[f"{label} write_spans, batches of {BATCH}"] = (total / wall, "spans/s")
                out[f"{label} write_spans CPU"] = (cpu / total * 1e6, "µs/span")
                for r in query_results(store, sample, n, label):
                    out[r.name] = (r.value, r.unit)
            finally:
                store.close()
    return out


def _fresh_database(dsn: str) -> str:
    """A new, empty database on the server of `dsn` (dropped when the bench ends)."""
    import psycopg

    name = f"bench_{os.getpid()}_{time.monotonic_ns()}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    _created.append((dsn, name))
    base, _, _ = dsn.rpartition("/")
    return f"{base}/{name}"


_created: list[tuple[str, str]] = []


def _drop_databases() -> None:
    import psycopg

    while _created:
        dsn, name = _created.pop()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def compare(before: StorageSide, n: int, rounds: int, with_postgres: bool) -> list[Result]:
    """Medians of each figure for the `before` side and this tree, measured alternately (order swapped per round)."""
    after = StorageSide.current()
    runs: dict[str, dict[str, list[float]]] = {before.label: {}, after.label: {}}
    units: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        dsn = stack.enter_context(postgres_dsn()) if with_postgres else None
        stack.callback(_drop_databases)
        for i in range(rounds):
            for side in (before, after) if i % 2 == 0 else (after, before):
                for name, (value, unit) in _side_figures(side, n, with_postgres, dsn).items():
                    runs[side.label].setdefault(name, []).append(value)
                    units[name] = unit
                _drop_databases()
    return [Result(f"{name} ({rounds} rounds, median)", statistics.median(runs[after.label][name]), units[name],
                   before.label, statistics.median(runs[before.label][name]))
            for name in runs[after.label]]


def run(bootstrap: str, quick: bool = False) -> list[Result]:
    """Runner entry point: 1M spans (50k with --quick), SQLite and PostgreSQL."""
    del bootstrap
    return measure(50_000 if quick else 1_000_000, quick, with_postgres=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_storage")
    parser.add_argument("--spans", type=int, help="spans in the filled store: default 1000000 (5000000 for the 5M "
                        "figure), 200000 per side and round when comparing")
    parser.add_argument("--quick", action="store_true", help="small baselines and PostgreSQL fill")
    parser.add_argument("--postgres", action="store_true", help="also measure PostgreSQL")
    parser.add_argument("--batch", type=int, default=BATCH, help="spans per write_spans call for the big store")
    parser.add_argument("--only-big", action="store_true", help="only fill the big store and query it")
    before = parser.add_mutually_exclusive_group()
    before.add_argument("--before", type=Path, metavar="PATH",
                        help="compare with the storage package in PATH (or PATH/collector/storage), alternating")
    before.add_argument("--before-ref", metavar="REF", help="compare with collector/storage of this git ref")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds per side when comparing")
    args = parser.parse_args()
    if args.before is not None or args.before_ref is not None:
        n = 20_000 if args.quick else args.spans or 200_000
        rounds = 2 if args.quick else args.rounds
        with contextlib.ExitStack() as stack:
            path = args.before if args.before is not None else stack.enter_context(archived_storage(args.before_ref))
            side = StorageSide.load(path, label=args.before_ref or "before")
            print(f"before: {side.modules[_PKG].__file__}\nafter:  {sys.modules[_PKG].__file__}", flush=True)
            print(format_table(compare(side, n, rounds, args.postgres)), flush=True)
        return 0
    results = measure(args.spans or 1_000_000, args.quick, args.postgres, args.batch, args.only_big)
    print(format_table(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
