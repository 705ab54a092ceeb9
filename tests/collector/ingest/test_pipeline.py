"""The ingest pipeline: bounded queue, coalesced writes, futures resolved only after the store commit."""

from __future__ import annotations

import threading
import time

import pytest

from eventlens.collector.model import SpanKind, SpanRecord
from eventlens.collector.pipeline import IngestPipeline, PipelineClosed, QueueFull
from eventlens.collector.storage.protocol import StoreError


def spans(n: int, prefix: str = "a") -> list[SpanRecord]:
    return [SpanRecord(f"{prefix:0>32}", f"{i:016x}", None, "s", SpanKind.INTERNAL, "svc", 1, 2) for i in range(n)]


def wait_until(cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def test_future_resolves_after_the_write(memory_store):
    """A submitted batch is in the store when its future resolves."""
    pipe = IngestPipeline(memory_store).start()
    result = pipe.submit(spans(3)).result(10)
    assert result.spans == 3 and memory_store.span_count() == 3
    pipe.stop()


def test_future_waits_for_a_slow_store(memory_store):
    """While the store has not committed, the future is not done."""
    memory_store.gate = threading.Event()
    pipe = IngestPipeline(memory_store).start()
    future = pipe.submit(spans(1))
    time.sleep(0.05)
    assert not future.done()
    memory_store.gate.set()
    future.result(10)
    pipe.stop()


def test_queued_batches_are_coalesced(memory_store):
    """Batches queued while the writer is busy go to the store in one write."""
    memory_store.gate = threading.Event()
    pipe = IngestPipeline(memory_store, max_batch_spans=100).start()
    first = pipe.submit(spans(1, "f"))
    wait_until(lambda: pipe.queued_spans == 0)  # the writer holds the first batch
    later = [pipe.submit(spans(10, str(i))) for i in range(5)]
    memory_store.gate.set()
    for f in [first, *later]:
        f.result(10)
    assert memory_store.writes == [1, 50]
    pipe.stop()


def test_coalescing_respects_max_batch(memory_store):
    """No write carries more than max_batch_spans spans (unless one batch alone is bigger)."""
    memory_store.gate = threading.Event()
    pipe = IngestPipeline(memory_store, max_batch_spans=25).start()
    pipe.submit(spans(1, "f"))
    wait_until(lambda: pipe.queued_spans == 0)
    futures = [pipe.submit(spans(10, str(i))) for i in range(5)]
    memory_store.gate.set()
    for f in futures:
        f.result(10)
    assert memory_store.writes[1:] == [20, 20, 10]
    pipe.stop()


def test_full_queue_refuses_at_once(memory_store):
    """When the queue holds max_queue_spans spans, submit raises QueueFull immediately."""
    memory_store.gate = threading.Event()
    pipe = IngestPipeline(memory_store, max_queue_spans=10).start()
    pipe.submit(spans(1, "f"))
    wait_until(lambda: pipe.queued_spans == 0)
    pipe.submit(spans(8, "q"))
    assert not pipe.has_room(5)
    with pytest.raises(QueueFull):
        pipe.submit(spans(5, "r"))
    memory_store.gate.set()
    pipe.stop()
    assert memory_store.span_count() == 9


def test_oversized_batch_is_taken_when_queue_is_empty(memory_store):
    """A batch bigger than the whole queue is accepted when nothing is queued (never refused forever)."""
    pipe = IngestPipeline(memory_store, max_queue_spans=5).start()
    pipe.submit(spans(20)).result(10)
    assert memory_store.span_count() == 20
    pipe.stop()


def test_store_error_fails_every_waiter(memory_store):
    """A failing write fails the futures of every batch it carried."""
    memory_store.fail = StoreError("disk full")
    pipe = IngestPipeline(memory_store).start()
    future = pipe.submit(spans(2))
    with pytest.raises(StoreError, match="disk full"):
        future.result(10)
    memory_store.fail = None
    assert pipe.submit(spans(2)).result(10).spans == 2  # the writer keeps going
    pipe.stop()


def test_stop_writes_out_the_queue_then_refuses(memory_store):
    """stop() commits everything queued; later submits raise PipelineClosed."""
    memory_store.gate = threading.Event()
    pipe = IngestPipeline(memory_store).start()
    futures = [pipe.submit(spans(3, str(i))) for i in range(4)]
    stopper = threading.Thread(target=pipe.stop)
    stopper.start()
    wait_until(lambda: not pipe.has_room())
    memory_store.gate.set()
    stopper.join(10)
    assert all(f.result(0).spans == 3 for f in futures) and memory_store.span_count() == 12
    with pytest.raises(PipelineClosed):
        pipe.submit(spans(1))


def test_empty_batch_resolves_without_a_write(memory_store):
    """An empty request is acknowledged without touching the store."""
    pipe = IngestPipeline(memory_store).start()
    assert pipe.submit([]).result(1).spans == 0 and memory_store.writes == []
    pipe.stop()
