"""kafka-python's wrapping on the shared core: `KafkaProducer.send`, `KafkaConsumer.__next__`/`poll`/`commit`.

Iterator users get a process span that is current from the `__next__` that returns a record until the next
`__next__`, `poll`, `commit` or `close`. `poll()` users get a `poll {topic}` CLIENT span linking every
record, and `processing(record)` for a per-record span. `__next__` polls internally; a per-consumer flag
keeps that inner poll from making a span of its own. Delivery comes from kafka-python's future.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from eventlens.instrumentation import _current
from eventlens.instrumentation._batch import last_consumer, open_batch, remember_consumer
from eventlens.instrumentation._consumer import (
    ConsumerState,
    commit_topics,
    end_process,
    end_settle,
    open_process,
    record_partitioned_batch,
    start_settle,
)
from eventlens.instrumentation._producer import (
    Delivery,
    ProducerState,
    SendMetrics,
    SendSignature,
    decide_send,
    outgoing_of,
    send_call,
    start_send,
)
from eventlens.instrumentation._runtime import ClientFacts, Runtime, server_of
from eventlens.instrumentation._safety import log_once

_SEND = SendSignature(value=1, key=2, headers=3, partition=4)
"""`KafkaProducer.send(topic, value, key, headers, partition, timestamp_ms)`"""
_PRODUCER_STATE = "_eventlens_producer"
_CONSUMER_STATE = "_eventlens_consumer"
_time_ns = time.time_ns


def _facts(instance: Any) -> ClientFacts:
    config = getattr(instance, "config", {}) or {}
    client_id = config.get("client_id")
    group = config.get("group_id")
    host, port = server_of(config)
    return ClientFacts(client_id if isinstance(client_id, str) else None, host, port,
                       group if isinstance(group, str) else None)


def producer_state(instance: Any) -> ProducerState:
    """The eventlens state attached to a KafkaProducer (created on first use)."""
    st: ProducerState | None = instance.__dict__.get(_PRODUCER_STATE)
    if st is None:
        st = ProducerState(_facts(instance))
        instance.__dict__[_PRODUCER_STATE] = st
    return st


def state_of(instance: Any) -> ConsumerState:
    """The eventlens state attached to a KafkaConsumer (created on first use)."""
    st: ConsumerState | None = instance.__dict__.get(_CONSUMER_STATE)
    if st is None:
        st = ConsumerState(_facts(instance), _highwater_reader(instance))
        instance.__dict__[_CONSUMER_STATE] = st
    return st


def _highwater_reader(instance: Any) -> Callable[[str, int], int | None]:
    ref = weakref.ref(instance)

    def highwater(topic: str, partition: int) -> int | None:
        consumer = ref()
        return consumer.highwater(TopicPartition(topic, partition)) if consumer is not None else None

    return highwater


class _FutureDelivery(Delivery):
    """A `Delivery` fed by kafka-python's future: `RecordMetadata` on success, the exception on failure."""

    __slots__ = ()

    def metadata(self, metadata: Any) -> None:
        self.ok(metadata.offset, metadata.partition, metadata.timestamp)


