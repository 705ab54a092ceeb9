"""Ingest workers: OTLP trace bodies decoded and stored in separate processes, so ingest uses every core.

One Python process decodes and stores on about one core (the GIL). With `ingest_workers = N` the receivers
(OTLP/HTTP, OTLP/gRPC, Kafka) hand each request body or record, undecoded, to a pool of N worker processes; a
worker decodes it together with the other bodies queued meanwhile and writes all their spans in one store
transaction (its own connection to the same store; SQLite writers take turns on the file's write lock). A
request is still answered only after that commit. Bodies wait in a queue bounded in bytes: when it is full the
receiver answers 429 at once, as in-process. A worker that dies fails the bodies it held with a retryable error
and the pool is started anew. When a task's shared transaction fails, each body is written again on its own,
so a body the store can never take (a `StoreDataError`) fails alone, answered as permanent (400).
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from eventlens.collector import gctune
from eventlens.collector.model import SpanRecord
from eventlens.collector.otlp import DecodeError, SpanLimits, decode_trace_request, set_span_limits
from eventlens.collector.pipeline import PipelineClosed, PipelineObserver, QueueFull, admits, batch_length
from eventlens.collector.storage.protocol import Store, StoreDataError, StoreError, open_store

log = logging.getLogger(__name__)

BYTES_PER_SPAN = 512
"""How the span-denominated queue and batch settings turn into body bytes in worker mode (the bodies are not
decoded yet; a typical Kafka span is 300-700 bytes of OTLP protobuf)."""


@dataclass(frozen=True, slots=True)
class StoredBody:
    """What a worker did with one request body: its spans are committed; `rejected` single spans were not."""

    spans: int
    rejected: int = 0
    reason: str = ""


class WorkerFailed(RuntimeError):
    """The worker process holding this body died before committing it; the client should retry."""


@dataclass(slots=True)
class _Job:
    body: bytes
    content_type: str
    future: Future[StoredBody]


# Outcome kinds a worker returns per body (plain tuples: cheap to pickle).
_OK, _MALFORMED, _STORE_ERROR, _UNSTORABLE = 0, 1, 2, 3
Outcome = tuple[int, int, int, str]
"""(kind, spans, rejected, reason or error message)."""

_worker: dict[str, Store] = {}
"""In a worker process: its store, opened once by the initializer."""


def _watch_parent(parent: int) -> None:
    """A worker ends itself when the collector process is gone (kill -9 leaves no one to stop it)."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)


