"""Decoding Kafka records of the `otlp_spans` topic: valid ones yield spans, others are skipped with a reason."""

from __future__ import annotations

from types import SimpleNamespace

from otlp_builders import body, span

from eventlens.collector.receivers.kafka import decode_records


def record(value, offset=0):
    return SimpleNamespace(topic="otlp_spans", partition=0, offset=offset, value=value)


def test_valid_records_yield_spans_and_bad_ones_are_skipped():
    """Garbage, empty and null values are reported to on_skip; valid records' spans are returned in order."""
    skipped = []
    decoded = decode_records(
        [record(body([span("a")])), record(b"\xff\x01junk", 1), record(b"", 2), record(None, 3),
         record(body([span("b"), span("c", trace_id=bytes(16))]), 4)],
        lambda r, reason: skipped.append((r.offset, reason)))
    assert [r.offset for r, _ in decoded] == [0, 4]
    assert [s.name for _, d in decoded for s in d.spans] == ["a", "b"] and sum(d.rejected for _, d in decoded) == 1
    assert [o for o, _ in skipped] == [1, 2, 3] and all(reason for _, reason in skipped)
