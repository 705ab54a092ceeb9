"""kill -9 during ingest: every span the collector acknowledged is in the SQLite file after a restart."""

from __future__ import annotations

import os
import threading
import time

import pytest
import requests
from collector_proc import CollectorProcess, alive, children
from otlp_builders import body, span

from eventlens.collector.storage.protocol import open_store


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "2-ingest-workers"])
def test_acknowledged_spans_survive_kill_9(tmp_path, workers):
    """Spans of every 200 answer are stored, although the collector was killed with SIGKILL mid-stream; with
    ingest workers, the orphaned workers exit on their own."""
    db = tmp_path / "store.db"
    args = ("--store", f"sqlite:///{db}", "--http-port", "0", "--grpc-port", "-1", "--log-level", "warning",
            "--ingest-workers", str(workers))
    proc = CollectorProcess(*args, log=tmp_path / "collector.log").wait_ready()
    workers_before = children(proc.proc.pid)
    assert len(workers_before) >= workers
    acked: list[tuple[str, str]] = []
    stop = threading.Event()

    def send(worker: int) -> None:
        session = requests.Session()
        while not stop.is_set():
            batch = [span(f"w{worker}", trace_id=os.urandom(16)) for _ in range(50)]
            try:
                resp = session.post(f"{proc.url}/v1/traces", data=body(batch),
                                    headers={"Content-Type": "application/x-protobuf"}, timeout=30)
            except requests.RequestException:
                return
            if resp.status_code == 200:
                acked.extend((s.trace_id.hex(), s.span_id.hex()) for s in batch)

    senders = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    for t in senders:
        t.start()
    deadline = time.monotonic() + 120
    while len(acked) < 2000:
        assert time.monotonic() < deadline, "the collector acknowledged too little"
        time.sleep(0.05)
    proc.kill9()  # senders are mid-request
    stop.set()
    for t in senders:
        t.join(60)
    snapshot = list(acked)
    deadline = time.monotonic() + 30
    while any(alive(p) for p in workers_before):
        assert time.monotonic() < deadline, "orphaned ingest workers did not exit"
        time.sleep(0.1)

    restarted = CollectorProcess(*args, log=tmp_path / "collector.log").wait_ready()
    try:
        health = requests.get(f"{restarted.url}/api/health", timeout=30).json()
        assert health["spans_stored"] >= len(snapshot)
    finally:
        assert restarted.terminate() == 0
    store = open_store(f"sqlite:///{db}")
    try:
        missing = [ids for ids in snapshot if store.get_span(*ids) is None]
    finally:
        store.close()
    assert missing == []


def test_port_in_use_is_a_clear_error(tmp_path):
    """Starting on a port another collector holds exits 1 with a message, not a traceback."""
    first = CollectorProcess("--store", f"sqlite:///{tmp_path / 'a.db'}", "--http-port", "0", "--grpc-port", "-1",
                             log=tmp_path / "a.log").wait_ready()
    try:
        second = CollectorProcess("--store", f"sqlite:///{tmp_path / 'b.db'}", "--http-port", str(first.http_port),
                                  "--grpc-port", "-1", log=tmp_path / "b.log")
        assert second.proc.wait(60) == 1
        second._reader.join(10)
        assert "cannot start" in (tmp_path / "b.log").read_text()
    finally:
        first.terminate()
