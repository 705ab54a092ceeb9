"""payments-relay: publishes the payments outbox to Kafka, each send inside the trace context the row captured.

At least once: rows are marked sent only after the broker acknowledged them.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Sequence

from kafka.errors import KafkaError

from eventlens.demo import outbox
from eventlens.demo.config import ServiceConfig
from eventlens.demo.kafka_io import close_quietly, make_producer
from eventlens.demo.services._base import now_ms, run_service
from eventlens.demo.services.payments import database

NAME = "payments-relay"
log = logging.getLogger("eventlens.demo")


def body(cfg: ServiceConfig, stop: threading.Event) -> None:
    """Relay pending outbox rows until stopped (then drain what is left once)."""
    from eventlens.instrumentation import restore_context

    conn = outbox.connect(database(cfg.workdir))
    producer = make_producer(cfg.bootstrap, NAME)
    relayed = 0
    try:
        while True:
            rows = outbox.pending(conn, limit=200)
            if not rows:
                if stop.is_set():
                    break
                stop.wait(0.1)
                continue
            futures = []
            for row in rows:
                m = row.message
                with restore_context(row.trace_context):
                    futures.append((row.id, producer.send(m.topic, key=m.key, value=m.value, headers=list(m.headers))))
            producer.flush(timeout=30)
            done = []
            for row_id, future in futures:
                try:
                    future.get(timeout=0)
                    done.append(row_id)
                except KafkaError as exc:
                    log.warning("outbox row %d not delivered, will retry: %s", row_id, exc)
            outbox.mark_sent(conn, done, now_ms())
            relayed += len(done)
            if len(done) < len(futures):
                if stop.is_set():
                    break
                stop.wait(1.0)
    finally:
        close_quietly(producer)
        conn.close()
        log.info("%d outbox messages relayed", relayed)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the outbox relay."""
    return run_service(NAME, argv, body)


if __name__ == "__main__":
    sys.exit(main())
