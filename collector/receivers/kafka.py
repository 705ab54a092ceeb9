"""Kafka receiver: reads OTLP protobuf ExportTraceServiceRequest records from a topic as a consumer group.

This is what the OpenTelemetry Collector's kafka exporter writes (`otlp_spans`, encoding `otlp_proto`). Auto
commit is off: after each poll the spans of every record are written through the pipeline and the offsets are
committed only once the store commit returned, so a crash re-delivers at most uncommitted records (stored once
thanks to idempotent writes). A full queue or a store outage (retryable) makes the receiver wait and retry the
same records. A record that can never be stored (not OTLP, or data the store refuses: a permanent error) is
logged, counted and parked with its raw bytes in the store's `dead_letters` table, then skipped: it never blocks
its partition, and the good records around it are stored. With ingest workers (`--ingest-workers N`) each
record's value goes to the workers undecoded, as OTLP/HTTP bodies do.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from eventlens.collector.ingest import Ingest, Refused
from eventlens.collector.model import DeadLetter, SpanRecord
from eventlens.collector.otlp import DecodedTraces, DecodeError, decode_trace_request
from eventlens.collector.storage.protocol import DeadLetterStore, StoreError
from eventlens.collector.workers import StoredBody

log = logging.getLogger(__name__)
RECEIVER = "kafka"


def decode_records(records: list[Any], on_skip: Callable[[Any, str], None]) -> list[tuple[Any, DecodedTraces]]:
    """Every decodable record with its decoded spans; calls `on_skip` for the others."""
    out: list[tuple[Any, DecodedTraces]] = []
    for record in records:
        value = record.value
        if not isinstance(value, bytes | bytearray) or not value:
            on_skip(record, "empty record value")
            continue
        try:
            decoded = decode_trace_request(bytes(value), "application/x-protobuf")
        except DecodeError as exc:
            on_skip(record, str(exc))
            continue
        out.append((record, decoded))
    return out


def merged(decoded: list[tuple[Any, DecodedTraces]]) -> DecodedTraces:
    """The spans of several records as one batch (one store transaction)."""
    spans: list[SpanRecord] = []
    for _record, d in decoded:
        spans.extend(d.spans)
    return DecodedTraces(spans, sum(d.rejected for _r, d in decoded), "")


def dead_letter(record: Any, reason: str, now_ns: int) -> DeadLetter:
    """A record that can never be stored, as a dead letter keeping its raw value."""
    value = record.value if isinstance(record.value, bytes | bytearray) else b""
    return DeadLetter(RECEIVER, reason, bytes(value), now_ns, record.topic, record.partition, record.offset)


def _size(record: Any) -> int:
    return len(record.value) if isinstance(record.value, bytes | bytearray) else 0


class KafkaReceiver:
    """A consumer-group member feeding the ingest pipeline, on its own thread."""

    def __init__(self, ingest: Ingest, *, bootstrap: str, topic: str = "otlp_spans",
                 group: str = "eventlens-collector", max_poll_records: int = 500,
                 retry_delay_s: float = 0.5, consumer_options: dict[str, Any] | None = None,
                 dead_letters: DeadLetterStore | None = None) -> None:
        self.ingest = ingest
        self.dead_letters = dead_letters
        """Where records that can never be stored are parked (None: they are only logged and counted)."""
        self._parked: list[DeadLetter] = []
        self.topic = topic
        self.retry_delay_s = retry_delay_s
        self._stop = threading.Event()
        self._options: dict[str, Any] = {
            "bootstrap_servers": bootstrap, "group_id": group, "enable_auto_commit": False,
            "auto_offset_reset": "earliest", "max_poll_records": max_poll_records,
            "client_id": "eventlens-collector", **(consumer_options or {}),
        }
        self._thread = threading.Thread(target=self._run, name="eventlens-kafka-receiver", daemon=True)
        self.consumer: KafkaConsumer | None = None
        self.failed: BaseException | None = None

    def start(self) -> KafkaReceiver:
        """Connect and start consuming."""
        self.consumer = KafkaConsumer(self.topic, **self._options)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the current batch; uncommitted records are left for the group."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)

    def _skip(self, record: Any, reason: str) -> None:
        """Count and log a record that can never be stored; it is parked before the offsets are committed."""
        self.ingest.metrics.kafka_records_skipped.inc()
        log.warning("skipping %s[%s]@%s: it cannot be stored (%s)", record.topic, record.partition,
                    record.offset, reason[:500])
        self._parked.append(dead_letter(record, reason, time.time_ns()))

    def _park(self) -> bool:
        """Write the skipped records to the dead-letter table (retrying through a store outage); True once
        written (or when there is no dead-letter store), False when stopping first."""
        while self._parked and not self._stop.is_set():
            if self.dead_letters is None:
                self._parked.clear()
                return True
            try:
                self.dead_letters.write_dead_letters(self._parked)
            except StoreError as exc:
                log.warning("parking %d dead letters failed (%s); retrying", len(self._parked), exc)
                self._stop.wait(self.retry_delay_s)
                continue
            self.ingest.metrics.dead_letters.labels(RECEIVER).inc(len(self._parked))
            self._parked.clear()
        return not self._parked

    def _run(self) -> None:
        consumer = self.consumer
        assert consumer is not None
        try:
            while not self._stop.is_set():
                batches = consumer.poll(timeout_ms=500)
                if not batches:
                    continue
                records = [r for part in batches.values() for r in part]
                if not self._store(records):
                    self._rewind(consumer, batches)
                    continue
                try:
                    consumer.commit()
                except Exception as exc:  # e.g. a rebalance took the partitions: the new owner re-reads them
                    log.warning("offset commit failed (%s); the records will be re-delivered and stored once", exc)
        except BaseException as exc:
            self.failed = exc
            log.exception("the Kafka receiver stopped")
        finally:
            consumer.close(autocommit=False)

    def _store(self, records: list[Any]) -> bool:
        """Write the records' spans and park those that can never be stored; True once all of it is committed
        to the store, False when stopping first."""
        self._parked.clear()
        stored = self._store_in_workers(records) if self.ingest.pool is not None else self._store_in_process(records)
        return stored and self._park()

    def _store_in_process(self, records: list[Any]) -> bool:
        """All decodable records in one transaction; when the store refuses it for good, one record at a time."""
        decoded = decode_records(records, self._skip)
        outcome = self._until_stored(merged(decoded), sum(_size(r) for r in records), count=True)
        if outcome is None:
            return False
        if isinstance(outcome, Refused) and len(decoded) > 1:
            for record, one in decoded:
                alone = self._until_stored(one, _size(record), count=False)
                if alone is None:
                    return False
                if isinstance(alone, Refused):
                    self._skip(record, str(alone))
        elif isinstance(outcome, Refused):
            self._skip(decoded[0][0], str(outcome))
        return True

    def _until_stored(self, decoded: DecodedTraces, nbytes: int, *, count: bool) -> bool | Refused | None:
        """Submit until committed (True), refused for good (the permanent `Refused`) or stopping (None); a full
        queue or a store outage is waited out."""
        while not self._stop.is_set():
            try:
                future = self.ingest.submit(decoded, RECEIVER, count=count, nbytes=nbytes)
                count = False
                future.result()
            except Refused:
                self._stop.wait(self.retry_delay_s)
                continue
            except Exception as exc:
                refused = self.ingest.failed(RECEIVER, len(decoded.spans), exc)
                if not refused.retryable:
                    return refused
                self._stop.wait(self.retry_delay_s)
                continue
            self.ingest.stored(RECEIVER)
            return True
        return None

    def _store_in_workers(self, records: list[Any]) -> bool:
        """Worker mode: every record's value to the ingest workers; those refused or failed are sent again until
        stored (malformed ones are skipped). True once all are committed, False when stopping first."""
        waiting = []
        for record in records:
            if isinstance(record.value, bytes | bytearray) and record.value:
                waiting.append(record)
            else:
                self._skip(record, "empty record value")
        while waiting and not self._stop.is_set():
            submitted = []
            for record in waiting:
                try:
                    submitted.append((record, self.ingest.submit_body(bytes(record.value), "application/x-protobuf",
                                                                      RECEIVER)))
                except Refused:
                    break  # queue full: wait for what is queued, then send the rest
            retry = waiting[len(submitted):]
            retry.extend(record for record, future in submitted if not self._settle(record, future))
            waiting = retry
            if waiting:
                self._stop.wait(self.retry_delay_s)
        if waiting:
            return False
        self.ingest.stored(RECEIVER)
        return True

    def _settle(self, record: Any, future: Future[StoredBody]) -> bool:
        """The outcome of one record sent to the workers: True when done with (stored or skipped for good),
        False when it must be sent again (a retryable failure)."""
        try:
            self.ingest.body_stored(RECEIVER, future.result(), request=False)
        except DecodeError as exc:
            self._skip(record, str(exc))
        except Exception as exc:
            refused = self.ingest.failed(RECEIVER, 0, exc)
            if refused.retryable:
                return False
            self._skip(record, str(refused))
        return True

    @staticmethod
    def _rewind(consumer: KafkaConsumer, batches: dict[TopicPartition, list[Any]]) -> None:
        """Seek back to the first uncommitted record of each partition, for the next member or run."""
        for tp, part in batches.items():
            if part:
                try:
                    consumer.seek(tp, part[0].offset)
                except Exception:  # partition no longer assigned: the group will re-deliver
                    log.debug("cannot rewind %s", tp)
