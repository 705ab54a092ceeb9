"""`ConfluentKafkaInstrumentor`: eventlens' producer/consumer spans for confluent-kafka (see docs/instrumentation.md).

confluent-kafka's clients are C extension types: their methods cannot be wrapped in place. `instrument()`
replaces `confluent_kafka.Producer`, `Consumer`, `SerializingProducer` and `DeserializingConsumer` with the
traced subclasses below; `uninstrument()` puts the originals back. Code that imported a class by name before
`instrument()` keeps the untraced class (run `eventlens instrument` / `opentelemetry-instrument`, or call
`instrument()` before those imports).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, ClassVar

import confluent_kafka
from confluent_kafka import cimpl
from confluent_kafka.deserializing_consumer import DeserializingConsumer as _DeserializingConsumer
from confluent_kafka.serializing_producer import SerializingProducer as _SerializingProducer
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from eventlens.instrumentation import _coexist, _confluent, _consumer
from eventlens.instrumentation._batch import forget_batches
from eventlens.instrumentation._runtime import Options, Runtime

__all__ = ["ConfluentKafkaInstrumentor", "TracedConsumer", "TracedDeserializingConsumer", "TracedProducer",
           "TracedSerializingProducer"]

_INSTRUMENTS = ("confluent-kafka >= 2.6, < 3.0",)
_UPSTREAM_MODULE = "opentelemetry.instrumentation.confluent_kafka"
_CLASSES = ("Producer", "Consumer", "SerializingProducer", "DeserializingConsumer")


class _Traced(type):
    """Metaclass of the traced classes: `isinstance`/`issubclass` also accept what the original class accepts."""

    def __instancecheck__(cls, obj: Any) -> bool:
        original = cls.__dict__.get("_eventlens_original")
        return type.__instancecheck__(cls, obj) or (original is not None and isinstance(obj, original))

    def __subclasscheck__(cls, sub: Any) -> bool:
        original = cls.__dict__.get("_eventlens_original")
        return type.__subclasscheck__(cls, sub) or (original is not None and issubclass(sub, original))


class TracedProducer(cimpl.Producer, metaclass=_Traced):
    """`confluent_kafka.Producer` while instrumented: `produce` makes a send span ended by its delivery report."""

    _eventlens_original: ClassVar[type] = cimpl.Producer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Create the producer and keep the facts of its configuration (client id, server, callbacks)."""
        super().__init__(*args, **kwargs)
        _confluent.attach_producer_state(self, args, kwargs)

    def produce(self, *args: Any, **kwargs: Any) -> None:
        """`Producer.produce`, traced (see the class)."""
        runtime = _confluent.active_runtime()
        if runtime is None:
            return cimpl.Producer.produce(self, *args, **kwargs)
        return _confluent.produce(runtime, self, cimpl.Producer.produce, args, kwargs)  # type: ignore[no-any-return]


