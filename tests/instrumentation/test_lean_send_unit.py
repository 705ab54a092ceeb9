"""The unsampled send path of every client: no span, no `Outgoing`, no producer state; exact metrics; the header.

Each client's send wrapper is driven without a broker (a stub send call, the delivery reported by hand) on a
tracer whose sampler drops every root, so every send takes the fast path's unsampled branch.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from kafka.errors import KafkaTimeoutError
from kafka.future import Future
from kafka.producer.future import RecordMetadata
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from eventlens.instrumentation import _aiokafka, _confluent, _kafka_python, _producer
from eventlens.instrumentation._runtime import Options, Runtime

N = 7


class _Built:
    """Counts what the send path builds that an unsampled send should not need."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.records = 0
        self.states = 0
        self.spans = 0
        for module in (_kafka_python, _aiokafka, _confluent, _producer):
            for name, counter in (("outgoing_of", "records"), ("Outgoing", "records"),
                                  ("producer_state", "states"), ("FastSpan", "spans")):
                if hasattr(module, name):
                    monkeypatch.setattr(module, name, self._counting(getattr(module, name), counter))

    def _counting(self, real: Any, counter: str) -> Any:
        def build(*args: Any, **kwargs: Any) -> Any:
            setattr(self, counter, getattr(self, counter) + 1)
            return real(*args, **kwargs)

        return build


