"""aiokafka's wrapping on the shared core: `AIOKafkaProducer.send`, `create_batch` (its builder's `append`) and
`send_batch`; `AIOKafkaConsumer.getone` / `getmany` / `commit` / `stop`.

`send_and_wait` and `async for` (`__anext__`) call `send` and `getone` internally, so wrapping those two covers
them: one send span and one injection per record, one process span per record. The process span a `getone`
opens is kept per consumer *and per asyncio task* and made current in the calling task only (OpenTelemetry's
context is a context variable, and an awaited coroutine shares its task's context); it ends at that task's next
`getone`/`getmany`/`commit`/`stop` on the same consumer. Spans left open by tasks that have finished are ended
(without touching any context) at the consumer's next call.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.trace import Span, SpanKind
from wrapt import FunctionWrapper

from eventlens.instrumentation import _current, _propagation
from eventlens.instrumentation._batch import last_consumer, open_batch, remember_consumer
from eventlens.instrumentation._consumer import (
    ConsumerState,
    commit_topics,
    end_settle,
    record_partitioned_batch,
    start_process,
    start_settle,
)
from eventlens.instrumentation._producer import (
    Delivery,
    Outgoing,
    ProducerState,
    SendMetrics,
    SendSignature,
    decide_send,
    headers_list,
    outgoing_of,
    send_attributes,
    send_call,
    start_send,
)
from eventlens.instrumentation._runtime import ClientFacts, Runtime, first_server, set_attributes
from eventlens.instrumentation._safety import log_once

_PRODUCER_STATE = "_eventlens_producer"
_CONSUMER_STATE = "_eventlens_consumer"
_OPEN = "_eventlens_open"
_BATCH_PENDING = "_eventlens_pending"
_SEND = SendSignature(value=1, key=2, partition=3, headers=5)
"""`AIOKafkaProducer.send(topic, value, key, partition, timestamp_ms, headers)`"""
_time_ns = time.time_ns
Wrapper = Callable[..., Any]


def _facts(client: Any, group: Any = None) -> ClientFacts:
    client_id = getattr(client, "_client_id", None)
    host, port = first_server(getattr(client, "_bootstrap_servers", None))
    return ClientFacts(client_id if isinstance(client_id, str) else None, host, port,
                       group if isinstance(group, str) else None)


def producer_state(instance: Any) -> ProducerState:
    """The eventlens state attached to an AIOKafkaProducer (created on first use)."""
    st: ProducerState | None = instance.__dict__.get(_PRODUCER_STATE)
    if st is None:
        st = ProducerState(_facts(getattr(instance, "client", None)))
        instance.__dict__[_PRODUCER_STATE] = st
    return st


def state_of(instance: Any) -> ConsumerState:
    """The eventlens state attached to an AIOKafkaConsumer (created on first use)."""
    st: ConsumerState | None = instance.__dict__.get(_CONSUMER_STATE)
    if st is None:
        st = ConsumerState(_facts(getattr(instance, "_client", None), getattr(instance, "_group_id", None)),
                           _highwater_reader(instance))
        instance.__dict__[_CONSUMER_STATE] = st
    return st


def _highwater_reader(instance: Any) -> Callable[[str, int], int | None]:
    from aiokafka import TopicPartition

    ref = weakref.ref(instance)

    def highwater(topic: str, partition: int) -> int | None:
        consumer = ref()
        if consumer is None:
            return None
        value = consumer.highwater(TopicPartition(topic, partition))
        return value if isinstance(value, int) else None

    return highwater


# --- the producer -----------------------------------------------------------------------------------------


def _failed(delivery: Any, future: asyncio.Future[Any]) -> bool:
    """Report a cancelled or failed send future to `delivery` (`error`); False when the send succeeded."""
    if future.cancelled():
        delivery.error(asyncio.CancelledError(), "cancelled")
        return True
    exc = future.exception()
    if exc is not None:
        delivery.error(exc)
        return True
    return False


class _FutureDelivery(Delivery):
    """A `Delivery` fed by an asyncio future resolving to `RecordMetadata` (or failing)."""

    __slots__ = ("relative",)

    def __init__(self, runtime: Runtime, span: Span | None, topic: str, start_ns: int, relative: int = 0) -> None:
        super().__init__(runtime, span, topic, start_ns)
        self.relative = relative

    def done(self, future: asyncio.Future[Any]) -> None:
        """The future's callback: the ack's offset (plus the record's place in a batch) or the failure."""
        if _failed(self, future):
            return
        metadata = future.result()
        offset = getattr(metadata, "offset", None)
        self.ok(offset + self.relative if isinstance(offset, int) and offset >= 0 else None,
                getattr(metadata, "partition", None), getattr(metadata, "timestamp", None))


class _FutureMetrics(SendMetrics):
    """An unsampled send's delivery fed by the asyncio future: only the send metrics."""

    __slots__ = ()

    def done(self, future: asyncio.Future[Any]) -> None:
        """The future's callback: one sent message, or one failed with the error (`cancelled` when cancelled)."""
        if not _failed(self, future):
            self.ok()


def make_send_wrapper(runtime: Runtime) -> Wrapper:
    """The wrapt wrapper for `AIOKafkaProducer.send` (also what `send_and_wait` calls)."""

    async def send(wrapped: Wrapper, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        ctx = _current.get_current()
        if _current.suppressed(ctx):
            return await wrapped(*args, **kwargs)
        start_ns = _time_ns()
        span = None
        try:
            args, kwargs, topic, headers = send_call(args, kwargs, _SEND, copy_headers=True)
            decided = decide_send(runtime, headers, ctx)
            delivery: _FutureDelivery | _FutureMetrics | None
            if decided is None:  # unsampled: no record, no producer state, only the metrics at the ack
                metrics = runtime.metrics
                delivery = _FutureMetrics(metrics, topic, start_ns) if metrics is not None else None
            else:
                out = outgoing_of(args, kwargs, _SEND, topic, headers)
                span = start_send(runtime, producer_state(instance), out, ctx, (args, kwargs), decided=decided)
                delivery = _FutureDelivery(runtime, span, topic, start_ns)
        except Exception as exc:
            log_once("aiokafka.send.start", exc)
            return await wrapped(*args, **kwargs)
        try:
            future = await wrapped(*args, **kwargs)
        except BaseException as exc:
            if delivery is not None:
                delivery.error(exc)
            raise
        if delivery is None:
            return future
        try:
            future.add_done_callback(delivery.done)
        except Exception as exc:
            log_once("aiokafka.send.callback", exc)
            if span is not None:
                span.end()
        return future

    return send


class _Pending:
    """A record appended to a `BatchBuilder`: its send span waits for the topic that `send_batch` names."""

    __slots__ = ("ctx", "out", "span", "start_ns")

    def __init__(self, out: Outgoing, span: Span, ctx: Any, start_ns: int) -> None:
        self.out, self.span, self.ctx, self.start_ns = out, span, ctx, start_ns


def make_create_batch_wrapper(runtime: Runtime) -> Wrapper:
    """The wrapt wrapper for `AIOKafkaProducer.create_batch`: the returned builder's `append` is traced.

    Only builders the application asked for are traced: the producer's own accumulator appends every `send`
    through the same `BatchBuilder.append`, so the class method itself is left alone.
    """
    tracer = _append_wrapper(runtime)

    def create_batch(wrapped: Wrapper, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        builder = wrapped(*args, **kwargs)
        try:
            builder.append = FunctionWrapper(builder.append, tracer)
        except Exception as exc:
            log_once("aiokafka.create_batch", exc)
        return builder

    return create_batch


def _append_wrapper(runtime: Runtime) -> Wrapper:
    """A wrapper for one builder's `append`: a send span per appended record, its context in the headers.

    The topic is known only at `send_batch`, so the span is started through the SDK as `send`, renamed and
    given its attributes there, and ended at the batch's ack with the record's own offset.
    """

    def append(wrapped: Wrapper, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        ctx = _current.get_current()
        if _current.suppressed(ctx) or args:
            return wrapped(*args, **kwargs)
        try:
            headers = headers_list(kwargs.get("headers"))
            kwargs = {**kwargs, "headers": headers}
            span = runtime.tracer.start_span("send", context=ctx, kind=SpanKind.PRODUCER)
            _propagation.inject_span(headers, span)
            pending = _Pending(Outgoing("", kwargs.get("value"), kwargs.get("key"), headers), span, ctx, _time_ns())
        except Exception as exc:
            log_once("aiokafka.append", exc)
            return wrapped(*args, **kwargs)
        metadata = wrapped(*args, **kwargs)
        builder = getattr(wrapped, "__self__", None)
        if metadata is not None and builder is not None:
            builder.__dict__.setdefault(_BATCH_PENDING, []).append(pending)
        return metadata

    return append


def make_send_batch_wrapper(runtime: Runtime) -> Wrapper:
    """The wrapt wrapper for `AIOKafkaProducer.send_batch`: the appended records' spans get their topic and end
    at the batch's ack."""

    async def send_batch(wrapped: Wrapper, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        batch = args[0] if args else kwargs.get("batch")
        pending: list[_Pending] = batch.__dict__.pop(_BATCH_PENDING, []) if hasattr(batch, "__dict__") else []
        topic = args[1] if len(args) > 1 else kwargs.get("topic")
        deliveries: list[_FutureDelivery] = []
        try:
            if pending and isinstance(topic, str):
                deliveries = _batch_spans(runtime, producer_state(instance), pending, topic, (args, kwargs))
        except Exception as exc:
            log_once("aiokafka.send_batch", exc)
        try:
            future = await wrapped(*args, **kwargs)
        except BaseException as exc:
            for delivery in deliveries:
                delivery.error(exc)
            raise
        for delivery in deliveries:
            future.add_done_callback(delivery.done)
        return future

    return send_batch


def _batch_spans(runtime: Runtime, st: ProducerState, pending: list[_Pending], topic: str,
                 call: tuple[tuple[Any, ...], dict[str, Any]]) -> list[_FutureDelivery]:
    args, kwargs = call
    partition = kwargs.get("partition")
    deliveries = []
    for index, item in enumerate(pending):
        span = item.span
        if span.is_recording():
            out = item.out._replace(topic=topic, partition=partition if isinstance(partition, int) else None)
            span.update_name("send " + topic)
            attrs = dict(st.base_attributes(topic).values)
            set_attributes(span, send_attributes(runtime, attrs, out))
            hook = runtime.options.produce_hook
            if hook is not None:
                try:
                    hook(span, args, kwargs)
                except Exception as exc:
                    log_once("produce_hook", exc)
        deliveries.append(_FutureDelivery(runtime, span, topic, item.start_ns, index))
    return deliveries


# --- the consumer -----------------------------------------------------------------------------------------


class _Open:
    """The process span a `getone` left open in one task, with the token that made it current there."""

    __slots__ = ("span", "start_ns", "token", "topic")

    def __init__(self, span: Span, token: object, start_ns: int, topic: str) -> None:
        self.span, self.token, self.start_ns, self.topic = span, token, start_ns, topic


def _task_key() -> object:
    try:
        task = asyncio.current_task()
    except RuntimeError:
        task = None
    return task if task is not None else _NO_TASK


_NO_TASK = object()


def _open_spans(instance: Any) -> dict[object, _Open]:
    spans: dict[object, _Open] | None = instance.__dict__.get(_OPEN)
    if spans is None:
        spans = {}
        instance.__dict__[_OPEN] = spans
    return spans


def end_process(runtime: Runtime, instance: Any, st: ConsumerState, *, every_task: bool = False) -> None:
    """End this task's open process span on `instance` (detaching it), and those of tasks that have finished.

    With `every_task` (at `stop`), other live tasks' spans end too (their context is left as it is).
    """
    spans: dict[object, _Open] | None = instance.__dict__.get(_OPEN)
    if not spans:
        return
    opened = spans.pop(_task_key(), None)
    if opened is not None:
        _end(runtime, st, opened, detach=True)
    if spans:  # other tasks' spans: end those whose task is over (or all of them at stop)
        for task, other in list(spans.items()):
            if every_task or (isinstance(task, asyncio.Task) and task.done()):
                del spans[task]
                _end(runtime, st, other, detach=False)


def _end(runtime: Runtime, st: ConsumerState, opened: _Open, *, detach: bool) -> None:
    try:
        if detach:
            otel_context.detach(opened.token)  # type: ignore[arg-type]
        opened.span.end()
        if runtime.metrics is not None:
            runtime.metrics.record_process(opened.topic, st.group, (_time_ns() - opened.start_ns) / 1e9)
    except Exception as exc:
        log_once("aiokafka.process.end", exc)


def open_process(runtime: Runtime, instance: Any, st: ConsumerState, record: Any) -> None:
    """Start the process span of a record `getone` returns and make it current in the calling task."""
    try:
        start_ns = _time_ns()
        if runtime.metrics is not None:
            runtime.metrics.record_consumed(record.topic, st.group)
        span, ctx = start_process(runtime, st, record)
        token = otel_context.attach(ctx)
        _open_spans(instance)[_task_key()] = _Open(span, token, start_ns, record.topic)
    except Exception as exc:
        log_once("aiokafka.process.open", exc)


def make_getone_wrapper(runtime: Runtime) -> Wrapper:
    """The wrapt wrapper for `AIOKafkaConsumer.getone` (also what `async for` calls)."""

    async def getone(wrapped: Wrapper, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        st = state_of(instance)
        end_process(runtime, instance, st)
        if _current.suppressed(_current.get_current()):
            return await wrapped(*args, **kwargs)
        record = await wrapped(*args, **kwargs)
        open_process(runtime, instance, st, record)
        return record

    return getone


def make_getmany_wrapper(runtime: Runtime) -> Wrapper:
    """The wrapt wrapper for `AIOKafkaConsumer.getmany`: a `poll {topic}` CLIENT span linking every record."""

    async def getmany(wrapped: Wrapper, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        st = state_of(instance)
        end_process(runtime, instance, st)
        if _current.suppressed(_current.get_current()):
            return await wrapped(*args, **kwargs)
        open_batch(None)
        remember_consumer(weakref.ref(instance))
        start_ns = _time_ns()
        result = await wrapped(*args, **kwargs)
        if result:
            try:
                record_partitioned_batch(runtime, st, result, start_ns)
            except Exception as exc:
                log_once("aiokafka.getmany", exc)
        return result

    return getmany


def make_commit_wrapper(runtime: Runtime) -> Wrapper:
    """The wrapt wrapper for `AIOKafkaConsumer.commit`: a `commit {topic}` CLIENT span around the call."""

    async def commit(wrapped: Wrapper, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        st = state_of(instance)
        end_process(runtime, instance, st)
        if _current.suppressed(_current.get_current()):
            return await wrapped(*args, **kwargs)
        try:
            settle = start_settle(runtime, st, commit_topics(instance, args[0] if args else kwargs.get("offsets")))
        except Exception as exc:
            log_once("aiokafka.commit.start", exc)
            return await wrapped(*args, **kwargs)
        failure: BaseException | None = None
        try:
            return await wrapped(*args, **kwargs)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            end_settle(runtime, st, settle, failure)

    return commit


def make_stop_wrapper(runtime: Runtime) -> Wrapper:
    """The wrapt wrapper for `AIOKafkaConsumer.stop`: ends every open process span of the consumer first."""

    def stop(wrapped: Wrapper, instance: Any, args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> Coroutine[Any, Any, Any]:
        try:
            end_process(runtime, instance, state_of(instance), every_task=True)
        except Exception as exc:
            log_once("aiokafka.stop", exc)
        result: Coroutine[Any, Any, Any] = wrapped(*args, **kwargs)
        return result

    return stop


def consumer_state_for(consumer: Any) -> ConsumerState | None:
    """The state of `consumer`, or of the AIOKafkaConsumer that last called `getmany` in this task."""
    from aiokafka import AIOKafkaConsumer

    if consumer is None:
        last = last_consumer()
        consumer = last() if isinstance(last, weakref.ref) else None
    return state_of(consumer) if isinstance(consumer, AIOKafkaConsumer) else None


def is_record(record: Any) -> bool:
    """True for aiokafka's `ConsumerRecord`."""
    from aiokafka.structs import ConsumerRecord

    return isinstance(record, ConsumerRecord)

