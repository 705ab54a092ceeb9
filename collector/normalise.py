"""Map the messaging attributes of every Kafka instrumentation to one `Messaging` model; pure.

Sources understood (each key list below is in order of preference, newest convention first):
eventlens (semantic conventions v1.44 plus `instrumentation/attributes.py`), the upstream
opentelemetry-instrumentation-kafka-python 0.66b1 (`{topic} send` / `{topic} receive`, `messaging.destination`,
integer `messaging.kafka.partition`, `messaging.url`), the OpenTelemetry Java agent (legacy default
`{topic} publish` / `{topic} process` with `messaging.operation`, and its `OTEL_SEMCONV_STABILITY_OPT_IN=messaging`
shape) and @opentelemetry/instrumentation-kafkajs (semconv 1.30 names). When no attribute names the operation it
is derived from the span kind and name.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from eventlens.collector.model import AttrValue, Messaging, Operation, SpanKind
from eventlens.instrumentation import attributes as el

TOPIC_KEYS = ("messaging.destination.name", "messaging.destination", "messaging.source.name")
PARTITION_KEYS = ("messaging.destination.partition.id", "messaging.kafka.destination.partition",
                  "messaging.kafka.partition", "messaging.kafka.source.partition")
OFFSET_KEYS = ("messaging.kafka.offset", "messaging.kafka.message.offset")
KEY_KEYS = ("messaging.kafka.message.key",)
GROUP_KEYS = ("messaging.consumer.group.name", "messaging.kafka.consumer.group", "messaging.kafka.consumer_group")
CLIENT_ID_KEYS = ("messaging.client.id", "messaging.client_id", "messaging.kafka.client_id")
MESSAGE_ID_KEYS = ("messaging.message.id", "messaging.message_id")
BATCH_KEYS = ("messaging.batch.message_count",)
BODY_SIZE_KEYS = ("messaging.message.body.size", "messaging.message.payload_size_bytes",
                  "messaging.message_payload_size_bytes")
EVENT_ID_KEYS = (el.CLOUDEVENTS_EVENT_ID,)
EVENT_TYPE_KEYS = (el.CLOUDEVENTS_EVENT_TYPE, el.EVENT_TYPE)
EVENT_SOURCE_KEYS = (el.CLOUDEVENTS_EVENT_SOURCE,)
SERVER_KEYS = ("server.address", "net.peer.name", "messaging.url")

# `messaging.operation.type` (and the legacy `messaging.operation`) values, old spellings included.
_OPERATION_TYPES: dict[str, Operation] = {
    "create": Operation.CREATE,
    "send": Operation.SEND,
    "publish": Operation.SEND,
    "receive": Operation.RECEIVE,
    "process": Operation.PROCESS,
    "deliver": Operation.PROCESS,
    "settle": Operation.SETTLE,
}
# `messaging.operation.name` values (and span-name words) Kafka clients use.
_OPERATION_NAMES: dict[str, Operation] = {
    **_OPERATION_TYPES,
    "produce": Operation.SEND,
    "poll": Operation.RECEIVE,
    "consume": Operation.RECEIVE,
    "commit": Operation.SETTLE,
    "ack": Operation.SETTLE,
}


INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
_MAX_INT_DIGITS = 20
"""Longer decimal strings are beyond int64 anyway (and parsing huge ones costs time)."""


def in_int64(value: int) -> int | None:
    """`value` when a signed 64-bit column can hold it, else None (the value is dropped, the span kept)."""
    return value if INT64_MIN <= value <= INT64_MAX else None


def as_int(value: AttrValue | None) -> int | None:  # noqa: PLR0911 (one return per value kind)
    """An attribute as an int within int64: ints as they are, decimal strings parsed; anything else None.

    Values beyond int64 (a partition id, offset or body size no store column can hold) are None, so a span
    carrying one is stored without that field instead of failing its whole transaction.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return in_int64(value)
    if isinstance(value, float):
        return in_int64(int(value)) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        if len(text) > _MAX_INT_DIGITS:
            return None
        try:
            return in_int64(int(text))
        except ValueError:
            return None
    return None


