"""Unit tests of CloudEvents reading in binary and structured mode."""

from __future__ import annotations

from eventlens.instrumentation._cloudevents import read_cloudevent


def test_binary_mode_headers():
    """`ce_*` headers give id, type, source, spec version and the starting traceparent."""
    event = read_cloudevent([("ce_id", b"1"), ("ce_type", b"t"), ("ce_source", b"/s"), ("ce_specversion", b"1.0"),
                             ("ce_traceparent", b"00-x")], b"data")
    assert event is not None
    assert (event.id, event.type, event.source, event.spec_version, event.traceparent) == ("1", "t", "/s", "1.0",
                                                                                           "00-x")


def test_structured_mode_reads_json_value():
    """`content-type: application/cloudevents+json` makes the JSON value the event."""
    event = read_cloudevent([("content-type", b"Application/CloudEvents+json; charset=UTF-8")],
                            b'{"id": "e", "type": "t", "source": "/s", "specversion": "1.0"}')
    assert event is not None and (event.id, event.type) == ("e", "t")


def test_structured_mode_with_bad_json_falls_back_to_headers():
    """A structured content-type with an unparsable value falls back to binary headers (or nothing)."""
    assert read_cloudevent([("content-type", b"application/cloudevents+json")], b"{not json") is None
    event = read_cloudevent([("content-type", b"application/cloudevents+json"), ("ce_id", b"h")], b"[1]")
    assert event is not None and event.id == "h"


def test_plain_records_are_not_cloudevents():
    """Records without ce_ headers or a CloudEvents content-type give None."""
    assert read_cloudevent([("content-type", b"application/json")], b'{"id": 1}') is None
    assert read_cloudevent(None, b"x") is None


def test_non_utf8_ce_headers_are_absent():
    """A ce_id that is not UTF-8 is treated as absent, never raised."""
    event = read_cloudevent([("ce_id", b"\xff"), ("ce_type", b"t")], None)
    assert event is not None and event.id is None and event.type == "t"
