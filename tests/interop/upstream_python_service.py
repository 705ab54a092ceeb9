"""A plain confluent-kafka or aiokafka service traced by the upstream OpenTelemetry instrumentation only.

Used to capture what opentelemetry-instrumentation-confluent-kafka and opentelemetry-instrumentation-aiokafka
really emit (`capture_upstream_fixtures.py`); eventlens' own instrumentation is not loaded. Modes, as the other
interop services: `<client> produce <topic> <n>`, `<client> relay <in> <out> <group> <n>` (consume one record at
a time: confluent `poll()`, aiokafka `getone()`; produce one record per record while handling it) and
`<client> consume <topic> <group> <n>` (a batch call: confluent `consume()`, aiokafka `getmany()`); `<client>`
is `confluent` or `aiokafka`. Spans go to `OTEL_EXPORTER_OTLP_ENDPOINT` as OTLP/HTTP protobuf.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

TIMEOUT_S = float(os.environ.get("INTEROP_TIMEOUT_S", "60"))


def _provider() -> TracerProvider:
    """An SDK provider exporting to the OTLP/HTTP endpoint of the environment."""
    provider = TracerProvider(resource=Resource.create({"service.name": os.environ["OTEL_SERVICE_NAME"]}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


# -- confluent-kafka ---------------------------------------------------------------------------------------------


def confluent(mode: str, args: list[str], bootstrap: str) -> None:
    """Run one mode with confluent-kafka, instrumented by ConfluentKafkaInstrumentor (auto-instrumentation)."""
    from opentelemetry.instrumentation.confluent_kafka import ConfluentKafkaInstrumentor

    ConfluentKafkaInstrumentor().instrument()
    import confluent_kafka

    def producer() -> Any:
        return confluent_kafka.Producer({"bootstrap.servers": bootstrap, "client.id": "upstream-confluent"})

    def consumer(topic: str, group: str) -> Any:
        c = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                                      "auto.offset.reset": "earliest", "client.id": "upstream-confluent"})
        c.subscribe([topic])
        return c

    if mode == "produce":
        topic, n = args[0], int(args[1])
        p = producer()
        for i in range(n):
            p.produce(topic, value=f"value-{i}".encode(), key=f"key-{i}".encode())
        assert p.flush(TIMEOUT_S) == 0
    elif mode == "relay":
        source, target, group, n = args[0], args[1], args[2], int(args[3])
        p, c = producer(), consumer(source, group)
        done, deadline = 0, time.monotonic() + TIMEOUT_S
        while done < n and time.monotonic() < deadline:
            msg = c.poll(1.0)
            if msg is None or msg.error():
                continue
            p.produce(target, value=msg.value(), key=msg.key())  # inside the process span left current by poll
            done += 1
        c.poll(0.5)  # ends the last process span
        c.close()
        assert p.flush(TIMEOUT_S) == 0 and done == n, done
    elif mode == "consume":
        source, group, n = args[0], args[1], int(args[2])
        c = consumer(source, group)
        got, deadline = 0, time.monotonic() + TIMEOUT_S
        while got < n and time.monotonic() < deadline:
            got += len([m for m in c.consume(num_messages=n - got, timeout=5.0) if not m.error()])
        c.close()
        assert got == n, got
    else:
        raise SystemExit(f"unknown mode {mode}")


# -- aiokafka ----------------------------------------------------------------------------------------------------


async def aiokafka_run(mode: str, args: list[str], bootstrap: str) -> None:
    """Run one mode with aiokafka, instrumented by AIOKafkaInstrumentor."""
    from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor

    AIOKafkaInstrumentor().instrument()
    import aiokafka

    def consumer(topic: str, group: str) -> Any:
        return aiokafka.AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                                         auto_offset_reset="earliest", client_id="upstream-aiokafka")

    if mode == "produce":
        topic, n = args[0], int(args[1])
        p = aiokafka.AIOKafkaProducer(bootstrap_servers=bootstrap, client_id="upstream-aiokafka")
        await p.start()
        try:
            for i in range(n):
                await p.send_and_wait(topic, f"value-{i}".encode(), key=f"key-{i}".encode())
        finally:
            await p.stop()
    elif mode == "relay":
        source, target, group, n = args[0], args[1], args[2], int(args[3])
        p = aiokafka.AIOKafkaProducer(bootstrap_servers=bootstrap, client_id="upstream-aiokafka")
        c = consumer(source, group)
        await p.start()
        await c.start()
        try:
            for _ in range(n):
                msg = await asyncio.wait_for(c.getone(), TIMEOUT_S)
                await p.send_and_wait(target, msg.value, key=msg.key)
        finally:
            await c.stop()
            await p.stop()
    elif mode == "consume":
        source, group, n = args[0], args[1], int(args[2])
        c = consumer(source, group)
        await c.start()
        try:
            got, deadline = 0, time.monotonic() + TIMEOUT_S
            while got < n and time.monotonic() < deadline:
                batches = await c.getmany(timeout_ms=5000, max_records=n - got)
                got += sum(len(records) for records in batches.values())
            assert got == n, got
        finally:
            await c.stop()
    else:
        raise SystemExit(f"unknown mode {mode}")


def main(argv: list[str]) -> int:
    """`<client> <mode> args…`; flushes every span before exiting."""
    client, mode, args = argv[0], argv[1], argv[2:]
    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    provider = _provider()
    try:
        if client == "confluent":
            confluent(mode, args, bootstrap)
        elif client == "aiokafka":
            asyncio.run(aiokafka_run(mode, args, bootstrap))
        else:
            raise SystemExit(f"unknown client {client}")
    finally:
        provider.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
