"""Every malformed query parameter gets 400 with the reason, never a 500; trace answers are paged and lineage
`max_nodes` is bounded."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import requests
from transport_harness import CollectorProcess, collector, spans_body

PROTOBUF = {"Content-Type": "application/x-protobuf"}
BEYOND_INT64 = str(1 << 63)


@pytest.fixture(scope="module")
def proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProcess]:
    """One collector holding a 2,500-span trace."""
    with collector(tmp_path_factory.mktemp("queries")) as running:
        yield running


@pytest.mark.parametrize(("path", "query"), [
    ("/api/spans", {"partition": BEYOND_INT64}),
    ("/api/spans", {"offset": "-" + str((1 << 63) + 1)}),
    ("/api/spans", {"start_ns": "1" + "0" * 25}),
    ("/api/spans", {"end_ns": "inf"}),
    ("/api/lineage", {"topic": "t", "partition": BEYOND_INT64, "offset": "1"}),
    ("/api/lineage", {"event_id": "e", "max_nodes": BEYOND_INT64}),
    ("/api/topology", {"start_ns": BEYOND_INT64}),
    ("/api/topology", {"window": "9" * 400 + "w"}),
    ("/api/topology", {"window": "99999999999d"}),
    ("/api/topology", {"end_ns": "-9223372036854775807", "window": "1h"}),
    ("/api/coupling", {"end_ns": BEYOND_INT64}),
    ("/api/schemas", {"window": "1e400"}),
    ("/api/export/dot", {"start_ns": "nan"}),
    ("/api/lag", {"window": "inf"}),
    ("/api/lag", {"window": "1e300"}),
    ("/api/lag", {"window": "nan"}),
    ("/api/lag/g1/history", {"since": "inf"}),
    ("/api/lag/g1/history", {"since": "1e300"}),
    ("/api/traces/0123456789abcdef0123456789abcdef", {"limit": BEYOND_INT64}),
    ("/api/traces/0123456789abcdef0123456789abcdef", {"cursor": "99999999999999999999:0000000000000001"}),
])
def test_out_of_range_parameters_are_answered_400_with_the_reason(proc: CollectorProcess, path: str,
                                                                 query: dict[str, str]) -> None:
    """Values beyond int64, infinite or NaN: 400 and an error message naming the problem."""
    answer = requests.get(f"{proc.url}{path}", params=query, timeout=10)
    assert answer.status_code == 400, (path, query, answer.status_code, answer.text[:300])
    assert answer.json()["error"]


def test_a_large_trace_is_answered_in_pages_of_1000_by_default(proc: CollectorProcess) -> None:
    """A 2,500-span trace comes in pages (1,000 by default) linked by next_cursor, every span exactly once."""
    trace_id = os.urandom(16)
    assert requests.post(f"{proc.url}/v1/traces", data=spans_body(2500, trace_id=trace_id), headers=PROTOBUF,
                         timeout=60).status_code == 200
    url = f"{proc.url}/api/traces/{trace_id.hex()}"
    pages, cursor = [], None
    while True:
        answer = requests.get(url, params={"cursor": cursor} if cursor else {}, timeout=30).json()
        pages.append(answer["spans"])
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [1000, 1000, 500]
    names = [s["name"] for p in pages for s in p]
    assert names == [f"op{i}" for i in range(2500)]


def test_a_trace_page_size_is_capped(proc: CollectorProcess) -> None:
    """limit above the documented maximum (10,000) is refused with 400; limit=7 gives 7 spans and a cursor."""
    trace_id = os.urandom(16)
    requests.post(f"{proc.url}/v1/traces", data=spans_body(10, trace_id=trace_id), headers=PROTOBUF, timeout=30)
    url = f"{proc.url}/api/traces/{trace_id.hex()}"
    assert requests.get(url, params={"limit": "10001"}, timeout=10).status_code == 400
    page = requests.get(url, params={"limit": "7"}, timeout=10).json()
    assert len(page["spans"]) == 7 and page["next_cursor"]
