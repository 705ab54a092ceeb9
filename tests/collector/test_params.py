"""Query-parameter rules shared by every /api route (pure functions)."""

from __future__ import annotations

import pytest

from eventlens.collector import params
from eventlens.collector.analysis.http import MAX_LINEAGE_NODES


def test_int64_accepts_the_int64_range_and_refuses_beyond_it() -> None:
    """The int64 bounds pass; one past either bound is a BadQuery naming the parameter."""
    assert params.int64("p", str(params.INT64_MAX)) == params.INT64_MAX
    assert params.int64("p", str(params.INT64_MIN)) == params.INT64_MIN
    with pytest.raises(params.BadQuery, match="partition"):
        params.int64("partition", str(params.INT64_MAX + 1))


def test_lineage_max_nodes_is_clamped_to_the_documented_maximum() -> None:
    """A huge max_nodes becomes MAX_LINEAGE_NODES; absent gives the default; below 1 becomes 1."""
    assert params.clamp(10**12, 500, MAX_LINEAGE_NODES) == MAX_LINEAGE_NODES == 5000
    assert params.clamp(None, 500, MAX_LINEAGE_NODES) == 500
    assert params.clamp(-3, 500, MAX_LINEAGE_NODES) == 1
