"""The ingest pipeline: a bounded queue of span batches and one writer thread that stores them.

Receivers `submit()` a batch and wait on the returned future; the writer thread coalesces queued batches into
one `SpanWriter.write_spans` call (one transaction) and resolves every future only after that call returned,
so a receiver acknowledges a request only once its spans are durably committed. When the queue holds
`max_queue_spans` spans or `max_queue_bytes` bytes of request bodies, `submit()` raises `QueueFull` at once: the
receiver answers with OTLP's retryable "try again later" instead of buffering without bound or dropping data.

When a coalesced transaction fails, each of its batches is written again on its own, so one batch the store can
never take (a `StoreDataError`) fails alone and the others are stored.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from eventlens.collector.model import SpanRecord
from eventlens.collector.storage.protocol import SpanWriter

log = logging.getLogger(__name__)


class QueueFull(RuntimeError):
    """The ingest queue cannot take this batch now; the client should retry later."""


class PipelineClosed(RuntimeError):
    """The pipeline is stopping and takes no more batches."""


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What the store did with one submitted batch."""

    spans: int
    """Spans of this batch, now committed."""


@dataclass(slots=True)
class _Item:
    spans: Sequence[SpanRecord]
    future: Future[BatchResult]
    nbytes: int


class PipelineObserver:
    """Hooks for metrics; the default does nothing (the service plugs Prometheus in)."""

    def stored(self, spans: int, new: int, seconds: float) -> None:
        """A coalesced write of `spans` spans (`new` of them not stored before) committed in `seconds`."""

    def store_failed(self, spans: int, seconds: float, error: BaseException) -> None:
        """A coalesced write of `spans` spans failed."""

    def depth(self, spans: int) -> None:
        """The queue now holds `spans` spans."""

    def depth_bytes(self, nbytes: int) -> None:
        """The ingest workers' queue now holds `nbytes` bytes of undecoded bodies."""


def admits(queued: int, size: int, capacity: int) -> bool:
    """Whether a bounded queue holding `queued` (spans or bytes) takes an item of `size` more: when it fits, and
    always when the queue is empty, so that no valid request larger than the whole queue is refused forever."""
    return queued == 0 or queued + size <= capacity


