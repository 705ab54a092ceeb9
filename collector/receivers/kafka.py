"""Kafka receiver: reads OTLP protobuf ExportTraceServiceRequest records from a topic as a consumer group.

This is what the OpenTelemetry Collector's kafka exporter writes (`otlp_spans`, encoding `otlp_proto`). Auto
commit is off: after each poll the spans of every record are written through the pipeline and the offsets are
committed only once the store commit returned, so a crash re-delivers at most uncommitted records (stored once
thanks to idempotent writes). Records that are not valid OTLP are logged, counted and skipped; they never block
the partition. A full queue or a failing store makes the receiver wait and retry the same records. With ingest
workers (`--ingest-workers N`) each record's value goes to the workers undecoded, as OTLP/HTTP bodies do.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from eventlens.collector.ingest import Ingest, Refused
from eventlens.collector.model import SpanRecord
from eventlens.collector.otlp import DecodedTraces, DecodeError, decode_trace_request
from kafka import KafkaConsumer, TopicPartition

log = logging.getLogger(__name__)
RECEIVER = "kafka"


def decode_records(records: list[Any], on_skip: Callable[[Any, str], None]) -> tuple[list[SpanRecord], int]:
    """Spans of every decodable record (and how many spans were rejected); calls `on_skip` for the others."""
    spans: list[SpanRecord] = []
    rejected = 0
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
        spans.extend(decoded.spans)
        rejected += decoded.rejected
    return spans, rejected


class KafkaReceiver:
    """A consumer-group member feeding the ingest pipeline, on its own thread."""

    def __init__(self, ingest: Ingest, *, bootstrap: str, topic: str = "otlp_spans",
                 group: str = "eventlens-collector", max_poll_records: int = 500,
                 retry_delay_s: float = 0.5, consumer_options: dict[str, Any] | None = None) -> None:
        self.ingest = ingest
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
        self.ingest.metrics.kafka_records_skipped.inc()
        log.warning("skipping %s[%s]@%s: not an OTLP trace request (%s)", record.topic, record.partition,
                    record.offset, reason)

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
        """Write the records' spans; True once committed to the store, False when stopping first."""
        if self.ingest.pool is not None:
            return self._store_in_workers(records)
        spans, rejected = decode_records(records, self._skip)
        decoded = DecodedTraces(spans, rejected, "")
        first = True
        while not self._stop.is_set():
            try:
                future = self.ingest.submit(decoded, RECEIVER, count=first)
                first = False
                future.result()
            except Refused:
                self._stop.wait(self.retry_delay_s)
                continue
            except Exception as exc:
                self.ingest.failed(RECEIVER, len(spans), exc)
                self._stop.wait(self.retry_delay_s)
                continue
            self.ingest.stored(RECEIVER)
            return True
        return False

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
            for record, future in submitted:
                try:
                    self.ingest.body_stored(RECEIVER, future.result(), request=False)
                except DecodeError as exc:
                    self._skip(record, str(exc))
                except Exception as exc:
                    self.ingest.failed(RECEIVER, 0, exc)
                    retry.append(record)
            waiting = retry
            if waiting:
                self._stop.wait(self.retry_delay_s)
        if waiting:
            return False
        self.ingest.stored(RECEIVER)
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