def make_send_wrapper(runtime: Runtime) -> Callable[..., Any]:
    """The wrapt wrapper for `KafkaProducer.send` bound to `runtime`."""

    def send(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        ctx = _current.get_current()
        if _current.suppressed(ctx):
            return wrapped(*args, **kwargs)
        start_ns = _time_ns()
        try:
            args, kwargs, topic, headers = send_call(args, kwargs, _SEND, copy_headers=False)
            decided = decide_send(runtime, headers, ctx)
            if decided is None:  # unsampled: no record, no producer state, only the metrics at the ack
                metrics = runtime.metrics
                lean = SendMetrics(metrics, topic, start_ns) if metrics is not None else None
            else:
                out = outgoing_of(args, kwargs, _SEND, topic, headers)
                span = start_send(runtime, producer_state(instance), out, ctx, (args, kwargs), decided=decided)
        except Exception as exc:
            log_once("send.start", exc)
            return wrapped(*args, **kwargs)
        if decided is None:
            return _send_unsampled(wrapped, args, kwargs, lean)
        delivery = _FutureDelivery(runtime, span, topic, start_ns)
        try:
            future = wrapped(*args, **kwargs)
        except BaseException as exc:
            delivery.error(exc)
            raise
        if not _on_delivery(future, delivery.metadata, delivery.error) and span is not None:
            span.end()
        return future

    return send


def _send_unsampled(wrapped: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                    lean: SendMetrics | None) -> Any:
    """Send an unsampled record: the future's callbacks only record the metrics (none when metrics are off)."""
    if lean is None:
        return wrapped(*args, **kwargs)
    try:
        future = wrapped(*args, **kwargs)
    except BaseException as exc:
        lean.error(exc)
        raise
    _on_delivery(future, lean.ok, lean.error)
    return future


def _on_delivery(future: Any, ok: Callable[[Any], None], error: Callable[[BaseException], None]) -> bool:
    """Register the ack and error callbacks on kafka-python's future; False (logged once) when that failed."""
    try:
        add_both = getattr(future, "_add_cb_eb", None)
        if add_both is not None:
            add_both(ok, error)
        else:
            future.add_callback(ok)
            future.add_errback(error)
        return True
    except Exception as exc:
        log_once("send.callback", exc)
        return False


def make_next_wrapper(runtime: Runtime) -> Callable[..., Any]:
    """The wrapt wrapper for `KafkaConsumer.__next__`."""

    def next_(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        st = state_of(instance)
        end_process(runtime, st)
        if _current.suppressed(_current.get_current()):
            return wrapped(*args, **kwargs)
        st.in_next = True
        try:
            record = wrapped(*args, **kwargs)
        finally:
            st.in_next = False
        open_process(runtime, st, record)
        return record

    return next_


def make_poll_wrapper(runtime: Runtime) -> Callable[..., Any]:
    """The wrapt wrapper for `KafkaConsumer.poll` (a pass-through when called from inside `__next__`)."""

    def poll(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        st = state_of(instance)
        if st.in_next:
            return wrapped(*args, **kwargs)
        end_process(runtime, st)
        if not is_instrumentation_enabled():
            return wrapped(*args, **kwargs)
        open_batch(None)
        remember_consumer(weakref.ref(instance))
        start_ns = _time_ns()
        result = wrapped(*args, **kwargs)
        if result:
            try:
                record_partitioned_batch(runtime, st, result, start_ns)
            except Exception as exc:
                log_once("poll", exc)
        return result

    return poll


def make_commit_wrapper(runtime: Runtime) -> Callable[..., Any]:
    """The wrapt wrapper for `KafkaConsumer.commit` / `commit_async`: a `commit {topic}` CLIENT span."""

    def commit(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        st = state_of(instance)
        end_process(runtime, st)
        if not is_instrumentation_enabled():
            return wrapped(*args, **kwargs)
        try:
            settle = start_settle(runtime, st, commit_topics(instance, args[0] if args else kwargs.get("offsets")))
        except Exception as exc:
            log_once("commit.start", exc)
            return wrapped(*args, **kwargs)
        failure: BaseException | None = None
        try:
            return wrapped(*args, **kwargs)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            end_settle(runtime, st, settle, failure)

    return commit


def make_close_wrapper(runtime: Runtime) -> Callable[..., Any]:
    """The wrapt wrapper for `KafkaConsumer.close`: ends the open process span first."""

    def close(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        end_process(runtime, state_of(instance))
        return wrapped(*args, **kwargs)

    return close


def consumer_state_for(consumer: Any) -> ConsumerState | None:
    """The state of `consumer`, or of the KafkaConsumer that last polled on this thread when it is None."""
    if consumer is None:
        last = last_consumer()
        consumer = last() if isinstance(last, weakref.ref) else None
    return state_of(consumer) if isinstance(consumer, KafkaConsumer) else None
