"""Cyclic-GC settings for the processes that decode and store spans.

Decoding a batch makes many short-lived container objects (records, attribute dicts), nearly all freed by
reference counting. With CPython's default young-generation threshold (700 allocations) a 4,000-span batch
triggers dozens of collections that find nothing to free; measured 2.7 µs of CPU per span.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 100_000
"""Allocations between young-generation collections (CPython's default: 700). Cycles are still collected."""


def tune_for_ingest() -> None:
    """Freeze what is loaded so far (it lives as long as the process) and collect the young generation rarely."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
