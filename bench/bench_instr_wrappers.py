"""CPU per message of eventlens' `send` and `__next__` wrappers alone, without a broker.

The wrapped call is a stub returning a future whose success callback is invoked at once; records come
from a list. Spans go through a `BatchSpanProcessor` to an exporter that runs eventlens' OTLP encoder (no
network), metrics to an in-memory reader collected at the end. Consumed records carry a `traceparent`
whose sampled flag follows the ratio (all sampled at 100%, one in 100 at 1%), as records produced by an
instrumented producer with that sampler would. CPU = process CPU time (all threads) per message.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from bench._common import Result, encode_only_exporter

_TS = 1_700_000_000_000


class _Future:
    """kafka-python's future as the wrapper sees it (no callback registered when there is nothing to record)."""

    __slots__ = ("callback", "errback")

    def __init__(self) -> None:
        self.callback: Any = None
        self.errback: Any = None

    def _add_cb_eb(self, callback: Any, errback: Any) -> None:
        self.callback = callback
        self.errback = errback


class _Consumer(SimpleNamespace):
    """A stand-in consumer the core can hold a weak reference to (for its high-watermark reader)."""

    __slots__ = ("__weakref__",)


def _stub_send(*_args: Any, **_kwargs: Any) -> _Future:
    return _Future()


def measure(ratio: float, metrics: bool, n: int, fast_spans: bool = True, sampler: Any = None) -> tuple[float, float]:
    """(send, next) CPU µs per message with the given sampling ratio and metrics on or off.

    `fast_spans=False` makes the exporter refuse eventlens' own spans, so sampled spans go through the SDK.
    `sampler`: the provider's sampler (default `ParentBased(TraceIdRatioBased(ratio))`).
    """
    from kafka.consumer.fetcher import ConsumerRecord
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    from eventlens.instrumentation import _consumer, _kafka_python
    from eventlens.instrumentation._runtime import Options, Runtime

    provider = TracerProvider(sampler=sampler if sampler is not None else ParentBased(TraceIdRatioBased(ratio)))
    exporter = encode_only_exporter(fast_spans)
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=4 * n, max_export_batch_size=512,
                                                   schedule_delay_millis=200))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    runtime = Runtime.build(provider, meter_provider, Options(metrics=metrics))
    send = _kafka_python.make_send_wrapper(runtime)
    producer = SimpleNamespace(config={"client_id": "p1", "bootstrap_servers": "127.0.0.1:9092"})
    metadata = SimpleNamespace(offset=5, partition=0, timestamp=_TS)
    value = b"x" * 200
    t0 = time.process_time()
    for i in range(n):
        future = send(_stub_send, producer, ("orders", value), {"key": b"k%d" % (i % 100)})
        if future.callback is not None:
            future.callback(metadata)
    provider.force_flush()
    reader.get_metrics_data()
    send_us = (time.process_time() - t0) / n * 1e6

    every = 1 if ratio >= 1.0 else round(1 / ratio)
    headers = [[("traceparent", b"00-4bf92f3577b34da6a3ce929d%08x-00f067aa0ba902b7-%s"
                  % (i, b"01" if i % every == 0 else b"00"))] for i in range(n)]
    records = iter([ConsumerRecord("orders", 0, 0, i, _TS, 0, b"k", value, headers[i], None, 1, 200, 60)
                    for i in range(n)])
    consumer = _Consumer(config={"client_id": "c1", "group_id": "g", "bootstrap_servers": "127.0.0.1:9092"},
                         highwater=lambda _tp: n + 10)
    next_ = _kafka_python.make_next_wrapper(runtime)
    t0 = time.process_time()
    for _ in range(n):
        next_(lambda: next(records), consumer, (), {})
    _consumer.end_process(runtime, _kafka_python.state_of(consumer))
    provider.force_flush()
    reader.get_metrics_data()
    next_us = (time.process_time() - t0) / n * 1e6
    provider.shutdown()
    meter_provider.shutdown()
    return send_us, next_us


def run(bootstrap: str, quick: bool = False) -> list[Result]:
    n = 5_000 if quick else 20_000
    results: list[Result] = []
    for label, ratio, metrics, fast in (("100%", 1.0, True, True), ("100% SDK spans", 1.0, True, False),
                                        ("1%", 0.01, True, True), ("1% no metrics", 0.01, False, True)):
        send_us, next_us = min(measure(ratio, metrics, n, fast) for _ in range(3))
        results.append(Result(f"send wrapper {label}", send_us, "µs/msg"))
        results.append(Result(f"__next__ wrapper {label}", next_us, "µs/msg"))
    results.extend(other_clients(n))
    return results


def other_clients(n: int) -> list[Result]:
    """confluent-kafka's `produce`/`poll` and aiokafka's `send`/`getone` wrappers on stub calls, at 100% and 1%,
    best of 3 (the same pipeline as above)."""
    from bench.bench_aiokafka import wrapper_costs as aiokafka_costs
    from bench.bench_confluent import wrapper_costs as confluent_costs

    results: list[Result] = []
    for label, ratio in (("100%", 1.0), ("1%", 0.01)):
        produce_us, poll_us = min(confluent_costs(ratio, n) for _ in range(3))
        send_us, getone_us = min(aiokafka_costs(ratio, n) for _ in range(3))
        results.append(Result(f"confluent produce wrapper {label}", produce_us, "µs/msg"))
        results.append(Result(f"confluent poll wrapper {label}", poll_us, "µs/msg"))
        results.append(Result(f"aiokafka send wrapper {label}", send_us, "µs/msg"))
        results.append(Result(f"aiokafka getone wrapper {label}", getone_us, "µs/msg"))
    return results
