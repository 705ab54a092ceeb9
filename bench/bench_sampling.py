"""Consistent probability sampling (issue #19): its cost per message at 1% and the span volume fan-in adds.

1. CPU per message of eventlens' kafka-python wrappers without a broker (as `instr_wrappers`): `send`,
   `__next__`, and `poll` of a 100-record batch followed by one fan-in send, with eventlens'
   `ConsistentProbabilitySampler(0.01)` against the SDK's `ParentBased(TraceIdRatioBased(0.01))` (today's
   sampler), alternating rounds in the same run, best of each. Goal: at most 1 µs more per message.
2. Span volume on a demo-like batch workload: roots sampled at p, a batch consumer sending one output per
   batch of b inputs. With the fan-in rule an output is kept iff one of its inputs was kept (1 − (1 − p)^b of
   batches); the SDK's default keeps p of them, independently of the inputs. Reported: kept outputs per
   batch, the extra spans per 1,000 input messages, and the fraction of kept inputs whose batch output is
   kept (the lineage kept whole).
"""

from __future__ import annotations

import random
import time
from types import SimpleNamespace
from typing import Any

from bench._common import Result, encode_only_exporter
from bench.bench_instr_wrappers import _TS, _Consumer, _stub_send, measure

RATE = 0.01


def _samplers() -> dict[str, Any]:
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    from eventlens.instrumentation.sampling import ConsistentProbabilitySampler

    return {"SDK ParentBased(TraceIdRatioBased)": ParentBased(TraceIdRatioBased(RATE)),
            "consistent, fan_in=False": ConsistentProbabilitySampler(RATE, fan_in=False),
            "consistent (fan-in)": ConsistentProbabilitySampler(RATE)}


def measure_poll(sampler: Any, n: int, batch: int = 100, dropped: bool = False) -> float:
    """CPU µs per consumed message: `poll` returning `batch` records, then one send after it (a fan-in send).

    `dropped`: every record's randomness is below the 1% threshold, so no batch is kept under any sampler
    (what remains is the cost of reading the records' randomness).
    """
    from kafka.consumer.fetcher import ConsumerRecord
    from kafka.structs import TopicPartition
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import SpanLimits, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from eventlens.instrumentation import _kafka_python
    from eventlens.instrumentation._batch import open_batch
    from eventlens.instrumentation._runtime import Options, Runtime

    provider = TracerProvider(sampler=sampler, span_limits=SpanLimits(max_links=1024))
    exporter = encode_only_exporter()
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=4 * n, schedule_delay_millis=200))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    runtime = Runtime.build(provider, meter_provider, Options())
    poll = _kafka_python.make_poll_wrapper(runtime)
    send = _kafka_python.make_send_wrapper(runtime)
    rng = random.Random(5)
    value = b"x" * 200
    tp = TopicPartition("orders", 0)
    batches = []
    for b in range(n // batch):
        records = []
        for i in range(batch):
            trace_id = rng.getrandbits(128)
            if dropped:
                trace_id &= ~((1 << 55) | (1 << 54) | (1 << 53))  # low 56 bits < 0x1f…: far below th:fd70a
            flags = b"01" if (trace_id & ((1 << 56) - 1)) >= (1 - RATE) * (1 << 56) else b"00"
            header = b"00-%032x-00f067aa0ba902b7-%s" % (trace_id, flags)
            records.append(ConsumerRecord("orders", 0, 0, b * batch + i, _TS, 0, b"k", value,
                                          [("traceparent", header)], None, 1, 200, 60))
        batches.append({tp: records})
    consumer = _Consumer(config={"client_id": "c1", "group_id": "g", "bootstrap_servers": "127.0.0.1:9092"},
                         highwater=lambda _tp: n + 10)
    producer = SimpleNamespace(config={"client_id": "p1", "bootstrap_servers": "127.0.0.1:9092"})
    metadata = SimpleNamespace(offset=5, partition=0, timestamp=_TS)
    t0 = time.process_time()
    for result in batches:
        poll(lambda r=result: r, consumer, (), {})
        future = send(_stub_send, producer, ("batches", value), {})
        future.callback(metadata)
    provider.force_flush()
    us = (time.process_time() - t0) / n * 1e6
    open_batch(None)  # the application's next poll would close it; later measurements start with none
    provider.shutdown()
    meter_provider.shutdown()
    return us


def fan_in_volume(rate: float, batch: int, batches: int, seed: int = 1) -> tuple[float, float, float, float]:
    """(kept outputs per batch with fan-in, without, extra spans per 1,000 inputs, share of kept inputs whose
    output is kept with fan-in) for roots sampled at `rate` in batches of `batch`."""
    from opentelemetry.trace import Link, SpanContext

    from eventlens.instrumentation._batch import open_batch
    from eventlens.instrumentation.sampling import ConsistentProbabilitySampler

    open_batch(None)  # roots here have no batch open: their randomness is their own trace id's
    sampler = ConsistentProbabilitySampler(rate)
    rng = random.Random(seed)
    kept_out = kept_indep = kept_inputs = inputs_followed = 0
    for _ in range(batches):
        ids = [rng.getrandbits(128) or 1 for _ in range(batch)]
        kept = [sampler.should_sample(None, t, "send").decision.is_sampled() for t in ids]
        out = sampler.should_sample(None, rng.getrandbits(128), "send",
                                    links=[Link(SpanContext(t, 1, True)) for t in ids]).decision.is_sampled()
        kept_out += out
        kept_indep += rng.random() < rate
        kept_inputs += sum(kept)
        inputs_followed += sum(kept) if out else 0
    extra_per_1000 = (kept_out - kept_indep) / (batches * batch) * 1000
    return kept_out / batches, kept_indep / batches, extra_per_1000, inputs_followed / max(1, kept_inputs)


def run(bootstrap: str, quick: bool = False) -> list[Result]:
    n = 3_000 if quick else 20_000
    rounds = 1 if quick else 3
    samplers = _samplers()
    best: dict[tuple[str, str], float] = {}
    for _ in range(rounds):  # alternate the two samplers, keep each one's best
        for name, sampler in samplers.items():
            send_us, next_us = measure(RATE, True, n, True, sampler)
            poll_us = measure_poll(sampler, n)
            dropped_us = measure_poll(sampler, n, dropped=True)
            for path, us in (("send", send_us), ("__next__", next_us), ("poll + fan-in send", poll_us),
                             ("poll + fan-in send, batches dropped", dropped_us)):
                best[(path, name)] = min(us, best.get((path, name), float("inf")))
    base = next(iter(samplers))
    results = [Result(f"{path} at 1%: {ours}", best[(path, ours)], "µs/msg", base, best[(path, base)],
                      "≤ baseline + 1 µs" if "fan_in=False" in ours or path != "poll + fan-in send"
                      else "cost of the extra kept batches")
               for path in ("send", "__next__", "poll + fan-in send", "poll + fan-in send, batches dropped")
               for ours in list(samplers)[1:]]
    batches = 2_000 if quick else 20_000
    for batch in (10, 100):
        fan, indep, extra, followed = fan_in_volume(RATE, batch, batches)
        results.append(Result(f"kept batch outputs, b={batch}, fan-in", fan * 100, "% of batches",
                              "independent 1%", indep * 100, f"= 1-(1-p)^b = {(1 - (1 - RATE) ** batch) * 100:.1f}%"))
        results.append(Result(f"extra spans per 1,000 inputs, b={batch}", extra, "spans"))
        results.append(Result(f"kept inputs whose batch output is kept, b={batch}", followed * 100, "%",
                              goal="100%"))
    return results
