"""The global memory limit: requests in flight reserve an estimate of what they will cost before they cost it.

Decoding an OTLP request takes several times its body size (measured: up to 16× for protobuf bodies made of tiny
attributes, events or nested maps), and the decoded spans stay in memory until they are committed. So each
request reserves `expansion` × its body size from a budget (the memory limit less what the process used when it
started, at least half the limit) before its body is read, and gives it back once it is answered. A request
that does not fit is refused at once with 429 / RESOURCE_EXHAUSTED and Retry-After, before the process grows
past the limit; the first request is always taken when nothing else is in flight, so a valid request is never
refused forever.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from eventlens.collector.pipeline import admits

DECODE_EXPANSION = 16
"""Memory a request takes while decoded and queued, per byte of body (protobuf worst case measured: 15.7)."""
RAW_EXPANSION = 2
"""The same with ingest workers: the collector process only holds the raw body until a worker commits it."""


class MemoryLimitReached(RuntimeError):
    """The request does not fit in the memory budget now; the client should retry later."""


def resident_bytes() -> int:
    """This process's resident set size (Linux `/proc/self/statm`; 0 where it cannot be read)."""
    try:
        return int(Path("/proc/self/statm").read_bytes().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class Reservation:
    """Memory reserved for one request; `release()` gives it back (idempotent)."""

    def __init__(self, budget: MemoryBudget, nbytes: int) -> None:
        self._budget = budget
        self.nbytes = nbytes

    def grow(self, body_bytes: int) -> None:
        """Reserve for a body of `body_bytes` now (e.g. once a gzip body is inflated); raises
        `MemoryLimitReached` when the difference does not fit (the reservation is kept as it was)."""
        more = self._budget.cost(body_bytes) - self.nbytes
        if more > 0:
            self._budget._take(more, must_fit=True)
            self.nbytes += more

    def release(self) -> None:
        """Return the reserved bytes to the budget."""
        if self.nbytes:
            self._budget._give_back(self.nbytes)
            self.nbytes = 0


class MemoryBudget:
    """Bytes that requests in flight may use (see the module docstring); thread-safe."""

    def __init__(self, limit_bytes: int, *, baseline_bytes: int = 0, expansion: int = DECODE_EXPANSION) -> None:
        if limit_bytes < 1 or expansion < 1:
            raise ValueError("limit_bytes and expansion must be positive")
        self.limit_bytes = limit_bytes
        self.capacity = max(limit_bytes - baseline_bytes, limit_bytes // 2)
        """What requests may reserve: the limit less the process's size at startup, but at least half the limit
        (a collector embedded in a larger process still takes requests)."""
        self.expansion = expansion
        self._reserved = 0
        self._lock = threading.Lock()

    @property
    def reserved(self) -> int:
        """Bytes reserved by requests in flight."""
        return self._reserved

    def cost(self, body_bytes: int) -> int:
        """The memory a request with a body of `body_bytes` is expected to take."""
        return max(1, body_bytes) * self.expansion

    def reserve(self, body_bytes: int) -> Reservation:
        """Reserve the cost of a body of `body_bytes`; raises `MemoryLimitReached` when it does not fit now."""
        cost = self.cost(body_bytes)
        self._take(cost, must_fit=False)
        return Reservation(self, cost)

    def _take(self, cost: int, *, must_fit: bool) -> None:
        """Reserve `cost` bytes; unless `must_fit`, also when nothing else is reserved (see `admits`)."""
        with self._lock:
            fits = self._reserved + cost <= self.capacity if must_fit else admits(self._reserved, cost, self.capacity)
            if not fits:
                raise MemoryLimitReached(
                    f"memory limit reached ({self._reserved >> 20} MiB of {self.capacity >> 20} MiB reserved by "
                    f"requests in flight; this one needs {cost >> 20} MiB more), retry later")
            self._reserved += cost

    def _give_back(self, nbytes: int) -> None:
        with self._lock:
            self._reserved -= nbytes
