"""The last poll batch of the current thread or asyncio task, for fan-in lineage across clients.

A consumer's batch call (`poll`, `consume`, `getmany`) records its records here; a send made after it outside
a process span links to every one of them (the batch job's output points to all its inputs). Context
variables keep one batch per thread and per asyncio task, so concurrent tasks never see each other's batch,
and a kafka-python poll followed by a confluent-kafka produce on the same thread still links.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Sequence
from typing import Any

from opentelemetry.semconv._incubating.attributes import messaging_attributes as ma
from opentelemetry.trace import Link

from eventlens.instrumentation import _propagation
from eventlens.instrumentation._consistent import fan_in_randomness

_BATCH: contextvars.ContextVar[tuple[int, Sequence[Any]] | None] = contextvars.ContextVar("eventlens_batch",
                                                                                        default=None)
_epoch = [0]  # batches opened before the last `forget_batches()` are ignored on every thread and task
_LINKS: contextvars.ContextVar[list[Link] | None] = contextvars.ContextVar("eventlens_batch_links", default=None)
_CONSUMER: contextvars.ContextVar[Any] = contextvars.ContextVar("eventlens_last_consumer", default=None)
_RANDOMNESS: contextvars.ContextVar[int | None] = contextvars.ContextVar("eventlens_batch_randomness", default=None)


def batch_links(records: Iterable[Any]) -> list[Link]:
    """One link per record that carries a creation context, with its partition and offset as link attributes.

    Records are read through the core's record shape: `headers`, `partition`, `offset` attributes.
    """
    links: list[Link] = []
    for record in records:
        creation = _propagation.extract_parts(record.headers)[0]
        if creation.is_valid:
            links.append(Link(creation, {ma.MESSAGING_DESTINATION_PARTITION_ID: str(record.partition),
                                         ma.MESSAGING_KAFKA_OFFSET: record.offset}))
    return links


def open_batch(records: Sequence[Any] | None) -> None:
    """Make `records` the current batch (None: no batch); its links and randomness are computed on first use."""
    _BATCH.set((_epoch[0], records) if records else None)
    _LINKS.set(None)
    _RANDOMNESS.set(None)


def keep_batch_links(links: list[Link]) -> None:
    """Keep the links a poll span computed for the current batch (its randomness, if read, stays)."""
    _LINKS.set(links)


def forget_batches() -> None:
    """Close every thread's and task's batch (an instrumentation was removed: its batches end with it)."""
    _epoch[0] += 1


def _current_batch() -> Sequence[Any] | None:
    batch = _BATCH.get()
    return batch[1] if batch is not None and batch[0] == _epoch[0] else None


def poll_batch_open() -> bool:
    """True when the last batch call on this thread or task returned records."""
    return bool(_current_batch())


def pending_batch_links() -> list[Link]:
    """Links to every input of the current batch, possibly empty (computed on first use and kept)."""
    links = _LINKS.get()
    if links is None:
        batch = _current_batch()
        if not batch:
            return []
        links = batch_links(batch)
        _LINKS.set(links)
    return links


def pending_batch_randomness() -> int | None:
    """The fan-in randomness of the current batch's inputs (largest input randomness; None when no batch or
    no input carries a context), computed on first use and kept (docs "Sampling and lineage")."""
    value = _RANDOMNESS.get()
    if value is None:
        records = _current_batch()
        if not records:
            return None
        links = _LINKS.get()
        if links is not None:
            found = fan_in_randomness(link.context for link in links)
        else:  # read from the headers directly: cheaper than building the links of a batch that may be dropped
            found = _propagation.batch_randomness(records)
        value = -1 if found is None else found
        _RANDOMNESS.set(value)
    return None if value < 0 else value


def remember_consumer(consumer: Any) -> None:
    """Remember the consumer (a weak reference or a state object) that last polled on this thread or task."""
    _CONSUMER.set(consumer)


def last_consumer() -> Any:
    """What `remember_consumer` was last given on this thread or task (None when nothing polled)."""
    return _CONSUMER.get()
