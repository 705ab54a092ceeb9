"""Histograms aggregated in-process and merged into the OpenTelemetry SDK's aggregation at collection time.

A synchronous SDK `Histogram.record()` costs several µs (measurement object, exemplar filter, attribute
copy and hashing, per-reader dispatch). eventlens records a duration for every message, so instead each
measurement goes into a local per-attribute-set entry (bucket counts, sum, min, max) and `flush()` —
called from an observable-instrument callback, which the SDK runs before it collects — adds those totals
to the SDK's explicit-bucket aggregation of every reader. The exported points are the ones the SDK would
have produced (same names, buckets, counts, sums, min, max), minus exemplars.

The first measurement of every attribute set goes through the public `record()` (so the SDK creates its
aggregations, applying the reader's views); the merge is used only when every aggregation of that set is
the SDK's explicit-bucket histogram with our boundaries and no view filters attributes. Otherwise (another
SDK, a view changing the aggregation, an API-only meter, or an SDK private that `_sdk_compat.probe_metrics`
found missing) every measurement uses `record()` as before. Only `_sdk_compat` touches the SDK's privates.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Sequence
from typing import Any

from eventlens.instrumentation import _sdk_compat
from eventlens.instrumentation._safety import log_once

_INF = float("inf")


class _Entry:
    """Pending totals of one attribute set since the last flush (None: this set records through the SDK)."""

    __slots__ = ("attrs", "counts", "max", "min", "n", "sum")

    def __init__(self, attrs: dict[str, Any], buckets: int) -> None:
        self.attrs = attrs
        self.counts = [0] * buckets
        self.n = 0
        self.sum = 0.0
        self.min = float("inf")
        self.max = float("-inf")


def _merge(aggregation: Any, entry: _Entry) -> None:
    """Add an entry's totals to one SDK explicit-bucket aggregation (through `_sdk_compat`)."""
    _sdk_compat.merge_histogram(aggregation, entry.counts, entry.sum, entry.min, entry.max)


class LocalHistograms:
    """One histogram instrument's measurements, aggregated locally and merged into the SDK on `flush()`."""

    def __init__(self, instrument: Any, bounds: Sequence[float], *, merge: bool = True) -> None:
        self.instrument = instrument
        self.bounds = tuple(bounds)
        self.merge = merge  # False: the SDK's privates probed missing, every measurement uses `record()`
        self._lock = threading.Lock()
        self._entries: dict[int, _Entry | None] = {}

    def record(self, value: float, attrs: dict[str, Any]) -> None:
        """Record one measurement for `attrs` (a cached dict: one dict object per attribute set)."""
        if not 0.0 <= value < _INF:  # as the SDK: negative, NaN and infinite measurements are dropped
            return
        key = id(attrs)
        i = bisect_left(self.bounds, value)
        with self._lock:
            entry = self._entries.get(key, self)
            if isinstance(entry, _Entry):
                entry.counts[i] += 1
                entry.n += 1
                entry.sum += value
                entry.min = min(entry.min, value)
                entry.max = max(entry.max, value)
                return
        if entry is None:
            self.instrument.record(value, attrs)
        else:
            self._first(value, attrs, key)

    def _first(self, value: float, attrs: dict[str, Any], key: int) -> None:
        self.instrument.record(value, attrs)  # the SDK creates its aggregations (views applied)
        try:
            mergeable = self.merge and _sdk_compat.histogram_aggregations(self.instrument, attrs,
                                                                           self.bounds) is not None
        except Exception as exc:
            log_once("metrics.histogram", exc)
            mergeable = False
        with self._lock:
            if key not in self._entries:
                self._entries[key] = _Entry(attrs, len(self.bounds) + 1) if mergeable else None

    def flush(self) -> None:
        """Merge every pending total into the SDK's aggregations (called just before the SDK collects)."""
        taken: list[_Entry] = []
        with self._lock:
            for key, entry in self._entries.items():
                if entry is not None and entry.n:
                    self._entries[key] = _Entry(entry.attrs, len(entry.counts))
                    taken.append(entry)
        for entry in taken:
            try:
                aggregations = _sdk_compat.histogram_aggregations(self.instrument, entry.attrs, self.bounds)
                if aggregations is None:  # the SDK changed under us (e.g. a reader added): keep count and sum
                    log_once("metrics.histogram.merge", RuntimeError("histogram merge no longer possible"))
                    mean = entry.sum / entry.n
                    for _ in range(entry.n):
                        self.instrument.record(mean, entry.attrs)
                    continue
                for aggregation in aggregations:
                    _merge(aggregation, entry)
            except Exception as exc:
                log_once("metrics.histogram.flush", exc)
