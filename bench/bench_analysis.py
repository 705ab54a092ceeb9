"""Analysis benchmark: topology and coupling over the rollups of 1M spans, lineage of one event in a 5M-span
store (SQLite), each beside a baseline measured in the same run.

    python -m bench analysis            # 5M spans written once, cached (see EVENTLENS_BENCH_DIR)
    python -m bench analysis --quick    # 200k spans
    EVENTLENS_BENCH_ANALYSIS_SPANS=1000000 python -m bench analysis

The store holds chains of events across 50 services and 100 topics (a third of the consumers link only,
in their own trace) spread over five hours; the topology/coupling window is the last hour, which holds a
fifth of the spans (1M of 5M). The store is reused across runs when the same size is asked for and the
SQLite schema is unchanged (the file name carries a hash of it).
"""

from __future__ import annotations

import hashlib
import os
import random
import statistics
import time
from importlib import resources
from pathlib import Path

import networkx as nx

from bench._common import Result
from eventlens.collector.analysis import query
from eventlens.collector.analysis.coupling import build_coupling
from eventlens.collector.analysis.topology import build_topology
from eventlens.collector.model import NS_PER_S, Messaging, Operation, SpanKind, SpanLink, SpanRecord
from eventlens.collector.storage.protocol import Store, open_store

SERVICES = 50
TOPICS = 100
HOPS = 5
SPANS_PER_CHAIN = 2 * HOPS
HOURS = 5
BASE_NS = 1_790_000_000 * NS_PER_S  # whole minute


def _topic_producer(topic: int) -> int:
    return topic % SERVICES


def _topic_consumer(topic: int) -> int:
    return (topic * 3 + 1) % SERVICES


def chain(c: int, start_ns: int) -> list[SpanRecord]:
    """One business flow of HOPS hops: send → process (parent, or link only in a new trace) → send → …"""
    spans: list[SpanRecord] = []
    topic = c % TOPICS
    trace = f"{c:016x}{0:016x}"
    parent: str | None = None
    at = start_ns
    for hop in range(HOPS):
        sid = f"{c:010x}{hop:02x}a{0:03x}"
        producer = _topic_producer(topic)
        spans.append(SpanRecord(
            trace_id=trace, span_id=sid, parent_span_id=parent, name=f"send t{topic}", kind=SpanKind.PRODUCER,
            service=f"svc{producer}", start_ns=at, end_ns=at + 2_000_000,
            messaging=Messaging(system="kafka", operation=Operation.SEND, topic=f"t{topic}", partition=c % 6,
                                offset=c, key=f"k{c}", event_id=f"evt-{c}-{hop}", event_type=f"E{topic}",
                                body_size=200, schema_fingerprint=f"json:{topic:04x}")))
        consumer = _topic_consumer(topic)
        link_only = (c + hop) % 3 == 0
        ctrace = f"{c:016x}{hop + 1:016x}" if link_only else trace
        pid = f"{c:010x}{hop:02x}b{0:03x}"
        at += 5_000_000
        spans.append(SpanRecord(
            trace_id=ctrace, span_id=pid, parent_span_id=None if link_only else sid, name=f"process t{topic}",
            kind=SpanKind.CONSUMER, service=f"svc{consumer}", start_ns=at, end_ns=at + 3_000_000,
            links=(SpanLink(trace, sid),) if link_only else (),
            messaging=Messaging(system="kafka", operation=Operation.PROCESS, topic=f"t{topic}", partition=c % 6,
                                offset=c, key=f"k{c}", consumer_group=f"g{consumer}", event_type=f"E{topic}",
                                schema_fingerprint=f"json:{topic:04x}")))
        trace, parent = ctrace, pid
        at += 1_000_000
        topic = consumer if (c + hop) % 2 == 0 else consumer + SERVICES  # a topic this consumer produces
    return spans


def build_store(path: Path, total_spans: int) -> Store:
    """Write `total_spans` spans of chains spread over HOURS hours (skipped when the file is complete)."""
    done = path.with_suffix(".done")
    store = open_store(f"sqlite:///{path}")
    if done.exists():
        return store
    chains = total_spans // SPANS_PER_CHAIN
    step = HOURS * 3600 * NS_PER_S // max(1, chains)
    batch: list[SpanRecord] = []
    for c in range(chains):
        batch.extend(chain(c, BASE_NS + c * step))
        if len(batch) >= 5000:
            store.write_spans(batch)
            batch = []
    if batch:
        store.write_spans(batch)
    done.write_text(str(total_spans))
    return store


