"""Capture the OTLP payloads the Java agent (both shapes) and kafkajs really send; write them as fixtures.

For each shape: `produce` 2 records to topic A, `relay` them A → B, `consume` B, each run exporting to an
in-process OTLP/HTTP receiver; each run's requests are merged into one OTLP/JSON file
`fixtures/<shape>_<mode>.json` (plus `java_default_produce_cloudevents.json`); shape `eventlens` is the
Python service instrumented by eventlens, for comparison. The ids chain across the files
of one shape (relay spans point at the produce spans), as they would at a collector.

Usage: `.venv/bin/python tests/interop/capture_fixtures.py [--out DIR]` (uses `KAFKA_BOOTSTRAP_SERVERS` when
set, otherwise starts a local broker).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eventlens.local_kafka import LocalKafka, free_port
from interop.build import JavaBuild, NodeBuild, build_java, build_node
from interop.otlp_capture import OtlpCapture, merge, to_otlp_json
from interop.services import Shape, otel_env, python_command, run

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@contextlib.contextmanager
def broker() -> Iterator[str]:
    """An external broker from the environment, or a local one for the duration."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    with tempfile.TemporaryDirectory() as tmp:
        kafka = LocalKafka(workdir=Path(tmp), port=free_port())
        kafka.start()
        try:
            yield kafka.bootstrap
        finally:
            kafka.stop()


def _wait_spans(capture: OtlpCapture, minimum: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while len(capture.spans()) < minimum:
        if time.monotonic() > deadline:
            raise AssertionError(f"expected ≥{minimum} spans, got {len(capture.spans())}")
        time.sleep(0.1)


def _save(capture: OtlpCapture, out: Path, name: str, minimum: int) -> None:
    _wait_spans(capture, minimum)
    payload = to_otlp_json(merge(capture.take()))
    path = out / f"{name}.json"
    path.write_text(json.dumps(payload, indent=1, sort_keys=False) + "\n")
    spans = [s for rs in payload["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
    print(f"{path.name}: {len(spans)} spans: {sorted({(s['name'], s['kind']) for s in spans})}")


def capture_shape(shape: Shape, builds: tuple[JavaBuild, NodeBuild], bootstrap: str, out: Path) -> None:
    """Run produce → relay → consume for one shape and save the three payloads."""
    java, node = builds
    lang = {Shape.KAFKAJS: "node", Shape.EVENTLENS: "python"}.get(shape, "java")
    command = {"node": node.command, "python": python_command}.get(lang, java.command)
    suffix = uuid.uuid4().hex[:6]
    topic_a, topic_b = f"interop-{shape.value}-a-{suffix}", f"interop-{shape.value}-b-{suffix}"
    capture = OtlpCapture().start()
    try:

        def env(role: str) -> dict[str, str]:
            return otel_env(capture.endpoint, f"{lang}-{role}", bootstrap, shape)

        run("produce", command("produce", topic_a, "2"), env("producer"))
        _save(capture, out, f"{shape.value}_produce", 2)
        run("relay", command("relay", topic_a, topic_b, f"g-relay-{suffix}", "2"), env("relay"))
        _save(capture, out, f"{shape.value}_relay", 4)
        run("consume", command("consume", topic_b, f"g-consume-{suffix}", "2"), env("consumer"))
        _save(capture, out, f"{shape.value}_consume", 2)
        if shape is Shape.JAVA_DEFAULT:
            run("produce-ce", command("produce", f"{topic_a}-ce", "1", "--cloudevents"), env("producer"))
            _save(capture, out, f"{shape.value}_produce_cloudevents", 1)
    finally:
        capture.stop()


def main(argv: list[str] | None = None) -> int:
    """Build the services, start a broker if needed, capture every shape."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=FIXTURES)
    parser.add_argument("--shape", choices=[s.value for s in Shape], action="append")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    builds = (build_java(), build_node())
    shapes = [Shape(s) for s in args.shape] if args.shape else list(Shape)
    with broker() as bootstrap:
        for shape in shapes:
            capture_shape(shape, builds, bootstrap, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
