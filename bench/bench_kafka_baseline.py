"""Plain kafka-python through the local broker: the baseline every other benchmark compares to.

Produce N records of 200 bytes (acks=all, the kafka-python 3 default) and consume them back with the
iterator; report messages per second and CPU microseconds per message on each side.
"""

from __future__ import annotations

import uuid

from kafka import KafkaConsumer, KafkaProducer

from bench._common import Result, cpu_seconds

PAYLOAD = b"x" * 200


def produce(bootstrap: str, topic: str, n: int, producer_factory: type[KafkaProducer] = KafkaProducer) -> None:
    """Send n records and wait for every acknowledgement."""
    producer = producer_factory(bootstrap_servers=bootstrap, linger_ms=5)
    for i in range(n):
        producer.send(topic, PAYLOAD, key=str(i % 100).encode())
    producer.flush()
    producer.close()


def consume(bootstrap: str, topic: str, n: int, consumer_factory: type[KafkaConsumer] = KafkaConsumer) -> None:
    """Read n records back with the iterator."""
    consumer = consumer_factory(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                group_id=f"bench-{uuid.uuid4().hex[:6]}", consumer_timeout_ms=30000)
    seen = 0
    for _ in consumer:
        seen += 1
        if seen >= n:
            break
    consumer.close()
    if seen < n:
        raise RuntimeError(f"consumed {seen} of {n} records")


def run(bootstrap: str, quick: bool = False) -> list[Result]:
    n = 5_000 if quick else 50_000
    topic = f"bench-baseline-{uuid.uuid4().hex[:8]}"
    p_cpu, p_wall = cpu_seconds(lambda: produce(bootstrap, topic, n))
    c_cpu, c_wall = cpu_seconds(lambda: consume(bootstrap, topic, n))
    return [
        Result("plain produce throughput", n / p_wall, "msg/s"),
        Result("plain produce CPU", p_cpu / n * 1e6, "µs/msg"),
        Result("plain consume throughput", n / c_wall, "msg/s"),
        Result("plain consume CPU", c_cpu / n * 1e6, "µs/msg"),
    ]
