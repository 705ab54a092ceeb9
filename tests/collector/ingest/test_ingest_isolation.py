"""One request the store can never take fails alone (400, not retried); its neighbours in the transaction are
stored. Unit level: the pipeline, the ingest workers' task and the OTLP/HTTP answer, with an in-memory store."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
import requests
from otlp_builders import body, span

from eventlens.collector.config import CollectorConfig
from eventlens.collector.model import SpanKind, SpanRecord
from eventlens.collector.pipeline import IngestPipeline, QueueFull
from eventlens.collector.service import Collector
from eventlens.collector.storage.protocol import StoreDataError, StoreError
from eventlens.collector.workers import _OK, _STORE_ERROR, _UNSTORABLE, decode_and_store

PB = {"Content-Type": "application/x-protobuf"}


def poisoned(store: Any) -> Any:
    """The in-memory store, refusing for good (StoreDataError) any write carrying a span named `poison`, as
    PostgreSQL refuses data it cannot hold."""
    write = store.write_spans

    def write_spans(spans: Sequence[SpanRecord]) -> int:
        if any(s.name == "poison" for s in spans):
            raise StoreDataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
        return write(spans)

    store.write_spans = write_spans
    return store


def records(n: int, prefix: str, name: str = "ok") -> list[SpanRecord]:
    return [SpanRecord(f"{prefix:0>32}", f"{i + 1:016x}", None, name, SpanKind.INTERNAL, "svc", 1, 2)
            for i in range(n)]


def test_a_failed_shared_write_is_retried_request_by_request(memory_store):
    """Batches coalesced with a poisoned one are stored; only the poisoned batch's future fails."""
    store = poisoned(memory_store)
    store.gate = threading.Event()
    pipe = IngestPipeline(store).start()
    first = pipe.submit(records(1, "f"))
    good = [pipe.submit(records(3, str(i))) for i in range(3)]
    bad = pipe.submit(records(1, "b", name="poison"))
    store.gate.set()
    first.result(10)
    assert all(f.result(10).spans == 3 for f in good)
    with pytest.raises(StoreDataError):
        bad.result(10)
    assert store.span_count() == 10
    pipe.stop()


def test_a_retryable_failure_of_one_batch_still_fails_that_batch(memory_store):
    """A store outage fails the batch (retryable StoreError); the writer keeps going."""
    store = memory_store
    store.fail = StoreError("database is locked")
    pipe = IngestPipeline(store).start()
    with pytest.raises(StoreError) as err:
        pipe.submit(records(2, "a")).result(10)
    assert not isinstance(err.value, StoreDataError)
    store.fail = None
    assert pipe.submit(records(2, "a")).result(10).spans == 2
    pipe.stop()


def test_the_queue_is_bounded_in_bytes_as_well_as_spans(memory_store):
    """A batch whose body bytes do not fit is refused at once, though its spans would."""
    store = memory_store
    store.gate = threading.Event()
    pipe = IngestPipeline(store, max_queue_spans=1000, max_queue_bytes=1000).start()
    pipe.submit(records(1, "h"), 10)
    deadline = time.monotonic() + 10
    while pipe.queued_bytes and time.monotonic() < deadline:  # the writer takes it and waits at the gate
        time.sleep(0.005)
    pipe.submit(records(1, "q"), 900)
    assert pipe.queued_bytes == 900
    with pytest.raises(QueueFull, match="bytes"):
        pipe.submit(records(1, "x"), 600)
    store.gate.set()
    pipe.stop()


def test_a_worker_task_stores_every_body_but_the_unstorable_one(memory_store):
    """In an ingest worker, a failed shared transaction is retried body by body: one body fails for good."""
    store = poisoned(memory_store)
    bodies = [(body([span("ok")]), "application/x-protobuf"), (body([span("poison")]), "application/x-protobuf"),
              (body([span("ok"), span("ok")]), "application/x-protobuf")]
    outcomes, new, _ = decode_and_store(store, bodies)  # type: ignore[arg-type]
    assert [o[0] for o in outcomes] == [_OK, _UNSTORABLE, _OK] and new == 3 and store.span_count() == 3


def test_a_worker_task_fails_every_body_on_an_outage(memory_store):
    """A store outage is retryable for every body of the task."""
    store = memory_store
    store.fail = StoreError("connection refused")
    outcomes, _, _ = decode_and_store(store, [(body([span()]), "application/x-protobuf"),  # type: ignore[arg-type]
                                              (body([span()]), "application/x-protobuf")])
    assert [o[0] for o in outcomes] == [_STORE_ERROR, _STORE_ERROR]


@pytest.fixture
def poison_collector(memory_store):
    store = poisoned(memory_store)
    config = CollectorConfig.from_env({}, store="memory", http_port=0, grpc_port=-1)
    collector = Collector(config, store=store).start()  # type: ignore[arg-type]
    yield f"http://127.0.0.1:{collector.http_port}", store
    collector.stop()


def test_unstorable_request_is_400_without_retry_after(poison_collector):
    """The store refusing the data for good is a permanent error: 400, no Retry-After, counted as unstorable."""
    url, _ = poison_collector
    resp = requests.post(f"{url}/v1/traces", data=body([span("poison")]), headers=PB, timeout=30)
    assert resp.status_code == 400 and "Retry-After" not in resp.headers
    metrics = requests.get(f"{url}/metrics", timeout=30).text
    assert 'eventlens_collector_requests_rejected_total{reason="unstorable",receiver="http"} 1.0' in metrics


def test_good_requests_beside_an_unstorable_one_are_stored(poison_collector):
    """Concurrent good requests are all acknowledged while a poisoned one gets its 400."""
    url, store = poison_collector
    answers: list[int] = []

    def send(name: str) -> None:
        answers.append(requests.post(f"{url}/v1/traces", data=body([span(name)]), headers=PB, timeout=30)
                       .status_code)

    threads = [threading.Thread(target=send, args=("poison" if i % 5 == 0 else "ok",)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(answers) == [200] * 16 + [400] * 4 and store.span_count() == 16
