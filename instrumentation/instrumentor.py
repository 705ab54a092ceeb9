"""`KafkaInstrumentor`: the BaseInstrumentor that wraps kafka-python with eventlens' producer/consumer spans."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

import kafka
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.trace import Span
from wrapt import wrap_function_wrapper

from eventlens.instrumentation import _coexist, _consumer, _kafka_python
from eventlens.instrumentation._batch import forget_batches
from eventlens.instrumentation._runtime import Options, Runtime

__all__ = ["KafkaInstrumentor", "processing"]

_INSTRUMENTS = ("kafka-python >= 3.0, < 4.0",)
_active: list[Runtime] = []

_CONSUMER_METHODS = ("__next__", "poll", "commit", "commit_async", "close")


def active_runtime() -> Runtime | None:
    """The runtime of the active instrumentation, or None when kafka-python is not instrumented."""
    return _active[0] if _active else None


class KafkaInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Instruments kafka-python: send, iterator, poll, commit and close (see docs/instrumentation.md).

    Options of `instrument()`: `tracer_provider`, `meter_provider`, `produce_hook(span, args, kwargs)`,
    `consume_hook(span, record, args, kwargs)`, `event_type_getter(record)`, `process_parent=True`
    (False: the process span links to the creation context instead of being its child),
    `capture_payload=False`, `metrics=True`.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        """The kafka-python versions this instrumentation supports."""
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        _coexist.guard_upstream()
        _coexist.take_over()
        options = Options.from_kwargs(kwargs)
        runtime = Runtime.build(kwargs.get("tracer_provider"), kwargs.get("meter_provider"), options)
        wrap_function_wrapper(kafka.KafkaProducer, "send", _kafka_python.make_send_wrapper(runtime))
        wrap_function_wrapper(kafka.KafkaConsumer, "__next__", _kafka_python.make_next_wrapper(runtime))
        wrap_function_wrapper(kafka.KafkaConsumer, "poll", _kafka_python.make_poll_wrapper(runtime))
        wrap_function_wrapper(kafka.KafkaConsumer, "commit", _kafka_python.make_commit_wrapper(runtime))
        wrap_function_wrapper(kafka.KafkaConsumer, "commit_async", _kafka_python.make_commit_wrapper(runtime))
        wrap_function_wrapper(kafka.KafkaConsumer, "close", _kafka_python.make_close_wrapper(runtime))
        _active[:] = [runtime]
        _consumer.register_processing("kafka", _resolve)
        _coexist.set_active(True)

    def _uninstrument(self, **kwargs: Any) -> None:
        unwrap(kafka.KafkaProducer, "send")
        for name in _CONSUMER_METHODS:
            unwrap(kafka.KafkaConsumer, name)
        _active.clear()
        _consumer.unregister_processing("kafka")
        forget_batches()
        _coexist.set_active(False)


@contextmanager
def processing(record: Any, consumer: Any = None) -> Iterator[Span]:
    """A `process {topic}` span current while the body handles one record obtained from `poll()`.

    `consumer` defaults to the consumer that last polled on this thread (used for group and lag).
    """
    found = _consumer.resolve_processing(record, consumer)
    with _consumer.processing_span(found.runtime if found else None, found.record if found else None,
                                   found.state if found else None) as span:
        yield span


def _resolve(record: Any, consumer: Any) -> _consumer.Resolved | None:
    runtime = active_runtime()
    if runtime is None:
        return None
    return _consumer.Resolved(runtime, record, _kafka_python.consumer_state_for(consumer))
