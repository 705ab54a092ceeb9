"""`AIOKafkaInstrumentor`: the BaseInstrumentor that wraps aiokafka with eventlens' producer/consumer spans."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import aiokafka
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from wrapt import wrap_function_wrapper

from eventlens.instrumentation import _aiokafka, _coexist, _consumer
from eventlens.instrumentation._batch import forget_batches
from eventlens.instrumentation._runtime import Options, Runtime

__all__ = ["AIOKafkaInstrumentor"]

_INSTRUMENTS = ("aiokafka >= 0.12, < 0.15",)
_CONSUMER_METHODS = ("getone", "getmany", "commit", "stop")
_active: list[Runtime] = []
_UPSTREAM_MODULE = "opentelemetry.instrumentation.aiokafka"
UPSTREAM_WRAPPED = (("AIOKafkaProducer", "send"), ("AIOKafkaConsumer", "getone"), ("AIOKafkaConsumer", "getmany"))
"""The (class, method) pairs the upstream aiokafka instrumentor wraps."""


def _upstream_wrappers() -> list[tuple[Any, str]]:
    """The aiokafka methods still wrapped by the upstream instrumentor."""
    return [(getattr(aiokafka, cls), method) for cls, method in UPSTREAM_WRAPPED
            if _coexist.wrapped_by_upstream(getattr(aiokafka, cls).__dict__.get(method), _UPSTREAM_MODULE)]


def _unwrap_upstream() -> None:
    for cls, method in _upstream_wrappers():
        unwrap(cls, method)


UPSTREAM = _coexist.Upstream("aiokafka", _UPSTREAM_MODULE, "AIOKafkaInstrumentor",
                             "opentelemetry-instrumentation-aiokafka", lambda: bool(_upstream_wrappers()),
                             _unwrap_upstream)


def active_runtime() -> Runtime | None:
    """The runtime of the active aiokafka instrumentation, or None when aiokafka is not instrumented."""
    return _active[0] if _active else None


class AIOKafkaInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Instruments aiokafka: send (and so send_and_wait), batches, getone (and so `async for`), getmany, commit
    and stop (see docs/instrumentation.md). Takes the same options as `KafkaInstrumentor`."""

    def instrumentation_dependencies(self) -> Collection[str]:
        """The aiokafka versions this instrumentation supports."""
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        _coexist.guard_upstream(UPSTREAM)
        _coexist.take_over(UPSTREAM)
        options = Options.from_kwargs(kwargs)
        runtime = Runtime.build(kwargs.get("tracer_provider"), kwargs.get("meter_provider"), options)
        producer, consumer = aiokafka.AIOKafkaProducer, aiokafka.AIOKafkaConsumer
        wrap_function_wrapper(producer, "send", _aiokafka.make_send_wrapper(runtime))
        wrap_function_wrapper(producer, "send_batch", _aiokafka.make_send_batch_wrapper(runtime))
        wrap_function_wrapper(producer, "create_batch", _aiokafka.make_create_batch_wrapper(runtime))
        wrap_function_wrapper(consumer, "getone", _aiokafka.make_getone_wrapper(runtime))
        wrap_function_wrapper(consumer, "getmany", _aiokafka.make_getmany_wrapper(runtime))
        wrap_function_wrapper(consumer, "commit", _aiokafka.make_commit_wrapper(runtime))
        wrap_function_wrapper(consumer, "stop", _aiokafka.make_stop_wrapper(runtime))
        _active[:] = [runtime]
        _consumer.register_processing("aiokafka", _resolve)
        _coexist.set_active(True, UPSTREAM)

    def _uninstrument(self, **kwargs: Any) -> None:
        unwrap(aiokafka.AIOKafkaProducer, "send")
        unwrap(aiokafka.AIOKafkaProducer, "send_batch")
        unwrap(aiokafka.AIOKafkaProducer, "create_batch")
        for name in _CONSUMER_METHODS:
            unwrap(aiokafka.AIOKafkaConsumer, name)
        _active.clear()
        _consumer.unregister_processing("aiokafka")
        forget_batches()
        _coexist.set_active(False, UPSTREAM)


def _resolve(record: Any, consumer: Any) -> _consumer.Resolved | None:
    runtime = active_runtime()
    if runtime is None or not _aiokafka.is_record(record):
        return None
    return _consumer.Resolved(runtime, record, _aiokafka.consumer_state_for(consumer))
