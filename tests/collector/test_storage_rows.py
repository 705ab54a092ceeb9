"""The row codec: id keys and an exact SpanRecord round trip through a real SQLite store (hypothesis)."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlens.collector.model import Messaging, Operation, SpanKind, SpanLink, SpanRecord, StatusCode
from eventlens.collector.storage import _rows
from eventlens.collector.storage.sqlite import SQLiteStore


def test_id_key_of_span_id_is_its_value_signed():
    """A 16-hex span id's key is its 64-bit value as a signed integer."""
    assert _rows.id_key("0000000000000001") == 1
    assert _rows.id_key("ffffffffffffffff") == -1


def test_id_key_folds_trace_id_halves():
    """A 32-hex trace id's key is high ⊕ low, so a zero-padded 64-bit id keeps its value."""
    assert _rows.id_key("0" * 16 + "00000000000000ff") == 255
    assert _rows.id_key("00000000000000ff" + "00000000000000ff") == 0


def test_id_key_of_non_hex_or_prefixed_id_is_a_hash():
    """Ids that are not plain hex (prefixes, odd lengths, text) get a hash key, not a parse that could collide."""
    assert _rows.id_key("0x00000000000001") != _rows.id_key("0000000000000001")
    assert _rows.id_key("not-hex") == _rows.id_key("not-hex")
    assert _rows.id_key("abc") != _rows.id_key("abd")


text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
ids16 = st.binary(min_size=8, max_size=8).map(bytes.hex)
ids32 = st.binary(min_size=16, max_size=16).map(bytes.hex)
i64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
floats = st.floats(allow_nan=False)
attr_value = st.one_of(text, i64, floats, st.booleans(), st.lists(text, max_size=3).map(tuple),
                       st.lists(i64, max_size=3).map(tuple), st.lists(floats, max_size=3).map(tuple),
                       st.lists(st.booleans(), max_size=3).map(tuple))
attrs = st.dictionaries(text, attr_value, max_size=5)
opt_text = st.none() | text
opt_int = st.none() | i64
messaging = st.builds(
    Messaging, system=opt_text, operation=st.none() | st.sampled_from(Operation), operation_name=opt_text,
    topic=opt_text, partition=opt_int, offset=opt_int, key=opt_text, consumer_group=opt_text, client_id=opt_text,
    message_id=opt_text, batch_count=opt_int, body_size=opt_int, event_id=opt_text, event_type=opt_text,
    event_source=opt_text, schema_fingerprint=opt_text, lag_offsets=opt_int, lag_seconds=st.none() | floats,
    server_address=opt_text, error_type=opt_text)
span_records = st.builds(
    SpanRecord, trace_id=ids32, span_id=ids16, parent_span_id=st.none() | ids16, name=text,
    kind=st.sampled_from(SpanKind), service=text, start_ns=st.integers(0, 2**62), end_ns=st.integers(0, 2**62),
    status=st.sampled_from(StatusCode), status_message=text,
    links=st.lists(st.builds(SpanLink, ids32, ids16, attrs), max_size=2).map(tuple), messaging=messaging,
    attributes=attrs, resource=attrs, scope=text)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(span_records, min_size=1, max_size=4, unique_by=lambda s: (s.trace_id, s.span_id)))
def test_any_span_round_trips_exactly(batch):
    """Whatever a SpanRecord holds, writing it and reading it back gives an equal record."""
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "rt.db", checkpoint_interval_s=0)
        try:
            assert store.write_spans(batch) == len(batch)
            for span in batch:
                assert store.get_span(span.trace_id, span.span_id) == span
        finally:
            store.close()


def test_attributes_json_keeps_values_fast_json_cannot():
    """NaN, infinities, integers beyond 64 bits, lone surrogates and the word null survive encoding exactly."""
    value = {"nan": float("nan"), "inf": float("inf"), "big": 2**80, "s": "\ud800x", "n": "null", "t": (1, 2),
             "u": "é"}
    back = _rows.loads(_rows.dumps(value))
    assert math.isnan(back.pop("nan"))
    value.pop("nan")
    assert back == value


def test_fast_json_output_reads_back():
    """Ordinary attributes round-trip through the fast path."""
    value = {"a": "x", "b": 1, "c": 1.5, "d": True, "e": ("p", "q"), "f": "ü"}
    assert _rows.loads(_rows.dumps(value)) == value


def test_packed_messaging_fields_keep_values_fast_json_cannot(tmp_path):
    """The fields packed into `m_more` survive infinities, integers beyond 64 bits and lone surrogates."""
    m = Messaging(topic="t", lag_seconds=float("-inf"), lag_offsets=2**70, client_id="\ud800x", error_type="null",
                  operation=Operation.PROCESS)
    span = SpanRecord("ab" * 16, "cd" * 8, None, "process t", SpanKind.CONSUMER, "svc", 1, 2, messaging=m)
    store = SQLiteStore(tmp_path / "more.db", checkpoint_interval_s=0)
    try:
        store.write_spans([span])
        assert store.get_span(span.trace_id, span.span_id) == span
    finally:
        store.close()


def test_a_span_without_packed_fields_stores_no_array():
    """All of MORE_FIELDS None: `m_more` is NULL, not an array of nulls."""
    row = _rows.span_row(SpanRecord("ab" * 16, "cd" * 8, None, "op", SpanKind.INTERNAL, "svc", 1, 2), 0)
    assert row[_rows.SPAN_COLUMNS.index("m_more")] is None


def test_attribute_values_and_keys_keep_what_fast_json_cannot():
    """Stored apart, values and keys still round-trip NaN, infinities, big integers, lone surrogates, arrays."""
    value = {"nan": float("nan"), "inf": float("-inf"), "big": 2**80, "s": "\ud800x", "n": "null", "t": (1, 2),
             "\udc80key": "ü"}
    keys = _rows.keys_from(_rows.key_sequence(tuple(value))[1])
    back = _rows.attributes_from(_rows.values_json(value), keys)
    assert math.isnan(back.pop("nan"))
    value.pop("nan")
    assert back == value


def test_attribute_values_keep_the_order_of_their_keys():
    """A row's values line up with its key sequence, so a reordered key sequence is another sequence."""
    value = {"b": 1, "a": "x", "c": (True, False)}
    assert _rows.values_json(value) == '[1,"x",[true,false]]'
    assert _rows.keys_from(_rows.key_sequence(tuple(value))[1]) == ("b", "a", "c")


def test_no_attributes_store_no_values():
    assert _rows.values_json({}) is None
    assert _rows.attributes_from(None, ()) == {}


def test_values_that_do_not_match_their_keys_are_refused():
    with pytest.raises(ValueError, match="2 attribute values stored for 1 keys"):
        _rows.attributes_from('["x", 1]', ("a",))
