"""Rows are read by name: a span row names its resource and attribute keys by id, one-value queries by `scalar`."""

from __future__ import annotations

import sqlite3

import pytest

from eventlens.collector.storage import _rows
from eventlens.collector.storage._sql import scalar
from eventlens.testing import span_record


def _read_row(span, resource_id: int, attr_keys_id: int | None) -> tuple[object, ...]:
    """The row a read returns (READ_COLUMNS: the span row without its integer keys)."""
    row = _rows.span_row(span, resource_id, attr_keys_id)
    return row[len(_rows.SPAN_COLUMNS) - len(_rows.READ_COLUMNS):]


def test_a_span_row_is_rebuilt_with_the_resource_and_keys_named_by_its_ids():
    span = span_record(attributes={"app.step": 3, "app.name": "x"}, resource={"service.name": "svc"})
    asked: list[tuple[str, object]] = []

    def resource_of(rid: int) -> dict[str, object]:
        asked.append(("resource", rid))
        return dict(span.resource)

    def keys_of(kid: int | None) -> tuple[str, ...]:
        asked.append(("keys", kid))
        return ("app.step", "app.name")

    back = _rows.span_from_row(_read_row(span, 41, 42), resource_of, keys_of)
    assert back == span
    assert sorted(asked) == [("keys", 42), ("resource", 41)]


def test_a_span_without_attributes_asks_for_no_key_sequence_id():
    span = span_record(attributes={})
    asked: list[int | None] = []

    def keys_of(kid: int | None) -> tuple[str, ...]:
        asked.append(kid)
        return ()

    assert _rows.span_from_row(_read_row(span, 7, None), lambda rid: dict(span.resource), keys_of) == span
    assert asked == [None]


@pytest.fixture
def db():
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a, b)")
    conn.execute("INSERT INTO t VALUES (1, 2)")
    yield conn
    conn.close()


def test_scalar_is_the_value_of_a_one_column_query(db):
    assert scalar(db, "SELECT b FROM t WHERE a = ?", (1,)) == 2


def test_scalar_is_none_when_no_row_matches(db):
    assert scalar(db, "SELECT b FROM t WHERE a = ?", (9,)) is None


def test_scalar_refuses_a_query_of_several_columns(db):
    with pytest.raises(ValueError, match="too many values"):
        scalar(db, "SELECT a, b FROM t")