def as_float(value: AttrValue | None) -> float | None:
    """An attribute as a float (ints and numeric strings included); anything else None."""
    if value is None or isinstance(value, bool | tuple):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def as_str(value: AttrValue | None) -> str | None:
    """An attribute as a string (numbers formatted, arrays joined with commas)."""
    if value is None:
        return None
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def server_address(value: AttrValue | None) -> str | None:
    """A broker address; upstream kafka-python's `messaging.url` is a JSON list of bootstrap servers."""
    text = as_str(value)
    if text and text.startswith("["):
        try:
            servers = json.loads(text)
        except ValueError:
            return text
        if isinstance(servers, list):
            return ",".join(str(s) for s in servers) or None
    return text


def _name_words(name: str) -> list[str]:
    return name.lower().split()


def _name_operation(name: str) -> str | None:
    """The operation word of a span name: `{operation} {topic}` (current conventions, kafkajs), `{topic}
    {operation}` (upstream kafka-python, the Java agent's default) or just `{operation}` (kafkajs `poll`)."""
    words = _name_words(name)
    if not words:
        return None
    if words[0] in _OPERATION_NAMES:
        return words[0]
    if words[-1] in _OPERATION_NAMES:
        return words[-1]
    return None


def _operation(kind: SpanKind, explicit: str | None, op_name: str | None, has_op_name: bool,
               batch_count: int | None) -> Operation | None:
    """The normalised operation type: from `messaging.operation.type` or the legacy `messaging.operation`
    (`explicit`), else the operation name, else the span kind.

    A single-record CONSUMER span named `… receive` without an explicit operation type (upstream kafka-python,
    one span per record handed to user code and parented on the producer) plays the process role, so it is a
    PROCESS; batch receive spans (with `messaging.batch.message_count`) stay RECEIVE.
    """
    if explicit:
        typed = _OPERATION_TYPES.get(explicit.lower())
        if typed is not None:
            return typed
    lowered = op_name.lower() if op_name else None
    derived = _OPERATION_NAMES.get(lowered) if lowered else None
    if derived is Operation.RECEIVE and kind is SpanKind.CONSUMER and batch_count is None \
            and not has_op_name and lowered == "receive":
        return Operation.PROCESS
    if derived is not None:
        return derived
    if kind is SpanKind.PRODUCER:
        return Operation.SEND
    if kind is SpanKind.CONSUMER:
        return Operation.RECEIVE if batch_count is not None else Operation.PROCESS
    return None


def topic_from_name(name: str, op_name: str | None) -> str | None:
    """The topic in a span name `{op} {topic}` or `{topic} {op}`, when the attributes do not carry it."""
    parts = name.split()
    if len(parts) != 2 or op_name is None:
        return None
    op = op_name.lower()
    if parts[0].lower() == op:
        return parts[1]
    if parts[1].lower() == op:
        return parts[0]
    return None


def is_batch_envelope(kind: SpanKind, op_name: str | None, batch_count: int | None) -> bool:
    """A CONSUMER batch `receive` span without a destination attribute: upstream aiokafka's `getmany` envelope
    (`{t1, t2} receive`), whose span name lists the topics its per-topic child spans carry. Its topic is not
    read from its name, so the batch is counted by its children and per-record spans, not a second time."""
    return kind is SpanKind.CONSUMER and batch_count is not None and (op_name or "").lower() == "receive"


def offset_from_message_id(message_id: str | None, topic: str | None, partition: int | None) -> int | None:
    """The offset in a message id `{topic}.{partition}.{offset}` (upstream confluent-kafka's process spans carry
    no offset attribute, only this id), when the id has exactly that shape; else None."""
    if message_id is None or topic is None or partition is None:
        return None
    prefix = f"{topic}.{partition}."
    tail = message_id[len(prefix):] if message_id.startswith(prefix) else ""
    return int(tail) if tail.isdigit() else None


