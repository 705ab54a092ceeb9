"""Normalisation: every emitter's messaging attributes map to the same `Messaging` fields and operation."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from hypothesis import given
from hypothesis import strategies as st

from eventlens.collector import normalise
from eventlens.collector.model import Messaging, Operation, SpanKind
from eventlens.collector.normalise import messaging_fields

P, C, CL, INTERNAL = SpanKind.PRODUCER, SpanKind.CONSUMER, SpanKind.CLIENT, SpanKind.INTERNAL


def test_eventlens_send_span():
    """eventlens `send {topic}` (semconv v1.44): string partition id, key, offset, client id, message id."""
    m = messaging_fields("send orders", P, {
        "messaging.system": "kafka", "messaging.destination.name": "orders", "messaging.operation.name": "send",
        "messaging.operation.type": "send", "messaging.destination.partition.id": "2",
        "messaging.kafka.message.key": "k1", "messaging.kafka.offset": 17, "messaging.client.id": "p-1",
        "messaging.message.id": "m-1", "messaging.message.body.size": 200, "server.address": "127.0.0.1",
        "cloudevents.event_id": "e-1", "cloudevents.event_type": "order.created",
        "cloudevents.event_source": "/shop", "eventlens.schema.fingerprint": "json:ab12", "error.type": "Timeout"})
    assert m == Messaging(system="kafka", operation=Operation.SEND, operation_name="send", topic="orders",
                          partition=2, offset=17, key="k1", client_id="p-1", message_id="m-1", body_size=200,
                          event_id="e-1", event_type="order.created", event_source="/shop",
                          schema_fingerprint="json:ab12", server_address="127.0.0.1", error_type="Timeout")


def test_eventlens_process_span_with_lag():
    """eventlens `process {topic}`: group, offset and the eventlens lag attributes."""
    m = messaging_fields("process orders", C, {
        "messaging.system": "kafka", "messaging.destination.name": "orders", "messaging.operation.name": "process",
        "messaging.operation.type": "process", "messaging.consumer.group.name": "billing",
        "messaging.destination.partition.id": "0", "messaging.kafka.offset": 5, "eventlens.lag.offsets": 3,
        "eventlens.lag.seconds": 0.25, "eventlens.event.type": "OrderPlaced"})
    assert (m.operation, m.topic, m.consumer_group, m.partition, m.offset) == (Operation.PROCESS, "orders",
                                                                                "billing", 0, 5)
    assert (m.lag_offsets, m.lag_seconds, m.event_type) == (3, 0.25, "OrderPlaced")


def test_eventlens_poll_span_is_receive_with_batch_count():
    """eventlens `poll {topic}` CLIENT: receive, with the batch count."""
    m = messaging_fields("poll orders", CL, {"messaging.system": "kafka", "messaging.operation.name": "poll",
                                             "messaging.operation.type": "receive",
                                             "messaging.batch.message_count": 12})
    assert (m.operation, m.operation_name, m.batch_count, m.topic) == (Operation.RECEIVE, "poll", 12, "orders")


def test_eventlens_commit_span_is_settle():
    """eventlens `commit {topic}` CLIENT settles."""
    m = messaging_fields("commit orders", CL, {"messaging.system": "kafka", "messaging.operation.name": "commit",
                                               "messaging.operation.type": "settle"})
    assert m.operation is Operation.SETTLE and m.topic == "orders"


def test_upstream_kafka_python_send():
    """Upstream 0.66b1 `{topic} send`: old destination key, int partition, JSON list in messaging.url."""
    m = messaging_fields("orders send", P, {"messaging.system": "kafka", "messaging.destination": "orders",
                                            "messaging.kafka.partition": 1,
                                            "messaging.url": '["localhost:9092", "b2:9092"]'})
    assert (m.operation, m.operation_name, m.topic, m.partition) == (Operation.SEND, "send", "orders", 1)
    assert m.server_address == "localhost:9092,b2:9092"


def test_upstream_kafka_python_receive_is_a_process_span():
    """Upstream `{topic} receive` CONSUMER (one per record, parented on the producer) plays the process role."""
    m = messaging_fields("orders receive", C, {"messaging.system": "kafka", "messaging.destination": "orders",
                                               "messaging.kafka.partition": 0})
    assert (m.operation, m.operation_name, m.topic, m.partition) == (Operation.PROCESS, "receive", "orders", 0)


def test_java_agent_legacy_publish():
    """Java agent default: `{topic} publish` PRODUCER, `messaging.operation`=publish, legacy partition key."""
    m = messaging_fields("orders publish", P, {
        "messaging.system": "kafka", "messaging.destination.name": "orders", "messaging.operation": "publish",
        "messaging.kafka.destination.partition": 3, "messaging.kafka.message.offset": 99,
        "messaging.client_id": "producer-1", "messaging.kafka.message.key": "42"})
    assert (m.operation, m.operation_name, m.partition, m.offset, m.client_id, m.key) == (
        Operation.SEND, "publish", 3, 99, "producer-1", "42")


def test_java_agent_legacy_process():
    """Java agent default: `{topic} process` CONSUMER with legacy group, partition and offset keys."""
    m = messaging_fields("orders process", C, {
        "messaging.system": "kafka", "messaging.destination.name": "orders", "messaging.operation": "process",
        "messaging.kafka.consumer.group": "billing", "messaging.kafka.destination.partition": 0,
        "messaging.kafka.message.offset": 7, "messaging.kafka.client_id": "consumer-billing-1"})
    assert (m.operation, m.consumer_group, m.partition, m.offset, m.client_id) == (
        Operation.PROCESS, "billing", 0, 7, "consumer-billing-1")


def test_java_agent_legacy_receive_with_batch_count():
    """Java agent experimental receive telemetry: `{topic} receive` CONSUMER with a batch count stays receive."""
    m = messaging_fields("orders receive", C, {"messaging.system": "kafka", "messaging.destination.name": "orders",
                                               "messaging.operation": "receive",
                                               "messaging.batch.message_count": 4})
    assert m.operation is Operation.RECEIVE and m.batch_count == 4


def test_java_agent_stable_semconv_poll_and_process():
    """Java agent with OTEL_SEMCONV_STABILITY_OPT_IN=messaging: `poll`/`process` with current names."""
    poll = messaging_fields("poll orders", CL, {"messaging.system": "kafka", "messaging.operation.name": "poll",
                                                "messaging.operation.type": "receive",
                                                "messaging.destination.name": "orders",
                                                "messaging.consumer.group.name": "billing"})
    proc = messaging_fields("process orders", C, {"messaging.system": "kafka",
                                                  "messaging.operation.name": "process",
                                                  "messaging.operation.type": "process",
                                                  "messaging.destination.partition.id": "1",
                                                  "messaging.kafka.offset": 8})
    assert (poll.operation, poll.consumer_group) == (Operation.RECEIVE, "billing")
    assert (proc.operation, proc.topic, proc.partition, proc.offset) == (Operation.PROCESS, "orders", 1, 8)


def test_kafkajs_send_uses_semconv_1_30_names():
    """kafkajs `send {topic}`: operation type `publish` (pre-1.28 value) → send, 1.30 key and partition names."""
    m = messaging_fields("send orders", P, {
        "messaging.system": "kafka", "messaging.destination.name": "orders", "messaging.operation.type": "publish",
        "messaging.operation.name": "send", "messaging.kafka.message.key": "k",
        "messaging.destination.partition.id": "0"})
    assert (m.operation, m.key, m.partition, m.topic) == (Operation.SEND, "k", 0, "orders")


def test_kafkajs_eachbatch_poll_without_topic():
    """kafkajs eachBatch `poll {topic}` root CLIENT span; a bare `poll` name leaves the topic unknown."""
    m = messaging_fields("poll", CL, {"messaging.system": "kafka", "messaging.operation.type": "receive",
                                      "messaging.batch.message_count": 3})
    assert (m.operation, m.operation_name, m.topic, m.batch_count) == (Operation.RECEIVE, "poll", None, 3)


def test_kafkajs_process_with_deliver_operation_type():
    """Older operation type value `deliver` means process."""
    m = messaging_fields("process orders", C, {"messaging.system": "kafka", "messaging.operation.type": "deliver",
                                               "messaging.destination.name": "orders",
                                               "messaging.kafka.offset": "12"})
    assert (m.operation, m.offset) == (Operation.PROCESS, 12)


def test_operation_from_kind_when_name_says_nothing():
    """No operation attribute and an unhelpful name: PRODUCER → send, CONSUMER → process."""
    assert messaging_fields("do-it", P, {"messaging.system": "kafka"}).operation is Operation.SEND
    assert messaging_fields("do-it", C, {"messaging.system": "kafka"}).operation is Operation.PROCESS
    assert messaging_fields("do-it", INTERNAL, {"messaging.system": "kafka"}).operation is None


def test_non_messaging_span_has_empty_messaging():
    """A span without any messaging attribute gets an empty `Messaging`."""
    assert messaging_fields("GET /orders", SpanKind.SERVER, {"http.method": "GET"}) == Messaging()


def test_bad_values_become_none_not_errors():
    """Unparsable partition or offset values are dropped, never raised."""
    m = messaging_fields("send t", P, {"messaging.system": "kafka", "messaging.destination.partition.id": "x",
                                       "messaging.kafka.offset": True})
    assert m.partition is None and m.offset is None


def test_alternative_group_and_client_keys():
    """`messaging.client_id` and `messaging.consumer.group.name` are read too."""
    m = messaging_fields("process t", C, {"messaging.system": "kafka", "messaging.client_id": "c1",
                                          "messaging.consumer.group.name": "g"})
    assert (m.client_id, m.consumer_group) == ("c1", "g")


_KNOWN_KEYS = [*sorted(normalise._KEY_SLOTS), "messaging.other", "http.method", "eventlens.custom"]
_VALUES = st.one_of(st.sampled_from(["", "orders", "process", "send", "receive", "7", "x"]),
                    st.integers(-3, 10**6), st.floats(allow_nan=False), st.booleans(),
                    st.tuples(st.sampled_from(["a", "b"])))


@given(attrs=st.dictionaries(st.sampled_from(_KNOWN_KEYS), _VALUES, max_size=14),
       name=st.sampled_from(["send orders", "orders process", "poll", "x"]),
       kind=st.sampled_from(list(SpanKind)))
def test_cached_key_plans_give_what_the_general_rules_give(attrs, name, kind):
    """Spans whose keys were seen before are read through a cached plan; the result is the general loop's."""
    cached = [messaging_fields(name, kind, attrs) for _ in range(2)]
    with _general_rules_only():
        general = messaging_fields(name, kind, attrs)
    assert cached == [general, general]


@contextlib.contextmanager
def _general_rules_only() -> Iterator[None]:
    """No key plans: every span takes the general loop."""
    original, saved = normalise._plan, dict(normalise._PLANS)
    normalise._PLANS.clear()
    normalise._plan = lambda keys: None
    try:
        yield
    finally:
        normalise._plan = original
        normalise._PLANS.clear()
        normalise._PLANS.update(saved)
