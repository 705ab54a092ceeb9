"""confluent-kafka's wrapping on the shared core: Python subclasses standing in for its C extension classes.

`confluent_kafka.Producer`/`Consumer` are C types whose methods cannot be patched, so `instrument()` puts
subclasses in their place in the `confluent_kafka` module (and subclasses of `SerializingProducer` and
`DeserializingConsumer` that route their inner call to the C class through the traced one, so spans see the
serialized bytes). A metaclass makes `isinstance(x, confluent_kafka.Producer)` answer as it did for the
original class. Every method looks the active runtime up per call, so `uninstrument()` turns instances
already created back into plain clients.

Producer: a `send` span per `produce`, ended from the delivery report (librdkafka calls it from `poll()` or
`flush()`), which then calls the user's callback with the same `(err, msg)`. Consumer: `poll` opens a
process span current until the next `poll`/`consume`/`commit`/`store_offsets`/`close`; `consume` records a
`poll` CLIENT span linking the batch. Messages whose `error()` is set (partition EOF, ...) are not records.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition, cimpl

from eventlens.instrumentation import _current
from eventlens.instrumentation._batch import last_consumer, open_batch, poll_batch_open, remember_consumer
from eventlens.instrumentation._consumer import (
    ConsumerState,
    Resolved,
    end_process,
    end_settle,
    open_process,
    record_batch,
    start_settle,
)
from eventlens.instrumentation._producer import Delivery, Outgoing, ProducerState, SendMetrics, decide_send, start_send
from eventlens.instrumentation._runtime import ClientFacts, Runtime, first_server
from eventlens.instrumentation._safety import log_once

_time_ns = time.time_ns
_active: list[Runtime] = []
_STATE = "_eventlens_state"
_NOT_AVAILABLE = 0  # confluent_kafka.TIMESTAMP_NOT_AVAILABLE
_PRODUCE_ARGS = ("topic", "value", "key", "partition", "callback", "on_delivery", "timestamp", "headers")
Headers = list[tuple[str, bytes | None]]


def activate(runtime: Runtime | None) -> None:
    """Make `runtime` the one every traced client uses (None: the traced classes behave as the plain ones)."""
    _active[:] = [runtime] if runtime is not None else []


def active_runtime() -> Runtime | None:
    """The runtime of the active confluent-kafka instrumentation (None when not instrumented)."""
    return _active[0] if _active else None


class Record:
    """A confluent-kafka `Message` in the core's record shape (read once: each accessor is a C call)."""

    __slots__ = ("headers", "key", "message", "offset", "partition", "serialized_value_size", "timestamp", "topic",
                 "value")

    def __init__(self, message: Any) -> None:
        self.message = message
        self.topic: str = message.topic()
        self.partition: int = message.partition()
        self.offset: int = message.offset()
        self.key = message.key()
        value = message.value()
        self.value = value
        self.headers: Sequence[tuple[str, bytes | None]] = message.headers() or ()
        kind, ms = message.timestamp()
        self.timestamp: int | None = ms if kind != _NOT_AVAILABLE else None
        self.serialized_value_size: int | None = len(value) if isinstance(value, bytes | bytearray) else None


def config_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The client configuration as given to the constructor: a dict, keyword overrides, or both."""
    conf: dict[str, Any] = dict(args[0]) if args and isinstance(args[0], dict) else {}
    for name, value in kwargs.items():
        conf[name.replace("_", ".") if name not in conf else name] = value
    return conf


def facts_of(conf: dict[str, Any]) -> ClientFacts:
    """`client.id`, the first of `bootstrap.servers` and `group.id` from a confluent-kafka configuration."""
    client_id, group = conf.get("client.id"), conf.get("group.id")
    host, port = first_server(conf.get("bootstrap.servers") or conf.get("metadata.broker.list"))
    return ClientFacts(client_id if isinstance(client_id, str) else None, host, port,
                       group if isinstance(group, str) else None)


class ProducerSide:
    """Per-producer eventlens state: the core's `ProducerState`, the producer-level delivery callback."""

    __slots__ = ("default_callback", "only_errors", "state")

    def __init__(self, conf: dict[str, Any]) -> None:
        self.state = ProducerState(facts_of(conf))
        callback = conf.get("on_delivery")
        self.default_callback: Callable[..., Any] | None = callback if callable(callback) else None
        self.only_errors = str(conf.get("delivery.report.only.error", "false")).lower() == "true"


def _producer_side(instance: Any) -> ProducerSide:
    side: ProducerSide | None = getattr(instance, _STATE, None)
    if side is None:  # created while not instrumented by a traced class: nothing known from its configuration
        side = ProducerSide({})
        setattr(instance, _STATE, side)
    return side


def _error_kind(exc: BaseException) -> str | None:
    """The Kafka error name of a `KafkaException` (its first argument is a `KafkaError`), else None."""
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return str(exc.args[0].name())
    return None


