"""Fixtures for the ingest tests: an in-memory store (unit tests of the pipeline and receivers only)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from eventlens.collector.model import SpanRecord


class MemoryStore:
    """A minimal dict-backed store for unit tests: idempotent on (trace id, span id), optional failure/slowness."""

    def __init__(self) -> None:
        self.spans: dict[tuple[str, str], SpanRecord] = {}
        self.writes: list[int] = []
        self.fail: Exception | None = None
        self.gate: threading.Event | None = None
        self.closed = False
        self.lock = threading.Lock()

    def write_spans(self, spans: Sequence[SpanRecord]) -> int:
        if self.gate is not None:
            self.gate.wait(30)
        if self.fail is not None:
            raise self.fail
        with self.lock:
            new = 0
            for s in spans:
                if (s.trace_id, s.span_id) not in self.spans:
                    new += 1
                self.spans[(s.trace_id, s.span_id)] = s
            self.writes.append(len(spans))
            return new

    def get_trace(self, trace_id: str) -> list[SpanRecord]:
        return sorted((s for (t, _), s in self.spans.items() if t == trace_id), key=lambda s: s.start_ns)

    def get_trace_page(self, trace_id: str, *, after=None, limit: int = 1000) -> list[SpanRecord]:
        ordered = sorted((s for (t, _), s in self.spans.items() if t == trace_id),
                         key=lambda s: (s.start_ns, s.span_id))
        return [s for s in ordered if after is None or (s.start_ns, s.span_id) > after][:limit]

    def find_spans(self, *, event_id=None, key=None, topic=None, partition=None, offset=None, service=None,
                   start_ns=None, end_ns=None, limit=1000):
        out = [s for s in self.spans.values()
               if (topic is None or s.messaging.topic == topic) and (service is None or s.service == service)
               and (partition is None or s.messaging.partition == partition)
               and (offset is None or s.messaging.offset == offset) and (key is None or s.messaging.key == key)
               and (event_id is None or s.messaging.event_id == event_id)]
        return sorted(out, key=lambda s: -s.start_ns)[:limit]

    def services(self) -> list[str]:
        return sorted({s.service for s in self.spans.values()})

    def lag_samples(self, *, group=None, since_ns=None, until_ns=None):
        return []

    def span_count(self) -> int:
        return len(self.spans)

    def apply_retention(self, now_ns: int, *, spans_max_age_ns: int, rollups_max_age_ns: int) -> int:
        return 0

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def memory_store() -> MemoryStore:
    """A fresh in-memory store."""
    return MemoryStore()
