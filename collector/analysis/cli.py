"""`eventlens graph …`: export the dependency graph, show an event's lineage, coupling and schema reports."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from eventlens.collector.defaults import DEFAULT_STORE_URL, STORE_ENV, store_url

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Topology, lineage, coupling and schemas from the store; dependency-graph export.")

def _open(store: str | None) -> Any:
    from eventlens.collector.storage.protocol import open_store

    url = store_url(store)
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else None
    if path is not None and not Path(path).exists():
        typer.echo(f"no store at {path} (set --store or EVENTLENS_STORE)", err=True)
        raise typer.Exit(2)
    return open_store(url)


def _window(window: str, start: str | None = None, end: str | None = None) -> tuple[int, int]:
    """`--window` back from `--to` (default now), or `--from` .. `--to`: the grammar of `collector.timerange`."""
    from eventlens.collector.params import BadQuery
    from eventlens.collector.timerange import resolve

    try:
        found = resolve({"window": window, "from": start or "", "to": end or ""}, time.time_ns())
    except BadQuery as exc:
        raise typer.BadParameter(str(exc)) from exc
    return found.start_ns, found.end_ns


def _jsonable(value: Any) -> Any:
    from eventlens.collector.jsonable import to_jsonable

    return to_jsonable(value)


StoreOpt = Annotated[str | None, typer.Option(
    "--store", help=f"Store URL (default: ${STORE_ENV} or {DEFAULT_STORE_URL})")]
WindowOpt = Annotated[str, typer.Option("--window", help="How far back from --to (default now): 30s, 15m, 2h, 7d; "
                                                         "a bare number is seconds.")]
FromOpt = Annotated[str | None, typer.Option("--from", help="Start instant (ISO-8601 or epoch ms); overrides "
                                                            "--window.")]
ToOpt = Annotated[str | None, typer.Option("--to", help="End instant (ISO-8601 or epoch ms); default now.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the whole result as JSON.")]


@app.command("export")
def export_cmd(
    *,
    fmt: Annotated[str, typer.Option("--format", "-f", help="graphml, gexf, dot, mermaid, json, csv, asyncapi, "
                                                            "asyncapi-json")] = "json",
    window: WindowOpt = "15m",
    start: FromOpt = None,
    end: ToOpt = None,
    store: StoreOpt = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")] = None,
) -> None:
    """Export the service → topic → service graph of the window in one format."""
    from eventlens.collector.analysis.query import EXPORT_FORMATS, export_graph

    if fmt not in EXPORT_FORMATS:
        raise typer.BadParameter(f"unknown format {fmt!r}; one of {', '.join(EXPORT_FORMATS)}", param_hint="--format")
    start_ns, end_ns = _window(window, start, end)
    s = _open(store)
    try:
        text = export_graph(s, fmt, start_ns, end_ns)
    finally:
        s.close()
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output} ({EXPORT_FORMATS[fmt][0]})", err=True)


@app.command("lineage")
def lineage_cmd(
    *,
    event_id: Annotated[str | None, typer.Option("--event-id", help="CloudEvents id or message id.")] = None,
    trace_id: Annotated[str | None, typer.Option("--trace-id")] = None,
    key: Annotated[str | None, typer.Option("--key", help="Record key (with --topic to narrow).")] = None,
    topic: Annotated[str | None, typer.Option("--topic")] = None,
    partition: Annotated[int | None, typer.Option("--partition")] = None,
    offset: Annotated[int | None, typer.Option("--offset")] = None,
    max_nodes: Annotated[int, typer.Option("--max-nodes", min=1)] = 500,
    fmt: Annotated[str, typer.Option("--format", "-f", help="text (the story), json, dot or mermaid.")] = "text",
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Show the causal chain of one event: the event types in order, the story and each hop."""
    from eventlens.collector.analysis.exports import lineage_to_dot, lineage_to_mermaid
    from eventlens.collector.analysis.query import lineage

    if fmt not in ("text", "json", "dot", "mermaid"):
        raise typer.BadParameter(f"unknown format {fmt!r}; one of text, json, dot, mermaid", param_hint="--format")

    s = _open(store)
    try:
        result = lineage(s, event_id=event_id, trace_id=trace_id, key=key, topic=topic, partition=partition,
                         offset=offset, max_nodes=max_nodes)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    finally:
        s.close()
    if not result.nodes:
        typer.echo("no matching event found", err=True)
        raise typer.Exit(1)
    if as_json or fmt == "json":
        typer.echo(json.dumps(_jsonable(result), indent=2))
        return
    if fmt in ("dot", "mermaid"):
        typer.echo((lineage_to_dot if fmt == "dot" else lineage_to_mermaid)(result), nl=False)
        return
    typer.echo("events: " + " → ".join(result.event_types))
    for line in result.story:
        typer.echo(line)
    if result.truncated:
        typer.echo(f"(truncated at {max_nodes} nodes)")