@pytest.fixture
def setup(monkeypatch: pytest.MonkeyPatch):
    """A runtime on the fast path whose sampler drops every send, with in-memory spans and metrics."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    runtime = Runtime.build(provider, MeterProvider(metric_readers=[reader]), Options())
    assert runtime.fast is not None
    monkeypatch.setattr(runtime.tracer, "start_span", _no_sdk_span)
    built = _Built(monkeypatch)
    return SimpleNamespace(runtime=runtime, exporter=exporter, reader=reader, built=built)


def _no_sdk_span(*_args: Any, **_kwargs: Any) -> Any:
    raise AssertionError("an unsampled send started an SDK span")


def _points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    data = reader.get_metrics_data()
    return [point for rm in data.resource_metrics for sm in rm.scope_metrics for metric in sm.metrics
            if metric.name == name for point in metric.data.data_points]


def _sent(reader: InMemoryMetricReader) -> dict[str | None, int]:
    return {p.attributes.get("error.type"): p.value for p in _points(reader, "messaging.client.sent.messages")}


def _send_durations(reader: InMemoryMetricReader) -> int:
    return sum(p.count for p in _points(reader, "messaging.client.operation.duration")
               if p.attributes.get("messaging.operation.name") == "send")


def _assert_unsampled_traceparent(headers: list[tuple[str, bytes | None]]) -> None:
    (value,) = [v for k, v in headers if k == "traceparent"]
    assert value is not None
    version, _trace_id, _span_id, flags = value.split(b"-")
    assert version == b"00"
    assert not int(flags, 16) & 0x01


def _assert_nothing_built(built: _Built, exporter: InMemorySpanExporter) -> None:
    assert (built.records, built.states, built.spans) == (0, 0, 0)
    assert exporter.get_finished_spans() == ()


# --- kafka-python -----------------------------------------------------------------------------------------


def _kafka_send(setup: Any, fail: bool = False) -> list[tuple[str, bytes | None]]:
    send = _kafka_python.make_send_wrapper(setup.runtime)
    seen: dict[str, Any] = {}

    def wrapped(*args: Any, **kwargs: Any) -> Future:
        seen["headers"] = args[3] if len(args) > 3 else kwargs["headers"]
        return Future()

    producer = SimpleNamespace(config={"client_id": "p", "bootstrap_servers": "127.0.0.1:9092"})
    future = send(wrapped, producer, ("orders", b"v"), {"key": b"k"})
    if fail:
        future.failure(KafkaTimeoutError("no ack"))
    else:
        future.success(RecordMetadata("orders", 0, ("orders", 0), 5, 1_700_000_000_000, None, 0, 1, -1))
    return seen["headers"]


def test_kafka_python_unsampled_send_builds_no_span_record_or_state(setup):
    """An unsampled kafka-python send builds no span, no `Outgoing` and no producer state."""
    for _ in range(N):
        _kafka_send(setup)
    _assert_nothing_built(setup.built, setup.exporter)


def test_kafka_python_unsampled_send_still_writes_the_traceparent(setup):
    """The unsampled send still puts a `traceparent` (sampled flag off) on the record."""
    _assert_unsampled_traceparent(_kafka_send(setup))


def test_kafka_python_unsampled_sends_keep_the_metrics_exact(setup):
    """Every unsampled ack and failure is counted, and each has its send duration."""
    for _ in range(N):
        _kafka_send(setup)
    _kafka_send(setup, fail=True)
    assert _sent(setup.reader) == {None: N, "KafkaTimeoutError": 1}
    assert _send_durations(setup.reader) == N + 1


def test_kafka_python_unsampled_send_that_raises_is_counted_as_failed(setup):
    """A send call that raises at once is re-raised and counted as one failed send."""
    send = _kafka_python.make_send_wrapper(setup.runtime)

    def wrapped(*_args: Any, **_kwargs: Any) -> Future:
        raise KafkaTimeoutError("buffer full")

    with pytest.raises(KafkaTimeoutError):
        send(wrapped, SimpleNamespace(config={}), ("orders", b"v"), {})
    assert _sent(setup.reader) == {"KafkaTimeoutError": 1}


# --- confluent-kafka --------------------------------------------------------------------------------------


class _Message:
    def offset(self) -> int:
        return 5

    def partition(self) -> int:
        return 0

    def timestamp(self) -> tuple[int, int]:
        return 1, 1_700_000_000_000


def _confluent_produce(setup: Any, user: Any = None, err: Any = None) -> list[tuple[str, bytes | None]]:
    seen: dict[str, Any] = {}

    def parent(_instance: Any, topic: str, value: Any, key: Any, **call: Any) -> None:
        seen.update(call)

    kwargs = {"on_delivery": user} if user is not None else {}
    _confluent.produce(setup.runtime, SimpleNamespace(), parent, ("orders", b"v", b"k"), kwargs)
    seen["on_delivery"](err, _Message())
    return seen["headers"]


def test_confluent_unsampled_produce_builds_no_span_or_record(setup):
    """An unsampled confluent-kafka produce builds no span and no `Outgoing`."""
    for _ in range(N):
        _confluent_produce(setup)
    _assert_nothing_built(setup.built, setup.exporter)


def test_confluent_unsampled_produce_still_writes_the_traceparent(setup):
    """The unsampled produce still puts a `traceparent` (sampled flag off) on the record."""
    _assert_unsampled_traceparent(_confluent_produce(setup))


def test_confluent_unsampled_produce_calls_the_user_callback_once(setup):
    """The user's `on_delivery` is called exactly once with librdkafka's `(err, msg)`."""
    calls: list[tuple[Any, Any]] = []
    _confluent_produce(setup, user=lambda err, msg: calls.append((err, msg)))
    assert len(calls) == 1 and calls[0][0] is None


def test_confluent_unsampled_produces_keep_the_metrics_exact(setup):
    """Every unsampled delivery report and error is counted, and each has its send duration."""
    from confluent_kafka import KafkaError

    for _ in range(N):
        _confluent_produce(setup)
    _confluent_produce(setup, err=KafkaError(KafkaError._MSG_TIMED_OUT))
    assert _sent(setup.reader) == {None: N, "_MSG_TIMED_OUT": 1}
    assert _send_durations(setup.reader) == N + 1


# --- aiokafka ---------------------------------------------------------------------------------------------


def _aiokafka_send(setup: Any, fail: bool = False) -> list[tuple[str, bytes | None]]:
    send = _aiokafka.make_send_wrapper(setup.runtime)
    seen: dict[str, Any] = {}

    async def run() -> None:
        loop = asyncio.get_running_loop()
        delivered: asyncio.Future[Any] = loop.create_future()

        async def wrapped(*args: Any, **kwargs: Any) -> asyncio.Future[Any]:
            seen["headers"] = args[4] if len(args) > 4 else kwargs["headers"]
            return delivered

        producer = SimpleNamespace(client=None)
        future = await send(wrapped, producer, ("orders", b"v"), {"key": b"k"})
        if fail:
            future.set_exception(KafkaTimeoutError("no ack"))
        else:
            future.set_result(SimpleNamespace(offset=5, partition=0, timestamp=1_700_000_000_000))
        await asyncio.sleep(0)  # the done callbacks run on the next loop iteration

    asyncio.run(run())
    return seen["headers"]


def test_aiokafka_unsampled_send_builds_no_span_record_or_state(setup):
    """An unsampled aiokafka send builds no span, no `Outgoing` and no producer state."""
    for _ in range(N):
        _aiokafka_send(setup)
    _assert_nothing_built(setup.built, setup.exporter)


def test_aiokafka_unsampled_send_still_writes_the_traceparent(setup):
    """The unsampled send still puts a `traceparent` (sampled flag off) on the record."""
    _assert_unsampled_traceparent(_aiokafka_send(setup))


def test_aiokafka_unsampled_sends_keep_the_metrics_exact(setup):
    """Every unsampled ack and failure is counted, and each has its send duration."""
    for _ in range(N):
        _aiokafka_send(setup)
    _aiokafka_send(setup, fail=True)
    assert _sent(setup.reader) == {None: N, "KafkaTimeoutError": 1}
    assert _send_durations(setup.reader) == N + 1