def _headers_list(headers: Any) -> Headers:
    """A fresh list for the core to inject into: a list is copied, a dict becomes pairs, None becomes []."""
    if headers is None:
        return []
    if type(headers) is list:
        return headers.copy()
    if isinstance(headers, dict):
        return list(headers.items())
    if isinstance(headers, list | tuple):
        return list(headers)
    raise TypeError("headers is neither a list nor a dict")


class Report(Delivery):
    """A `Delivery` that is also the record's delivery callback: ends the send span (or, unsampled, records the
    send metrics), then calls the user's callback with the same `(err, msg)`."""

    __slots__ = ("user",)

    def __init__(self, runtime: Runtime, span: Any, topic: str, start_ns: int,
                 user: Callable[..., Any] | None) -> None:
        self.metrics = runtime.metrics  # (Delivery's fields set here: one call less per produce)
        self.span = span
        self.topic = topic
        self.start_ns = start_ns
        self.user = user

    def __call__(self, err: Any, msg: Any) -> None:
        """librdkafka's delivery report for this record (called from `poll()` or `flush()`)."""
        try:
            if err is not None:
                self.error(KafkaException(err), str(err.name()))
            elif self.span is not None:
                kind, ms = msg.timestamp()
                self.ok(msg.offset(), msg.partition(), ms if kind != _NOT_AVAILABLE else None)
            elif self.metrics is not None:  # unsampled: only the metrics, without reading the message
                self.metrics.record_send(self.topic, (_time_ns() - self.start_ns) / 1e9)
        except Exception as exc:
            log_once("confluent.delivery", exc)
        user = self.user
        if user is not None:
            user(err, msg)


def _bind(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any, Any, dict[str, Any]]:
    """`produce`'s (topic, value, key) and its other arguments by name (`kwargs`, a fresh dict, is reused)."""
    n = len(args)
    if n > 3:
        call = dict(zip(_PRODUCE_ARGS[3:], args[3:], strict=False))
        call.update(kwargs)
        kwargs, n = call, 3
    return (args[0] if n else kwargs.pop("topic", None), args[1] if n > 1 else kwargs.pop("value", None),
            args[2] if n > 2 else kwargs.pop("key", None), kwargs)


def produce(runtime: Runtime, instance: Any, parent: Callable[..., Any], args: tuple[Any, ...],
            kwargs: dict[str, Any]) -> Any:
    """`produce` traced: a send span started now, ended by the delivery report (or failed if produce raises)."""
    ctx = _current.get_current()
    if _current.suppressed(ctx):
        return parent(instance, *args, **kwargs)
    start_ns = _time_ns()
    try:
        side = _producer_side(instance)
        topic, value, key, call = _bind(args, dict(kwargs))
        if not isinstance(topic, str):
            raise TypeError("topic is not a string")
        headers = _headers_list(call.get("headers"))
        call["headers"] = headers
        user = call.pop("on_delivery", None)
        callback = call.pop("callback", None)
        if user is None:
            user = callback
        decided = decide_send(runtime, headers, ctx)
        partition = call.get("partition")
        partition = partition if type(partition) is int and partition >= 0 else None
        span = None  # unsampled (decided is None): no record, no span, only the metrics at the report
        if decided is not None:
            span = start_send(runtime, side.state, Outgoing(topic, value, key, headers, partition), ctx,
                              (args, kwargs), decided=decided)
        delivery: Delivery | SendMetrics | None
        if side.only_errors:
            delivery = _only_errors_delivery(runtime, span, topic, start_ns)
            if user is not None:
                call["on_delivery"] = user
        else:
            delivery = Report(runtime, span, topic, start_ns, user if user is not None else side.default_callback)
            call["on_delivery"] = delivery
    except Exception as exc:
        log_once("confluent.produce.start", exc)
        return parent(instance, *args, **kwargs)
    try:
        result = parent(instance, topic, value, key, **call)
    except BaseException as exc:
        if delivery is not None:
            delivery.error(exc, _error_kind(exc))
        raise
    if side.only_errors and delivery is not None:  # no report will come for a delivered record: the span
        delivery.ok(None, partition, None)         # covers the enqueue only
    return result


def _only_errors_delivery(runtime: Runtime, span: Any, topic: str, start_ns: int) -> Delivery | SendMetrics | None:
    """The delivery of a producer with `delivery.report.only.error` (ended when `produce` returns)."""
    if span is not None:
        return Delivery(runtime, span, topic, start_ns)
    return SendMetrics(runtime.metrics, topic, start_ns) if runtime.metrics is not None else None


def _lag_reader(instance: Any) -> Callable[[str, int], int | None]:
    """Reads the high watermark librdkafka cached from the partition's last fetch response (no request)."""
    ref = weakref.ref(instance)

    def high(topic: str, partition: int) -> int | None:
        consumer = ref()
        if consumer is None:
            return None
        _low, hi = cimpl.Consumer.get_watermark_offsets(consumer, TopicPartition(topic, partition), cached=True)
        return hi if isinstance(hi, int) and hi >= 0 else None

    return high