@app.command("coupling")
def coupling_cmd(*, window: WindowOpt = "15m", start: FromOpt = None, end: ToOpt = None, store: StoreOpt = None,
                 as_json: JsonOpt = False) -> None:
    """Per-service coupling (fan-in/out, Ca, Ce, instability), shared topics, cycles, request/reply pairs."""
    from eventlens.collector.analysis.query import coupling

    start_ns, end_ns = _window(window, start, end)
    s = _open(store)
    try:
        report = coupling(s, start_ns, end_ns)
    finally:
        s.close()
    if as_json:
        typer.echo(json.dumps(_jsonable(report), indent=2))
        return
    typer.echo(f"{'service':<24} {'fan-in':>6} {'fan-out':>7} {'Ca':>4} {'Ce':>4} {'instability':>11}")
    for c in report.services:
        inst = "-" if c.instability is None else f"{c.instability:.2f}"
        typer.echo(f"{c.service:<24} {c.fan_in:>6} {c.fan_out:>7} {c.afferent:>4} {c.efferent:>4} {inst:>11}")
    for t in report.shared_topics:
        typer.echo(f"shared topic {t.topic}: producers {', '.join(t.producers) or '-'}; "
                   f"consumers {', '.join(t.consumers) or '-'}")
    for cycle in report.cycles:
        typer.echo("cycle: " + " → ".join((*cycle, cycle[0])))
    for tc in report.temporal:
        typer.echo(f"request/reply {tc.requester} → {tc.replier} on {tc.request_topic}: {tc.pairs} pairs, "
                   f"{tc.within_window} within the window")


@app.command("schemas")
def schemas_cmd(
    *,
    window: WindowOpt = "15m",
    start: FromOpt = None,
    end: ToOpt = None,
    store: StoreOpt = None,
    deprecations: Annotated[Path | None, typer.Option("--deprecations", help="Deprecations YAML file.")] = None,
) -> None:
    """Schema versions per event type, drift and deprecated versions still in use (as JSON)."""
    from eventlens.collector.analysis.query import schemas

    start_ns, end_ns = _window(window, start, end)
    s = _open(store)
    try:
        report = schemas(s, start_ns, end_ns, deprecations or ())
    finally:
        s.close()
    typer.echo(json.dumps(_jsonable(report), indent=2))


@app.command("sampling")
def sampling_cmd(
    *,
    window: WindowOpt = "15m",
    start: FromOpt = None,
    end: ToOpt = None,
    store: StoreOpt = None,
    collector: Annotated[str | None, typer.Option(
        "--collector", help="A running collector's URL (http://host:4318): compare with the exact counters it "
                            "received. Without it, only the estimate from the store.")] = None,
    token: Annotated[str | None, typer.Option("--token", envvar="EVENTLENS_TOKEN",
                                              help="The collector's bearer token, if it has one.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Messages per edge estimated from sampled spans (adjusted counts) against the exact counters, with the ratio."""
    if collector:
        import urllib.parse
        import urllib.request

        if not collector.startswith(("http://", "https://")):
            raise typer.BadParameter("--collector must be an http:// or https:// URL")
        wanted = {"window": window, **({"from": start} if start else {}), **({"to": end} if end else {})}
        url = collector.rstrip("/") + "/api/sampling?" + urllib.parse.urlencode(wanted)
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})  # noqa: S310
        with urllib.request.urlopen(req, timeout=30) as response:  # noqa: S310 (checked: http or https)
            rows: list[dict[str, Any]] = json.loads(response.read())
    else:
        from eventlens.collector.analysis.query import sampling_check

        start_ns, end_ns = _window(window, start, end)
        s = _open(store)
        try:
            rows = _jsonable(sampling_check(s, start_ns, end_ns, {}))
        finally:
            s.close()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo(f"{'side':<8} {'service':<20} {'topic':<24} {'group':<16} {'spans':>7} {'estimated':>11} "
               f"{'± 1σ':>9} {'exact':>9} {'ratio':>6}")
    for r in rows:
        exact = "-" if r["exact"] is None else str(r["exact"])
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.3f}"
        typer.echo(f"{r['side']:<8} {r['service']:<20} {r['topic']:<24} {r['group'] or '-':<16} {r['spans']:>7} "
                   f"{r['estimated']:>11.1f} {r['stderr']:>9.1f} {exact:>9} {ratio:>6}")