def _init_worker(store_url: str, parent: int, limits: SpanLimits) -> None:
    """Worker start: ignore Ctrl-C (the collector stops its workers in order), apply the collector's span limits
    and open the store once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    set_span_limits(limits)
    threading.Thread(target=_watch_parent, args=(parent,), name="eventlens-parent-watch", daemon=True).start()
    _worker["store"] = open_store(store_url)
    gctune.tune_for_ingest()


def decode_and_store(store: Store, bodies: list[tuple[bytes, str]]) -> tuple[list[Outcome], int, float]:
    """Decode every body and write all their spans in one transaction: (outcome per body, new spans, seconds).

    A malformed body fails alone. When the transaction fails, each body is written again alone, so one body the
    store can never hold fails alone (`_UNSTORABLE`); a store outage fails every body written (`_STORE_ERROR`).
    """
    outcomes: list[Outcome] = []
    per_body: list[list[SpanRecord]] = []
    for body, content_type in bodies:
        try:
            decoded = decode_trace_request(body, content_type)
        except DecodeError as exc:
            outcomes.append((_MALFORMED, 0, 0, str(exc)))
            per_body.append([])
            continue
        per_body.append(decoded.spans)
        outcomes.append((_OK, len(decoded.spans), decoded.rejected, decoded.reason))
    started = time.perf_counter()
    spans = [s for group in per_body for s in group]
    try:
        new = store.write_spans(spans) if spans else 0
    except StoreError as exc:
        if sum(1 for group in per_body if group) <= 1:
            return [_failed(o, exc) for o in outcomes], 0, time.perf_counter() - started
        new = 0
        for i, group in enumerate(per_body):
            if not group:
                continue
            try:
                new += store.write_spans(group)
            except StoreError as alone:
                outcomes[i] = _failed(outcomes[i], alone)
    return outcomes, new, time.perf_counter() - started


def _failed(outcome: Outcome, error: StoreError) -> Outcome:
    """The outcome of a decoded body whose write failed with `error` (a malformed one stays as it was)."""
    if outcome[0] != _OK:
        return outcome
    return (_UNSTORABLE if isinstance(error, StoreDataError) else _STORE_ERROR, outcome[1], outcome[2], str(error))


LINGER_S = 0.002
"""How long a free worker waits for a fuller batch while other workers are busy (never when all are idle)."""


def should_linger(queued_bytes: int, busy_workers: int, max_batch_bytes: int) -> bool:
    """Whether a free worker should wait (up to `LINGER_S`) for more bodies before taking its task.

    Only while another worker is busy, so that requests stay in flight, and only until half a batch is queued:
    bodies arrive one by one as the busy worker's senders get their answers, and a worker that took the first
    one alone would commit small transactions from then on (measured: 8% fewer spans/s at 16 senders).
    """
    return busy_workers > 0 and queued_bytes < max_batch_bytes // 2


def _work(bodies: list[tuple[bytes, str]]) -> tuple[list[Outcome], int, float]:
    return decode_and_store(_worker["store"], bodies)


class WorkerPool:
    """N worker processes behind a bounded byte queue; `submit` returns a future resolved after the commit."""

    def __init__(self, store_url: str, workers: int, *, max_queue_bytes: int,
                 max_batch_bytes: int = 8192 * BYTES_PER_SPAN, observer: PipelineObserver | None = None,
                 limits: SpanLimits | None = None) -> None:
        if workers < 1 or max_queue_bytes < 1 or max_batch_bytes < 1:
            raise ValueError("workers, max_queue_bytes and max_batch_bytes must be positive")
        self.store_url = store_url
        self.limits = limits or SpanLimits()
        self.workers = workers
        self.max_queue_bytes = max_queue_bytes
        self.max_batch_bytes = max_batch_bytes
        self._observer = observer or PipelineObserver()
        self._cond = threading.Condition()
        self._queue: deque[_Job] = deque()
        self._queued_bytes = 0
        self._inflight = 0
        self._closing = False
        self._executor: ProcessPoolExecutor | None = None
        self._broken = False
        self._thread: threading.Thread | None = None

    def _spawn_executor(self) -> ProcessPoolExecutor:
        # spawn, not fork: the collector runs threads (HTTP, writer), and forking a threaded process is unsafe.
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker, initargs=(self.store_url, os.getpid(), self.limits))

    @property
    def queued_bytes(self) -> int:
        """Body bytes waiting for a worker."""
        return self._queued_bytes

    def worker_pids(self) -> list[int]:
        """Process ids of the running workers (for operators and tests)."""
        executor = self._executor
        processes = getattr(executor, "_processes", None) or {}
        return sorted(p.pid for p in processes.values() if p.pid is not None)

    @property
    def closing(self) -> bool:
        """True once `stop()` was called."""
        return self._closing

    def has_room(self, nbytes: int = 1) -> bool:
        """True when a body of `nbytes` would be queued now (a cheap check before reading it)."""
        return not self._closing and admits(self._queued_bytes, nbytes, self.max_queue_bytes)

    def start(self) -> WorkerPool:
        """Start the workers (their store is opened before the first body reaches them) and the dispatcher."""
        if self._thread is None:
            self._executor = self._spawn_executor()
            # Start every worker now, so a broken store or import fails at startup, not on the first request.
            for warm in [self._executor.submit(_noop) for _ in range(self.workers)]:
                warm.result(timeout=120)
            self._thread = threading.Thread(target=self._run, name="eventlens-ingest-dispatch", daemon=True)
            self._thread.start()
        return self

    def submit(self, body: bytes, content_type: str) -> Future[StoredBody]:
        """Queue a body; the future resolves once its spans are committed, or fails with `DecodeError` (the body
        is malformed), `StoreError` or `WorkerFailed` (retryable). Raises `QueueFull` / `PipelineClosed` at once."""
        future: Future[StoredBody] = Future()
        with self._cond:
            if self._closing:
                raise PipelineClosed("the collector is shutting down")
            if not admits(self._queued_bytes, len(body), self.max_queue_bytes):
                raise QueueFull(f"ingest queue full ({self._queued_bytes} of {self.max_queue_bytes} bytes queued)")
            self._queue.append(_Job(body, content_type, future))
            self._queued_bytes += len(body)
            depth = self._queued_bytes
            self._cond.notify_all()
        self._observer.depth_bytes(depth)
        return future

    def stop(self, timeout: float | None = 60.0) -> None:
        """Refuse new bodies, finish the queued ones, then stop the workers."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)

    def _take(self) -> list[_Job] | None:
        """The next task's bodies (waiting for a free worker), or None when stopped and drained."""
        with self._cond:
            while True:
                if self._broken:
                    self._restart()
                if self._queue and self._inflight < self.workers:
                    break
                if self._closing and not self._queue and not self._inflight:
                    return None
                self._cond.wait()
            deadline = time.monotonic() + LINGER_S
            while should_linger(self._queued_bytes, self._inflight, self.max_batch_bytes) and not self._closing \
                    and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            take = batch_length((len(j.body) for j in self._queue), self._queued_bytes,
                                self.workers - self._inflight, self.max_batch_bytes)
            jobs = [self._queue.popleft() for _ in range(take)]
            self._queued_bytes -= sum(len(j.body) for j in jobs)
            self._inflight += 1
            depth = self._queued_bytes
        self._observer.depth_bytes(depth)
        return jobs

    def _restart(self) -> None:
        """Replace a broken executor (a worker died); called with the lock held, from the dispatcher thread."""
        log.warning("an ingest worker died; starting the worker pool anew")
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        self._executor = self._spawn_executor()
        self._broken = False

    def _run(self) -> None:
        # One thread submits, so tasks reach the executor in queue order.
        while (jobs := self._take()) is not None:
            executor = self._executor
            assert executor is not None
            try:
                task = executor.submit(_work, [(j.body, j.content_type) for j in jobs])
            except (BrokenProcessPool, RuntimeError) as exc:
                self._done(jobs, None, exc, executor)
                continue
            task.add_done_callback(functools.partial(self._finished, jobs, executor))

    def _finished(self, jobs: list[_Job], executor: ProcessPoolExecutor,
                  task: Future[tuple[list[Outcome], int, float]]) -> None:
        self._done(jobs, task, None, executor)

    def _done(self, jobs: list[_Job], task: Future[tuple[list[Outcome], int, float]] | None,
              error: BaseException | None, executor: ProcessPoolExecutor) -> None:
        try:
            if error is None and task is not None:
                error = task.exception()
            if error is not None:
                failure = WorkerFailed(f"ingest worker failed, retry later: {error}")
                self._observer.store_failed(0, 0.0, error)
                for job in jobs:
                    job.future.set_exception(failure)
                if isinstance(error, BrokenProcessPool):
                    with self._cond:  # every task of a broken pool fails: restart once, not per task
                        self._broken = self._broken or executor is self._executor
                return
            assert task is not None
            outcomes, new, seconds = task.result()
            self._settle(jobs, outcomes, new, seconds)
        finally:
            with self._cond:
                self._inflight -= 1
                self._cond.notify_all()

    def _settle(self, jobs: list[_Job], outcomes: list[Outcome], new: int, seconds: float) -> None:
        stored = sum(o[1] for o in outcomes if o[0] == _OK)
        failed = [o for o in outcomes if o[0] in (_STORE_ERROR, _UNSTORABLE)]
        if failed:
            self._observer.store_failed(sum(o[1] for o in failed), seconds, StoreError(failed[0][3]))
        if stored:
            self._observer.stored(stored, new, seconds)
        for job, (kind, spans, rejected, reason) in zip(jobs, outcomes, strict=True):
            if kind == _OK:
                job.future.set_result(StoredBody(spans, rejected, reason))
            elif kind == _MALFORMED:
                job.future.set_exception(DecodeError(reason))
            elif kind == _UNSTORABLE:
                job.future.set_exception(StoreDataError(reason))
            else:
                job.future.set_exception(StoreError(reason))


def _noop() -> None:
    """A task that only proves a worker is up (its initializer ran)."""
