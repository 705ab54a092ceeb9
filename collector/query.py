"""The trace and service lookups of the HTTP API (`/api/traces/{id}`, `/api/services`): pure functions over the
store protocol, with id normalising and cursor paging.

Windows and time ranges are `collector.timerange`; analyses (topology, lineage, coupling, schemas, exports) are
`collector.analysis.query`, lag is `collector.lag.query`: together the query layers the API, CLIs and dashboard use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from eventlens.collector.model import SpanRecord
from eventlens.collector.storage.protocol import SpanReader

__all__ = ["TRACE_PAGE_DEFAULT", "TRACE_PAGE_MAX", "TracePage", "normalise_id", "parse_cursor", "services",
           "trace_page"]


def normalise_id(value: str) -> str:
    """An id as stored: lowercase hex without surrounding space or dashes (UUID-style input accepted)."""
    return value.strip().lower().replace("-", "")


TRACE_PAGE_DEFAULT = 1000
"""Spans per `/api/traces/{id}` page when the client names no limit."""
TRACE_PAGE_MAX = 10_000
"""Most spans one trace page may hold (bounds one answer's memory)."""
INT64_MAX = (1 << 63) - 1


@dataclass(frozen=True, slots=True)
class TracePage:
    """One page of a trace's spans by (start time, span id); `next_cursor` fetches the rest (None: no more)."""

    spans: list[SpanRecord]
    next_cursor: str | None


def parse_cursor(cursor: str) -> tuple[int, str]:
    """The (start_ns, span_id) key a trace page cursor names; ValueError for anything else."""
    start, sep, span_id = cursor.partition(":")
    if not sep or not re.fullmatch(r"-?\d{1,19}", start) or not re.fullmatch(r"[0-9a-f]{16}", span_id):
        raise ValueError(f"cursor {cursor!r} is not one this API returned")
    value = int(start)
    if not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise ValueError(f"cursor {cursor!r} is not one this API returned")
    return value, span_id


def trace_page(store: SpanReader, trace_id: str, *, cursor: str | None = None,
               limit: int = TRACE_PAGE_DEFAULT) -> TracePage:
    """A page of a trace's spans (the first, or the one after `cursor`), at most `limit` spans; the id may be
    upper case or dashed."""
    after = parse_cursor(cursor) if cursor else None
    found = store.get_trace_page(normalise_id(trace_id), after=after, limit=limit + 1)
    spans, more = found[:limit], len(found) > limit
    last = spans[-1] if spans else None
    return TracePage(spans, f"{last.start_ns}:{last.span_id}" if more and last else None)


def services(store: SpanReader) -> list[str]:
    """Every service name seen, sorted."""
    return store.services()