def batch_length(sizes: Iterable[int], queued: int, takers: int, max_batch: int) -> int:
    """How many queued items (`sizes`, oldest first) the next batch takes: at least one, and within a share of
    the queue, `queued` / `takers` (capped at `max_batch`).

    The writer thread is the only taker; ingest workers share the queue among the free ones, which keeps one
    worker from taking everything while another is about to be free and would then commit bodies one at a
    time (small transactions cost the most per span).
    """
    limit = min(max_batch, -(-queued // takers))
    size, take = 0, 0
    for n in sizes:
        if take and size + n > limit:
            break
        size += n
        take += 1
    return take


class IngestPipeline:
    """Bounded queue + writer thread in front of a `SpanWriter` (see the module docstring)."""

    def __init__(self, writer: SpanWriter, *, max_queue_spans: int = 100_000, max_batch_spans: int = 8192,
                 max_queue_bytes: int = 64 << 20, observer: PipelineObserver | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        if max_queue_spans < 1 or max_batch_spans < 1 or max_queue_bytes < 1:
            raise ValueError("max_queue_spans, max_batch_spans and max_queue_bytes must be positive")
        self._writer = writer
        self.max_queue_spans = max_queue_spans
        self.max_queue_bytes = max_queue_bytes
        self._queued_bytes = 0
        self.max_batch_spans = max_batch_spans
        self._observer = observer or PipelineObserver()
        self._clock = clock
        self._queue: deque[_Item] = deque()
        self._queued_spans = 0
        self._cond = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None

    @property
    def queued_spans(self) -> int:
        """Spans waiting to be written (not counting the batch being written)."""
        return self._queued_spans

    @property
    def closing(self) -> bool:
        """True once `stop()` was called: no batch is taken any more."""
        return self._closing

    @property
    def queued_bytes(self) -> int:
        """Request-body bytes of the batches waiting to be written."""
        return self._queued_bytes

    def has_room(self, spans: int = 1, nbytes: int = 0) -> bool:
        """True when a batch of `spans` spans from `nbytes` body bytes would be accepted now (a cheap check
        before reading a body)."""
        return not self._closing and admits(self._queued_spans, spans, self.max_queue_spans) \
            and admits(self._queued_bytes, nbytes, self.max_queue_bytes)

    def start(self) -> IngestPipeline:
        """Start the writer thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="eventlens-ingest-writer", daemon=True)
            self._thread.start()
        return self

    def submit(self, spans: Sequence[SpanRecord], nbytes: int = 0) -> Future[BatchResult]:
        """Queue a batch decoded from `nbytes` body bytes; the future resolves once it is committed (or fails
        with the store's error: a `StoreDataError` when this batch alone can never be stored).

        Raises `QueueFull` when the queue has no room (a batch larger than the whole queue is still taken
        when the queue is empty, so no valid request is refused forever), `PipelineClosed` when stopping.
        """
        future: Future[BatchResult] = Future()
        if not spans:
            future.set_result(BatchResult(0))
            return future
        with self._cond:
            if self._closing:
                raise PipelineClosed("the collector is shutting down")
            if not admits(self._queued_spans, len(spans), self.max_queue_spans):
                raise QueueFull(f"ingest queue full ({self._queued_spans} of {self.max_queue_spans} spans queued)")
            if not admits(self._queued_bytes, nbytes, self.max_queue_bytes):
                raise QueueFull(f"ingest queue full ({self._queued_bytes} of {self.max_queue_bytes} bytes queued)")
            self._queue.append(_Item(spans, future, nbytes))
            self._queued_spans += len(spans)
            self._queued_bytes += nbytes
            depth = self._queued_spans
            self._cond.notify()
        self._observer.depth(depth)
        return future

    def stop(self, timeout: float | None = 30.0) -> None:
        """Refuse new batches, write everything queued, then end the writer thread."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def _take(self) -> list[_Item] | None:
        with self._cond:
            while not self._queue:
                if self._closing:
                    return None
                self._cond.wait()
            take = batch_length((len(i.spans) for i in self._queue), self._queued_spans, 1, self.max_batch_spans)
            items = [self._queue.popleft() for _ in range(take)]
            self._queued_spans -= sum(len(i.spans) for i in items)
            self._queued_bytes -= sum(i.nbytes for i in items)
            depth = self._queued_spans
        self._observer.depth(depth)
        return items

    def _run(self) -> None:
        while (items := self._take()) is not None:
            self._write(items)

    def _write(self, items: list[_Item]) -> None:
        """Write the items in one transaction; when it fails, write each item alone (see the module docstring)."""
        if not self._write_together(items) and len(items) > 1:
            for item in items:
                self._write_together([item])

    def _write_together(self, items: list[_Item]) -> bool:
        """One transaction for every item; True when committed. A failure of a single item fails its future;
        a failure of several leaves them to be written one by one."""
        batch: list[SpanRecord] = []
        for item in items:
            batch.extend(item.spans)
        started = self._clock()
        try:
            new = self._writer.write_spans(batch)
        except BaseException as exc:  # every waiter must learn about the failure, whatever it is
            elapsed = self._clock() - started
            log.warning("storing %d spans of %d requests failed: %s", len(batch), len(items), exc)
            self._observer.store_failed(len(batch), elapsed, exc)
            if not isinstance(exc, Exception):
                for item in items:
                    item.future.set_exception(exc)
                raise
            if len(items) == 1:
                items[0].future.set_exception(exc)
            return False
        self._observer.stored(len(batch), new, self._clock() - started)
        for item in items:
            item.future.set_result(BatchResult(len(item.spans)))
        return True