_EMPTY = Messaging()

# One pass over a span's attributes: each known key names a slot and a priority (its place in the key lists).
_SLOTS = ("system", "topic", "partition", "offset", "key", "group", "client_id", "message_id", "batch",
          "body_size", "event_id", "event_type", "event_source", "fingerprint", "lag_offsets", "lag_seconds",
          "server", "error_type", "op_name", "op_type")
_SLOT_KEYS: tuple[tuple[str, ...], ...] = (
    ("messaging.system",), TOPIC_KEYS, PARTITION_KEYS, OFFSET_KEYS, KEY_KEYS, GROUP_KEYS, CLIENT_ID_KEYS,
    MESSAGE_ID_KEYS, BATCH_KEYS, BODY_SIZE_KEYS, EVENT_ID_KEYS, EVENT_TYPE_KEYS, EVENT_SOURCE_KEYS,
    (el.SCHEMA_FINGERPRINT,), (el.LAG_OFFSETS,), (el.LAG_SECONDS,), SERVER_KEYS, ("error.type",),
    ("messaging.operation.name", "messaging.operation"), ("messaging.operation.type", "messaging.operation"),
)
_KEY_SLOTS: dict[str, list[tuple[int, int]]] = {}
for _slot, _keys in enumerate(_SLOT_KEYS):
    for _prio, _key in enumerate(_keys):
        _KEY_SLOTS.setdefault(_key, []).append((_slot, _prio))
_N = len(_SLOTS)
(_SYSTEM, _TOPIC, _PARTITION, _OFFSET, _KEY, _GROUP, _CLIENT, _MSG_ID, _BATCH, _BODY, _EV_ID, _EV_TYPE, _EV_SRC,
 _FPR, _LAG_OFF, _LAG_S, _SERVER, _ERROR, _OP_NAME, _OP_TYPE) = range(_N)


_PLAN_CACHE_MAX = 4096


@dataclass(frozen=True, slots=True)
class _Plan:
    """Where the messaging values of spans with one attribute-key sequence are: `get` fetches them in one call,
    `slots[i]` is the slot of the i-th value. Built once per key sequence (an instrumentation emits few)."""

    get: Callable[[Mapping[str, AttrValue]], tuple[AttrValue, ...]]
    slots: tuple[int, ...]
    empty: bool
    has_op_name: bool


_PLANS: dict[tuple[str, ...], _Plan | None] = {}


def _plan(keys: tuple[str, ...]) -> _Plan | None:
    """The plan for spans whose attributes have exactly these keys; None when a slot has two candidate keys
    present (the general loop then applies the priorities and the empty-value rule)."""
    chosen: dict[int, str] = {}
    for k in keys:
        for slot, _prio in _KEY_SLOTS.get(k, ()):
            if slot in chosen:
                return None
            chosen[slot] = k
    slots = tuple(chosen)
    wanted = tuple(chosen.values())
    get: Callable[[Mapping[str, AttrValue]], tuple[AttrValue, ...]]
    if len(wanted) == 1:
        only = wanted[0]

        def get(attrs: Mapping[str, AttrValue]) -> tuple[AttrValue, ...]:
            return (attrs[only],)
    elif wanted:
        get = operator.itemgetter(*wanted)
    else:
        def get(attrs: Mapping[str, AttrValue]) -> tuple[AttrValue, ...]:
            return ()
    empty = not any(k.startswith("messaging.") for k in keys)
    return _Plan(get, slots, empty, "messaging.operation.name" in keys)


