"""An in-memory `LagStore`: what `eventlens lag` polls into when no store is given, and unit tests' store."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from eventlens.collector.model import LagSample


class MemoryLagStore:
    """Lag samples in a list, thread-safe; implements `LagStore` and keeps nothing after the process ends."""

    def __init__(self) -> None:
        self._samples: list[LagSample] = []
        self._lock = threading.Lock()

    def write_lag_samples(self, samples: Sequence[LagSample]) -> None:
        """Append samples."""
        with self._lock:
            self._samples.extend(samples)

    def lag_samples(self, *, group: str | None = None, since_ns: int | None = None,
                    until_ns: int | None = None) -> list[LagSample]:
        """Samples (oldest first), optionally for one group and a time window [since_ns, until_ns)."""
        with self._lock:
            rows = [s for s in self._samples
                    if (group is None or s.group == group)
                    and (since_ns is None or s.observed_at_ns >= since_ns)
                    and (until_ns is None or s.observed_at_ns < until_ns)]
        return sorted(rows, key=lambda s: s.observed_at_ns)

    def forget_group(self, group: str) -> None:
        """Drop every sample of a group."""
        with self._lock:
            self._samples = [s for s in self._samples if s.group != group]

    def prune(self, before_ns: int) -> int:
        """Drop samples observed before `before_ns` (keeps a long `--watch` bounded); returns how many."""
        with self._lock:
            kept = [s for s in self._samples if s.observed_at_ns >= before_ns]
            dropped = len(self._samples) - len(kept)
            self._samples = kept
        return dropped
