"""The captured OTLP/JSON fixtures are valid OTLP and show the span shapes docs/interop.md describes."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from interop.otlp_capture import to_otlp_json

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ALL = sorted(FIXTURES.glob("*.json"))


def _spans(payload: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    out = []
    for rs in payload["resourceSpans"]:
        res = {a["key"]: next(iter(a["value"].values())) for a in rs["resource"]["attributes"]}
        for ss in rs["scopeSpans"]:
            out.extend((res, s) for s in ss["spans"])
    return out


def _attrs(span: dict[str, Any]) -> dict[str, Any]:
    return {a["key"]: next(iter(a["value"].values())) for a in span.get("attributes", [])}


def _load(name: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return _spans(json.loads((FIXTURES / name).read_text()))


def test_every_shape_has_produce_relay_and_consume_fixtures() -> None:
    """Each of the three shapes has its produce, relay and consume payload."""
    names = {p.name for p in ALL}
    for shape in ("java_default", "java_stable", "kafkajs"):
        assert {f"{shape}_produce.json", f"{shape}_relay.json", f"{shape}_consume.json"} <= names


@pytest.mark.parametrize("path", ALL, ids=[p.stem for p in ALL])
def test_fixture_is_otlp_json_with_hex_ids(path: Path) -> None:
    """A fixture parses as an ExportTraceServiceRequest once its hex ids are mapped back to bytes."""
    payload = json.loads(path.read_text())
    spans = _spans(payload)
    assert spans
    for _, span in spans:
        assert re.fullmatch(r"[0-9a-f]{32}", span["traceId"])
        assert re.fullmatch(r"[0-9a-f]{16}", span["spanId"])
        assert isinstance(span["kind"], int)
    # Round trip: OTLP/JSON → protobuf (base64 ids, as json_format wants) → OTLP/JSON is the identity.
    text = re.sub(
        r'"(traceId|spanId|parentSpanId)": "([0-9a-f]*)"',
        lambda m: f'"{m[1]}": "{base64.b64encode(bytes.fromhex(m[2])).decode()}"',
        path.read_text(),
    )
    request = json_format.Parse(text, ExportTraceServiceRequest())
    assert to_otlp_json(request) == payload


def test_java_default_shape_uses_legacy_names_and_parents_process_on_publish() -> None:
    """Java agent default: `{topic} publish` PRODUCER, `{topic} process` CONSUMER child of it, old attributes."""
    produce = _load("java_default_produce.json")
    relay = _load("java_default_relay.json")
    sends = {s["spanId"]: s for _, s in produce}
    assert all(s["name"].endswith(" publish") and s["kind"] == 4 for s in sends.values())
    processes = [s for _, s in relay if s["kind"] == 5]
    assert processes and all(s["name"].endswith(" process") for s in processes)
    for span in processes:
        assert span["parentSpanId"] in sends
        assert _attrs(span)["messaging.operation"] == "process"
        assert "messaging.kafka.consumer.group" in _attrs(span)
    assert all(res["telemetry.sdk.language"] == "java" for res, _ in relay)


def test_java_stable_shape_has_poll_with_links_and_process_child_and_link() -> None:
    """Java agent with messaging opt-in: `poll` CLIENT linking each record; `process` parented and linked."""
    sends = {s["spanId"] for _, s in _load("java_stable_produce.json")}
    relay = _load("java_stable_relay.json")
    polls = [s for _, s in relay if s["kind"] == 3]
    assert polls and all(s["name"].startswith("poll ") for s in polls)
    assert {link["spanId"] for p in polls for link in p["links"]} == sends
    processes = [s for _, s in relay if s["kind"] == 5]
    for span in processes:
        assert span["name"].startswith("process ")
        assert span["parentSpanId"] in sends
        assert [link["spanId"] for link in span["links"]] == [span["parentSpanId"]]
        assert _attrs(span)["messaging.operation.type"] == "process"


def test_kafkajs_shape_parents_process_on_send_and_reports_nodejs() -> None:
    """kafkajs: `send` PRODUCER, `process` CONSUMER child of it, language `nodejs`, no consumer group."""
    sends = {s["spanId"] for _, s in _load("kafkajs_produce.json")}
    relay = _load("kafkajs_relay.json")
    processes = [s for _, s in relay if s["kind"] == 5]
    assert processes
    for span in processes:
        assert span["name"].startswith("process ")
        assert span["parentSpanId"] in sends
        assert "messaging.consumer.group.name" not in _attrs(span)
    assert all(res["telemetry.sdk.language"] == "nodejs" for res, _ in relay)