def _slot_values(attributes: Mapping[str, AttrValue]) -> tuple[list[AttrValue | None], bool] | None:
    """Each slot's value by the key priorities, and whether the span is a messaging span at all (None: not).

    Spans of one instrumentation share their attribute keys, so the keys' plan is cached and the values are
    fetched in one call; a plan-less key sequence or an empty value takes the general loop.
    """
    keys = tuple(attributes)
    try:
        plan = _PLANS[keys]
    except KeyError:
        if len(_PLANS) >= _PLAN_CACHE_MAX:
            _PLANS.clear()
        plan = _PLANS[keys] = _plan(keys)
    if plan is not None:
        if plan.empty:
            return None
        fetched = plan.get(attributes)
        if "" not in fetched:
            values: list[AttrValue | None] = [None] * _N
            for slot, v in zip(plan.slots, fetched, strict=True):
                values[slot] = v
            return values, plan.has_op_name
    values = [None] * _N
    prios = [99] * _N
    messaging = False
    key_slots = _KEY_SLOTS
    for k, v in attributes.items():
        hits = key_slots.get(k)
        if hits is None or v == "":
            continue
        if k[0] == "m":
            messaging = True
        for slot, prio in hits:
            if prio < prios[slot]:
                values[slot], prios[slot] = v, prio
    if not messaging and not any(k.startswith("messaging.") for k in attributes):
        return None
    return values, "messaging.operation.name" in attributes


def messaging_fields(name: str, kind: SpanKind, attributes: Mapping[str, AttrValue]) -> Messaging:
    """Pull the messaging fields out of a span's attributes, whichever instrumentation emitted them."""
    found = _slot_values(attributes)
    if found is None:
        return _EMPTY
    vals, has_op_name = found
    # Inline conversions: most values already have the right type (or are absent), so no call is made for them.
    # Arguments are positional, in the field order of `Messaging` (the tests compare whole records).
    batch_count = x if (x := vals[_BATCH]) is None or type(x) is int else as_int(x)
    op_name = x if type(x := vals[_OP_NAME]) is str else (as_str(x) if x is not None else None)
    op_name = op_name or _name_operation(name)
    topic = x if type(x := vals[_TOPIC]) is str else (as_str(x) if x is not None else None)
    op_type = x if type(x := vals[_OP_TYPE]) is str else (as_str(x) if x is not None else None)
    if not topic and not is_batch_envelope(kind, op_name, batch_count):
        topic = topic_from_name(name, op_name)
    partition = x if (x := vals[_PARTITION]) is None or type(x) is int else as_int(x)
    offset = x if (x := vals[_OFFSET]) is None or type(x) is int else as_int(x)
    message_id = x if type(x := vals[_MSG_ID]) is str or x is None else as_str(x)
    if offset is None and message_id is not None:
        offset = offset_from_message_id(message_id, topic, partition)
    return Messaging(
        x if type(x := vals[_SYSTEM]) is str or x is None else as_str(x),
        _operation(kind, op_type, op_name, has_op_name, batch_count),
        op_name,
        topic or None,
        partition,
        offset,
        x if type(x := vals[_KEY]) is str or x is None else as_str(x),
        x if type(x := vals[_GROUP]) is str or x is None else as_str(x),
        x if type(x := vals[_CLIENT]) is str or x is None else as_str(x),
        message_id,
        batch_count,
        x if (x := vals[_BODY]) is None or type(x) is int else as_int(x),
        x if type(x := vals[_EV_ID]) is str or x is None else as_str(x),
        x if type(x := vals[_EV_TYPE]) is str or x is None else as_str(x),
        x if type(x := vals[_EV_SRC]) is str or x is None else as_str(x),
        x if type(x := vals[_FPR]) is str or x is None else as_str(x),
        x if (x := vals[_LAG_OFF]) is None or type(x) is int else as_int(x),
        None if (x := vals[_LAG_S]) is None else as_float(x),
        None if (x := vals[_SERVER]) is None else server_address(x),
        x if type(x := vals[_ERROR]) is str or x is None else as_str(x),
    )