class TracedConsumer(cimpl.Consumer, metaclass=_Traced):
    """`confluent_kafka.Consumer` while instrumented: process spans from `poll`, batch spans from `consume`,
    commit and store_offsets spans."""

    _eventlens_original: ClassVar[type] = cimpl.Consumer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Create the consumer and keep the facts of its configuration (client id, server, group)."""
        super().__init__(*args, **kwargs)
        _confluent.attach_consumer_state(self, args, kwargs)

    def poll(self, *args: Any, **kwargs: Any) -> Any:
        """`Consumer.poll`, traced: the returned message's process span stays current until the next call."""
        runtime = _confluent.active_runtime()
        if runtime is None:
            return cimpl.Consumer.poll(self, *args, **kwargs)
        return _confluent.poll(runtime, self, cimpl.Consumer.poll, args, kwargs)

    def consume(self, *args: Any, **kwargs: Any) -> Any:
        """`Consumer.consume`, traced: a `poll` CLIENT span linking every message of the batch."""
        runtime = _confluent.active_runtime()
        if runtime is None:
            return cimpl.Consumer.consume(self, *args, **kwargs)
        return _confluent.consume(runtime, self, cimpl.Consumer.consume, args, kwargs)

    def commit(self, *args: Any, **kwargs: Any) -> Any:
        """`Consumer.commit`, traced: a `commit {topic}` CLIENT span."""
        runtime = _confluent.active_runtime()
        if runtime is None:
            return cimpl.Consumer.commit(self, *args, **kwargs)
        return _confluent.settle(runtime, self, cimpl.Consumer.commit, args, kwargs, operation="commit")

    def store_offsets(self, *args: Any, **kwargs: Any) -> Any:
        """`Consumer.store_offsets`, traced: a `store_offsets {topic}` CLIENT span."""
        runtime = _confluent.active_runtime()
        if runtime is None:
            return cimpl.Consumer.store_offsets(self, *args, **kwargs)
        return _confluent.settle(runtime, self, cimpl.Consumer.store_offsets, args, kwargs, operation="store_offsets")

    def close(self, *args: Any, **kwargs: Any) -> Any:
        """`Consumer.close`, ending the open process span first."""
        runtime = _confluent.active_runtime()
        if runtime is None:
            return cimpl.Consumer.close(self, *args, **kwargs)
        return _confluent.close(runtime, self, cimpl.Consumer.close, args, kwargs)

    def __exit__(self, *args: Any) -> Any:
        """Leaving `with consumer:` closes it: the open process span ends first."""
        runtime = _confluent.active_runtime()
        if runtime is None:
            return cimpl.Consumer.__exit__(self, *args)
        return _confluent.close(runtime, self, cimpl.Consumer.__exit__, args, {})


class TracedSerializingProducer(_SerializingProducer, TracedProducer):
    """`SerializingProducer` whose inner produce goes through `TracedProducer`: spans see the serialized bytes."""

    _eventlens_original = _SerializingProducer


class TracedDeserializingConsumer(_DeserializingConsumer, TracedConsumer):
    """`DeserializingConsumer` whose inner poll goes through `TracedConsumer`: spans see the raw bytes."""

    _eventlens_original = _DeserializingConsumer


_TRACED: dict[str, type] = {"Producer": TracedProducer, "Consumer": TracedConsumer,
                            "SerializingProducer": TracedSerializingProducer,
                            "DeserializingConsumer": TracedDeserializingConsumer}
for _name, _cls in _TRACED.items():
    _cls.__module__ = "confluent_kafka"
    _cls.__qualname__ = _name


def _upstream_applied() -> bool:
    return any(str(getattr(getattr(confluent_kafka, name, None), "__module__", "")).startswith(_UPSTREAM_MODULE)
               for name in ("Producer", "Consumer"))


def _restore_originals() -> None:
    for name, cls in _confluent.originals().items():
        setattr(confluent_kafka, name, cls)


UPSTREAM = _coexist.Upstream("confluent_kafka", _UPSTREAM_MODULE, "ConfluentKafkaInstrumentor",
                             "opentelemetry-instrumentation-confluent-kafka", _upstream_applied, _restore_originals)


class ConfluentKafkaInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Instruments confluent-kafka: produce and its delivery report, poll, consume, commit, store_offsets, close.

    Options of `instrument()` are those of `KafkaInstrumentor`: `tracer_provider`, `meter_provider`,
    `produce_hook(span, args, kwargs)`, `consume_hook(span, record, args, kwargs)`, `event_type_getter(record)`,
    `process_parent`, `capture_payload`, `metrics`, `fingerprint_first_n`, `fingerprint_every`.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        """The confluent-kafka versions this instrumentation supports."""
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        _coexist.guard_upstream(UPSTREAM)
        _coexist.take_over(UPSTREAM)
        options = Options.from_kwargs(kwargs)
        runtime = Runtime.build(kwargs.get("tracer_provider"), kwargs.get("meter_provider"), options)
        for name, cls in _TRACED.items():
            setattr(confluent_kafka, name, cls)
        _confluent.activate(runtime)
        _consumer.register_processing("confluent_kafka", _confluent.resolve)
        _coexist.set_active(True, UPSTREAM)

    def _uninstrument(self, **kwargs: Any) -> None:
        _restore_originals()
        _confluent.activate(None)
        _consumer.unregister_processing("confluent_kafka")
        forget_batches()
        _coexist.set_active(False, UPSTREAM)
