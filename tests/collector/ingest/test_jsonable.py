"""The shared JSON rendering of model objects."""

from __future__ import annotations

import json
import math

from eventlens.collector.jsonable import dumps, to_jsonable
from eventlens.collector.model import Messaging, Operation, SpanKind, SpanLink, SpanRecord, StatusCode


def test_span_record_renders_enums_by_name_and_value():
    """Int enums render by name, the operation by value, nested dataclasses and tuples as objects and arrays."""
    rec = SpanRecord("a" * 32, "b" * 16, None, "send t", SpanKind.PRODUCER, "svc", 1, 2, StatusCode.ERROR,
                     links=(SpanLink("c" * 32, "d" * 16, {"x": (1, 2)}),),
                     messaging=Messaging(operation=Operation.SEND, topic="t"), attributes={"k": "v"})
    out = to_jsonable(rec)
    assert out["kind"] == "PRODUCER" and out["status"] == "ERROR" and out["parent_span_id"] is None
    assert out["messaging"]["operation"] == "send" and out["messaging"]["topic"] == "t"
    assert out["links"] == [{"trace_id": "c" * 32, "span_id": "d" * 16, "attributes": {"x": [1, 2]}}]
    assert json.loads(dumps(rec)) == out


def test_non_finite_floats_become_null():
    """NaN and infinity are not JSON: they render as null."""
    assert to_jsonable([math.nan, math.inf, 1.5]) == [None, None, 1.5]