def consumer_state(instance: Any) -> ConsumerState:
    """The core's state of a consumer (created on first use when the consumer's configuration is unknown)."""
    st: ConsumerState | None = getattr(instance, _STATE, None)
    if st is None:
        st = ConsumerState(ClientFacts(), _lag_reader(instance))
        setattr(instance, _STATE, st)
    return st


def attach_consumer_state(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Keep the facts of a new consumer's configuration (constructor arguments `args`, `kwargs`) on it."""
    try:
        setattr(instance, _STATE, ConsumerState(facts_of(config_of(args, kwargs)), _lag_reader(instance)))
    except Exception as exc:  # a configuration eventlens cannot read: defaults on first use
        log_once("confluent.consumer.config", exc)


def attach_producer_state(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Keep the facts of a new producer's configuration (constructor arguments `args`, `kwargs`) on it."""
    try:
        setattr(instance, _STATE, ProducerSide(config_of(args, kwargs)))
    except Exception as exc:  # a configuration eventlens cannot read: defaults on first use
        log_once("confluent.producer.config", exc)


def poll(runtime: Runtime, instance: Any, parent: Callable[..., Any], args: tuple[Any, ...],
         kwargs: dict[str, Any]) -> Any:
    """`poll` traced: ends the open process span, then opens one for the message it returns."""
    st = consumer_state(instance)
    end_process(runtime, st)
    if _current.suppressed(_current.get_current()):
        return parent(instance, *args, **kwargs)
    if poll_batch_open():  # a record from poll() closes the batch of an earlier consume()
        open_batch(None)
    msg = parent(instance, *args, **kwargs)
    if msg is not None:
        try:
            if msg.error() is None:
                open_process(runtime, st, Record(msg))
        except Exception as exc:
            log_once("confluent.poll", exc)
    return msg


def consume(runtime: Runtime, instance: Any, parent: Callable[..., Any], args: tuple[Any, ...],
            kwargs: dict[str, Any]) -> Any:
    """`consume` traced: ends the open process span, then records the batch's `poll` span with its links."""
    st = consumer_state(instance)
    end_process(runtime, st)
    if _current.suppressed(_current.get_current()):
        return parent(instance, *args, **kwargs)
    open_batch(None)
    remember_consumer(st)
    start_ns = _time_ns()
    messages = parent(instance, *args, **kwargs)
    if messages:
        try:
            records = [Record(m) for m in messages if m.error() is None]
            if records:
                record_batch(runtime, st, records, start_ns)
        except Exception as exc:
            log_once("confluent.consume", exc)
    return messages


def _settle_topics(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> set[str]:
    message = args[0] if args else kwargs.get("message")
    if message is not None:
        return {message.topic()}
    offsets = args[1] if len(args) > 1 else kwargs.get("offsets")
    if offsets:
        return {tp.topic for tp in offsets}
    try:
        return {tp.topic for tp in cimpl.Consumer.assignment(instance)}
    except Exception:
        return set()


def settle(runtime: Runtime, instance: Any, parent: Callable[..., Any], args: tuple[Any, ...],
           kwargs: dict[str, Any], *, operation: str) -> Any:
    """`commit` / `store_offsets` traced: ends the open process span, then a CLIENT span around the call.

    An asynchronous commit's span covers handing the commit to librdkafka, not the broker's answer.
    """
    st = consumer_state(instance)
    end_process(runtime, st)
    if _current.suppressed(_current.get_current()):
        return parent(instance, *args, **kwargs)
    try:
        span = start_settle(runtime, st, _settle_topics(instance, args, kwargs), operation)
    except Exception as exc:
        log_once("confluent." + operation, exc)
        return parent(instance, *args, **kwargs)
    failure: BaseException | None = None
    try:
        return parent(instance, *args, **kwargs)
    except BaseException as exc:
        failure = exc
        raise
    finally:
        end_settle(runtime, st, span, failure)


def close(runtime: Runtime, instance: Any, parent: Callable[..., Any], args: tuple[Any, ...],
          kwargs: dict[str, Any]) -> Any:
    """`close` traced: ends the open process span first."""
    end_process(runtime, consumer_state(instance))
    return parent(instance, *args, **kwargs)


def resolve(record: Any, consumer: Any) -> Resolved | None:
    """`processing(msg)` for confluent-kafka messages: the record viewed in the core's shape, and its consumer."""
    runtime = active_runtime()
    if runtime is None or not isinstance(record, cimpl.Message):
        return None
    st: ConsumerState | None = None
    if consumer is not None:
        st = consumer_state(consumer) if isinstance(consumer, cimpl.Consumer) else None
    else:
        last = last_consumer()
        st = last if isinstance(last, ConsumerState) else None
    return Resolved(runtime, Record(record), st)


def originals() -> dict[str, type]:
    """confluent-kafka's own classes, whatever the `confluent_kafka` module names point to now."""
    from confluent_kafka.deserializing_consumer import DeserializingConsumer
    from confluent_kafka.serializing_producer import SerializingProducer

    return {"Producer": cimpl.Producer, "Consumer": cimpl.Consumer, "SerializingProducer": SerializingProducer,
            "DeserializingConsumer": DeserializingConsumer}
