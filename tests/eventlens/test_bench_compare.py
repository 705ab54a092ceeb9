"""bench.compare reads back the tables `python -m bench` prints and pairs figures across the two sides."""

from __future__ import annotations

from bench._common import Result, format_table
from bench.compare import parse_report, summarise


def test_parse_report_reads_every_figure_of_a_printed_table() -> None:
    table = format_table([Result("send wrapper 1%", 5.25, "µs/msg"),
                          Result("ingest rate", 12345.5, "spans/s", "decoder", 20000.0, "≥ 1x")])
    parsed = parse_report(f"\n== instr_wrappers (20 s)\n{table}\n")
    assert parsed == {("instr_wrappers", "send wrapper 1%"): (5.25, "µs/msg"),
                      ("instr_wrappers", "ingest rate"): (12345.5, "spans/s")}


def test_summarise_gives_medians_and_the_after_over_before_ratio() -> None:
    key = ("b", "f")
    rows = summarise([{key: (10.0, "µs")}, {key: (30.0, "µs")}, {key: (20.0, "µs")}],
                     [{key: (11.0, "µs")}, {key: (9.0, "µs")}, {key: (10.0, "µs")}])
    assert rows == [("b: f", "20.00 µs", "10.00 µs", "0.50x")]


def test_summarise_lists_a_figure_only_one_side_printed_with_a_dash() -> None:
    rows = summarise([{("b", "old"): (1.0, "s")}], [{("b", "new"): (2.0, "s")}])
    assert rows == [("b: old", "1.00 s", "-", "-"), ("b: new", "-", "2.00 s", "-")]
