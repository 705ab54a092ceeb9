"""Capture what the upstream confluent-kafka and aiokafka instrumentations really send; write them as fixtures.

For each client (`upstream_python_service.py`, instrumented by opentelemetry-instrumentation-confluent-kafka
or opentelemetry-instrumentation-aiokafka, never by eventlens): `produce` 2 records to topic A, `relay` them
A → B one record at a time (confluent `poll()`, aiokafka `getone()`), `consume` B in one batch call
(confluent `consume()`, aiokafka `getmany()`), each run exporting to an in-process OTLP/HTTP receiver;
each run's requests are merged into one OTLP/JSON file `fixtures/upstream_<client>_<mode>.json`. Ids chain
across the files of one client, as they would at a collector.

Usage: `.venv/bin/python tests/interop/capture_upstream_fixtures.py [--out DIR] [--client confluent|aiokafka]`
(uses `KAFKA_BOOTSTRAP_SERVERS` when set, otherwise starts a local broker).
"""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from interop.capture_fixtures import FIXTURES, _save, broker
from interop.otlp_capture import OtlpCapture
from interop.services import Shape, otel_env, run

SERVICE = Path(__file__).resolve().parent / "upstream_python_service.py"
CLIENTS = ("confluent", "aiokafka")


def capture_client(client: str, bootstrap: str, out: Path) -> None:
    """Run produce → relay → consume for one client and save the three payloads."""
    suffix = uuid.uuid4().hex[:6]
    topic_a, topic_b = f"interop-upstream-{client}-a-{suffix}", f"interop-upstream-{client}-b-{suffix}"
    capture = OtlpCapture().start()
    try:

        def env(role: str) -> dict[str, str]:
            return otel_env(capture.endpoint, f"{client}-{role}", bootstrap, Shape.EVENTLENS)

        def command(*args: str) -> list[str]:
            return [sys.executable, str(SERVICE), client, *args]

        run("produce", command("produce", topic_a, "2"), env("producer"))
        _save(capture, out, f"upstream_{client}_produce", 2)
        run("relay", command("relay", topic_a, topic_b, f"g-relay-{suffix}", "2"), env("relay"))
        _save(capture, out, f"upstream_{client}_relay", 4)
        run("consume", command("consume", topic_b, f"g-consume-{suffix}", "2"), env("consumer"))
        _save(capture, out, f"upstream_{client}_consume", 1)
    finally:
        capture.stop()


def main(argv: list[str] | None = None) -> int:
    """Start a broker if needed and capture every client."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=FIXTURES)
    parser.add_argument("--client", choices=CLIENTS, action="append")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with broker() as bootstrap:
        for client in args.client or CLIENTS:
            capture_client(client, bootstrap, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
