"""`eventlens lag`: consumer lag per group and partition (offsets, seconds, status, time to drain).

With `--store` it reads what the collector's poller stored; with `--bootstrap` alone it polls the broker
itself into an in-memory store for a few cycles, so it works standalone. `--watch` refreshes, `--json`
prints JSON (one document per refresh).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from eventlens.collector.lag.memory import MemoryLagStore
from eventlens.collector.lag.poller import GroupFilter, LagPoller, PollReport
from eventlens.collector.lag.query import group_status_json, group_statuses
from eventlens.collector.model import GroupStatus, LagStatus
from eventlens.collector.params import BadQuery
from eventlens.collector.storage.protocol import LagStore
from eventlens.collector.timerange import parse_duration

app = typer.Typer(add_completion=False, help="Consumer lag in offsets and seconds, with Burrow-style status.")

STATUS_STYLE = {LagStatus.OK: "green", LagStatus.WARN: "yellow", LagStatus.NOTFOUND: "dim"}


def format_seconds(seconds: float | None, estimated: bool = False) -> str:
    """A short human duration (`850ms`, `12.3s`, `4m05s`, `2h03m`), `~` prefixed when estimated; `-` if unknown."""
    if seconds is None:
        return "-"
    mark = "~" if estimated else ""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{mark}{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{mark}{seconds:.1f}s"
    if seconds < 3600:
        return f"{mark}{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{mark}{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


def render_table(statuses: list[GroupStatus], caption: str = "") -> Table:
    """The lag table: one row per (group, partition); the group name is coloured by the group's status."""
    table = Table(title="Consumer lag", caption=caption or None)
    for name, justify in (("group", "left"), ("topic", "left"), ("partition", "right"), ("lag", "right"),
                          ("seconds", "right"), ("status", "left"), ("time to drain", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for group in statuses:
        for index, p in enumerate(group.partitions):
            style = STATUS_STYLE.get(p.status, "red")
            label = Text(group.group, style=STATUS_STYLE.get(group.status, "red")) if index == 0 else Text("")
            table.add_row(label, p.topic, str(p.partition), f"{p.lag_offsets:,}",
                          format_seconds(p.lag_seconds, p.lag_seconds_estimated), Text(p.status.name, style=style),
                          format_seconds(p.time_to_drain_s))
    return table


def _caption(report: PollReport | None) -> str:
    if report is None:
        return ""
    if report.outage:
        return f"broker unreachable: {report.error}"
    return (f"{report.groups} groups, {report.partitions} partitions; seconds: {report.exact_read} read, "
            f"{report.exact_cached} cached, {report.estimated} estimated (~)")


def _open(store_url: str | None) -> LagStore:
    if store_url is None:
        return MemoryLagStore()
    from eventlens.collector.storage.protocol import open_store

    return open_store(store_url)


@app.callback(invoke_without_command=True)
def lag(
    *,
    bootstrap: Annotated[str | None, typer.Option("--bootstrap", "-b", help="Kafka bootstrap servers to poll.")] = None,
    store: Annotated[str | None, typer.Option("--store", help="Store URL to read (and write).")] = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Refresh every interval until Ctrl-C.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    interval: Annotated[float, typer.Option("--interval", min=0.1, help="Seconds between polls/refreshes.")] = 2.0,
    cycles: Annotated[int, typer.Option("--cycles", min=1, help="Polls before printing (standalone).")] = 2,
    group: Annotated[list[str] | None, typer.Option("--group", "-g", help="Only groups matching this regex.")] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="Skip groups matching this regex.")] = None,
    window: Annotated[str, typer.Option("--window", help="Evaluation window, as /api/lag?window=: 600, 10m, 1h.")]
        = "10m",
) -> None:
    """Show consumer lag per group and partition: offsets, seconds (~ estimated), status, time to drain."""
    if bootstrap is None and store is None:
        typer.echo("give --bootstrap (poll the broker) or --store (read the collector's store)", err=True)
        raise typer.Exit(2)
    try:
        window_ns = parse_duration(window, "--window")
    except BadQuery as exc:
        raise typer.BadParameter(str(exc), param_hint="--window") from exc
    groups = GroupFilter(tuple(group or ()), tuple(exclude or ()))
    lag_store = _open(store)
    poller = LagPoller(bootstrap, lag_store, interval_s=interval, include=groups.include,
                       exclude=groups.exclude) if bootstrap else None
    try:
        if watch:
            _watch(lag_store, poller, groups, interval, as_json, window_ns=window_ns)
        else:
            report = _poll_cycles(poller, cycles, interval)
            _print(lag_store, groups, report, as_json, window_ns)
            if report is not None and report.outage:
                raise typer.Exit(1)
    finally:
        if poller is not None:
            poller.stop()


def _poll_cycles(poller: LagPoller | None, cycles: int, interval: float) -> PollReport | None:
    report = None
    for index in range(cycles if poller else 0):
        if index:
            time.sleep(interval)
        assert poller is not None
        report = poller.poll_once()
    return report


def _statuses(lag_store: LagStore, groups: GroupFilter, window_ns: int) -> list[GroupStatus]:
    found = group_statuses(lag_store, time.time_ns(), window_ns)
    return [g for g in found if groups(g.group)]


def _print(lag_store: LagStore, groups: GroupFilter, report: PollReport | None, as_json: bool,
           window_ns: int) -> None:
    statuses = _statuses(lag_store, groups, window_ns)
    if as_json:
        doc = {"now_ns": time.time_ns(), "groups": [group_status_json(g) for g in statuses]}
        if report is not None and report.outage:
            doc["error"] = report.error
        sys.stdout.write(json.dumps(doc) + "\n")
        sys.stdout.flush()
        return
    Console().print(render_table(statuses, _caption(report)))


def _watch(lag_store: LagStore, poller: LagPoller | None, groups: GroupFilter, interval: float,
           as_json: bool, *, window_ns: int) -> None:
    try:
        if as_json:
            while True:
                _print(lag_store, groups, _poll(lag_store, poller, window_ns), True, window_ns)
                time.sleep(interval)
        with Live(Group(), refresh_per_second=4, screen=False) as live:
            while True:
                report = _poll(lag_store, poller, window_ns)
                live.update(render_table(_statuses(lag_store, groups, window_ns), _caption(report)))
                time.sleep(interval)
    except KeyboardInterrupt:
        return


def _poll(lag_store: LagStore, poller: LagPoller | None, window_ns: int) -> PollReport | None:
    """One poll (when polling); an in-memory store keeps only the evaluation window."""
    if poller is None:
        return None
    report = poller.poll_once()
    if isinstance(lag_store, MemoryLagStore):
        lag_store.prune(report.now_ns - window_ns)
    return report