def _schema_tag() -> str:
    """A short hash of the SQLite schema, so a cached store is rebuilt when the storage layout changes."""
    schema = resources.files("eventlens.collector.storage").joinpath("schema_sqlite.sql").read_bytes()
    return hashlib.sha256(schema).hexdigest()[:10]


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _plain_graph(rollups) -> nx.DiGraph:
    graph = nx.DiGraph()
    for r in rollups:
        src = f"service:{r.producer}"
        dst = f"group:{r.consumer_group}" if r.consumer_group else f"topic:{r.topic}"
        data = graph.get_edge_data(src, dst)
        if data is None:
            graph.add_edge(src, dst, messages=r.count)
        else:
            data["messages"] += r.count
    return graph


def run(bootstrap: str, quick: bool) -> list[Result]:
    """Build (or reuse) the store, then time topology, coupling and lineage against their baselines."""
    total = int(os.environ.get("EVENTLENS_BENCH_ANALYSIS_SPANS") or (200_000 if quick else 5_000_000))
    folder = Path(os.environ.get("EVENTLENS_BENCH_DIR") or Path.home() / ".cache" / "eventlens" / "bench")
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    store = build_store(folder / f"analysis-{total}-{_schema_tag()}.db", total)
    build_s = time.perf_counter() - t0
    try:
        end = BASE_NS + HOURS * 3600 * NS_PER_S
        start = end - 3600 * NS_PER_S
        window_spans = total // HOURS  # chains are spread evenly over the hours
        rollups = store.edge_rollups(start, end)
        sightings = store.schema_sightings(start, end)
        topo = build_topology(rollups, start, end)
        repeat = 5
        results = [
            Result("store build (write_spans, or reused)", build_s, "s", goal=f"{total:,} spans"),
            Result(f"topology: query.topology, window of {window_spans:,} spans ({len(rollups):,} rollup rows)",
                   _best(lambda: query.topology(store, start, end), repeat) * 1000, "ms",
                   "networkx DiGraph of the same rollups", _best(lambda: _plain_graph(rollups), repeat) * 1000,
                   goal="≤ 1000 ms"),
            Result("topology: build_topology over read rollups (pure)",
                   _best(lambda: build_topology(rollups, start, end), repeat) * 1000, "ms",
                   "networkx DiGraph of the same rollups", _best(lambda: _plain_graph(rollups), repeat) * 1000),
            Result("coupling: query.coupling (rollups + sightings + 5k-span reply sample)",
                   _best(lambda: query.coupling(store, start, end), repeat) * 1000, "ms",
                   "store.edge_rollups read alone", _best(lambda: store.edge_rollups(start, end), repeat) * 1000,
                   goal="≤ 1000 ms"),
            Result(f"coupling: build_coupling over the topology and {len(sightings):,} sightings (pure)",
                   _best(lambda: build_coupling(topo, sightings), repeat) * 1000, "ms"),
        ]
        for fmt in ("graphml", "asyncapi"):
            results.append(Result(f"export_graph {fmt} of the window",
                                  _best(lambda fmt=fmt: query.export_graph(store, fmt, start, end), 3) * 1000, "ms"))
        rng = random.Random(7)
        chains = total // SPANS_PER_CHAIN
        picks = [rng.randrange(chains) for _ in range(20)]
        lineage_ms, trace_ms, sizes = [], [], []
        for c in picks:
            t = time.perf_counter()
            result = query.lineage(store, event_id=f"evt-{c}-0")
            lineage_ms.append((time.perf_counter() - t) * 1000)
            sizes.append(len(result.nodes))
            t = time.perf_counter()
            store.get_trace(f"{c:016x}{0:016x}")
            trace_ms.append((time.perf_counter() - t) * 1000)
        assert all(s == SPANS_PER_CHAIN for s in sizes), sizes
        results += [
            Result(f"lineage of one event, {total:,}-span store (median of 20, {sizes[0]} nodes)",
                   statistics.median(lineage_ms), "ms", "store.get_trace of its first trace",
                   statistics.median(trace_ms), goal="≤ 100 ms"),
            Result("lineage of one event (max of 20)", max(lineage_ms), "ms"),
        ]
        return results
    finally:
        store.close()
