"""eventlens interop test service in Python: plain kafka-python code traced by `eventlens.instrumentation`.

Same modes and output as the Java and Node services: `produce <topic> <n> [--baggage k=v]...`,
`relay <in> <out> <group> <n> [--copy-headers]` (iterator loop: consume, and produce one record per record
while handling it; `--copy-headers` forwards the incoming headers list, stale `traceparent` included),
`consume <topic> <group> <n>`. One JSON line per record on stdout. The one line of instrumentation is
`instrument(service_name=...)`; everything else comes from `OTEL_*` variables.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from opentelemetry import baggage, context, trace

from eventlens.instrumentation import instrument


def _emit(mode: str, where: Any, key: str | None, value: str | None, *, headers: Any, current: bool) -> None:
    """Print one record line; `where` is a RecordMetadata or ConsumerRecord (topic, partition, offset)."""
    record: dict[str, Any] = {"mode": mode, "topic": where.topic, "partition": where.partition,
                              "offset": where.offset, "key": key, "value": value}
    if current:
        sc = trace.get_current_span().get_span_context()
        record["trace_id"] = format(sc.trace_id, "032x") if sc.is_valid else None
        record["span_id"] = format(sc.span_id, "016x") if sc.is_valid else None
        record["baggage"] = {k: str(v) for k, v in baggage.get_all().items()}
    record["headers"] = [[k, None if v is None else v.decode("utf-8", "replace")] for k, v in headers or []]
    print(json.dumps(record), flush=True)


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", "replace")


def produce(bootstrap: str, topic: str, n: int, options: list[str]) -> int:
    """Send `n` records, inside the given baggage."""
    ctx = context.get_current()
    i = 0
    while i < len(options):
        if options[i] == "--baggage" and i + 1 < len(options):
            k, _, v = options[i + 1].partition("=")
            ctx = baggage.set_baggage(k, v, context=ctx)
            i += 2
        else:
            raise SystemExit(f"unknown option {options[i]}")
    producer = KafkaProducer(bootstrap_servers=bootstrap, client_id="interop-python-producer")
    token = context.attach(ctx)
    try:
        for n_ in range(n):
            key, value = f"key-{n_}", json.dumps({"n": n_, "from": "python"})
            headers: list[tuple[str, bytes | None]] = []
            md = producer.send(topic, value=value.encode(), key=key.encode(), headers=headers).get(timeout=30)
            _emit("produce", md, key, value, headers=headers, current=False)
    finally:
        context.detach(token)
        producer.flush()
        producer.close()
    return 0


def consume(bootstrap: str, topic: str, group: str, n: int, *, out: str | None, copy_headers: bool,
            deadline: float) -> int:
    """Iterate over `topic` until `n` records were handled; relay each to `out` when given."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, client_id="interop-python-consumer",
                             auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=500)
    producer = KafkaProducer(bootstrap_servers=bootstrap, client_id="interop-python-producer") if out else None
    seen = 0
    try:
        while seen < n:
            if time.monotonic() > deadline:
                print(f"timeout: saw {seen} of {n} records on {topic}", file=sys.stderr)
                return 2
            for record in consumer:  # eventlens keeps the process span current in the loop body
                seen += 1
                key = _text(record.key)
                value = _text(record.value)
                _emit("relay-in" if out else "consume", record, key, value,
                      headers=record.headers, current=True)
                if producer is not None and out is not None:
                    headers = list(record.headers) if copy_headers else []
                    md = producer.send(out, value=record.value, key=record.key, headers=headers).get(timeout=30)
                    _emit("relay-out", md, key, value, headers=headers, current=False)
                consumer.commit()
                if seen >= n:
                    break
    finally:
        consumer.close()
        if producer is not None:
            producer.flush()
            producer.close()
    return 0


def main(argv: list[str]) -> int:
    """Instrument, run the mode, flush the spans."""
    instrument(service_name=os.environ.get("OTEL_SERVICE_NAME", "interop-python"))
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    deadline = time.monotonic() + float(os.environ.get("INTEROP_TIMEOUT_S", "90"))
    try:
        if len(argv) >= 3 and argv[0] == "produce":
            return produce(bootstrap, argv[1], int(argv[2]), argv[3:])
        if len(argv) >= 5 and argv[0] == "relay":
            return consume(bootstrap, argv[1], argv[3], int(argv[4]), out=argv[2],
                           copy_headers="--copy-headers" in argv[5:], deadline=deadline)
        if len(argv) >= 4 and argv[0] == "consume":
            return consume(bootstrap, argv[1], argv[2], int(argv[3]), out=None, copy_headers=False, deadline=deadline)
        print("usage: produce <topic> <n> [--baggage k=v]... | relay <in> <out> <group> <n> [--copy-headers] | "
              "consume <topic> <group> <n>", file=sys.stderr)
        return 64
    finally:
        provider = trace.get_tracer_provider()
        for method in ("force_flush", "shutdown"):
            fn = getattr(provider, method, None)
            if callable(fn):
                fn()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
