"""The storage contract: what every backend (SQLite, PostgreSQL) does, in model types only.

Like Jaeger's `tracestore.Writer`: writes are synchronous (durable when the call returns) and idempotent on
(trace id, span id); failures raise `StoreError`, nothing is dropped silently. Rollups (edge minutes and
schema sightings) are maintained by the backend inside the same transaction as the spans they count, so
topology, coupling and lag views never scan raw spans. One contract suite (`tests/collector/storage_contract.py`)
runs against every backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qs

from eventlens.collector.model import DeadLetter, EdgeRollup, LagSample, SchemaSighting, SpanRecord
from eventlens.collector.storage.alerting import AlertState, AlertTransition, NewNotification, Notification


class StoreError(RuntimeError):
    """The store could not do what was asked; the batch was not (or not wholly) stored."""


class StoreDataError(StoreError):
    """The store can never hold this data (an integer beyond 64 bits, a character the backend refuses): a
    permanent error, not worth retrying, unlike a `StoreError` from an outage."""


@runtime_checkable
class SpanWriter(Protocol):
    def write_spans(self, spans: Sequence[SpanRecord]) -> int:
        """Store a batch durably and update rollups; returns how many spans were new (retries store once)."""
        ...


@runtime_checkable
class SpanReader(Protocol):
    def get_trace(self, trace_id: str) -> list[SpanRecord]:
        """Every stored span of one trace, by start time."""
        ...

    def get_trace_page(self, trace_id: str, *, after: tuple[int, str] | None = None,
                       limit: int = 1000) -> list[SpanRecord]:
        """At most `limit` spans of one trace by (start time, span id), those after the `after` key when given."""
        ...

    def get_span(self, trace_id: str, span_id: str) -> SpanRecord | None:
        """One span, or None."""
        ...

    def find_spans(
        self,
        *,
        event_id: str | None = None,
        key: str | None = None,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
        service: str | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int = 1000,
    ) -> list[SpanRecord]:
        """Spans matching every given filter (messaging fields, service, start-time window), newest first."""
        ...

    def spans_linking_to(self, trace_id: str, span_id: str) -> list[SpanRecord]:
        """Spans (in any trace) that have a link to, or a parent of, the given span: its consumers."""
        ...

    def services(self) -> list[str]:
        """Every service name seen, sorted."""
        ...

    def span_count(self) -> int:
        """How many spans are stored."""
        ...


@runtime_checkable
class RollupReader(Protocol):
    def edge_rollups(self, start_ns: int, end_ns: int) -> list[EdgeRollup]:
        """Per-minute edge rollups whose minute falls in [start_ns, end_ns)."""
        ...

    def schema_sightings(self, start_ns: int, end_ns: int) -> list[SchemaSighting]:
        """Schema sightings last seen in [start_ns, end_ns), aggregated over that window."""
        ...


@runtime_checkable
class LagStore(Protocol):
    def write_lag_samples(self, samples: Sequence[LagSample]) -> None:
        """Store lag samples taken by the poller."""
        ...

    def lag_samples(self, *, group: str | None = None, since_ns: int | None = None,
                    until_ns: int | None = None) -> list[LagSample]:
        """Samples (oldest first), optionally for one group and a time window."""
        ...

    def forget_group(self, group: str) -> None:
        """Drop every sample of a group that no longer exists."""
        ...


@runtime_checkable
class DeadLetterStore(Protocol):
    def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Park input that can never be stored (raw bytes and the reason), so nothing is lost silently."""
        ...

    def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        """The parked input, newest first."""
        ...

    def dead_letter_count(self) -> int:
        """How many dead letters are parked."""
        ...


@runtime_checkable
class AlertHistoryStore(Protocol):
    def record_alert_transitions(self, rows: Sequence[AlertTransition], *,
                                 notifications: Sequence[NewNotification] = ()) -> int:
        """Store transitions (a retried one once), move each alert's latest state forward and enqueue
        `notifications`, in one transaction; returns how many transitions were new."""
        ...

    def alert_history(self, start_ns: int, end_ns: int, *, rule: str | None = None,
                      fingerprint: str | None = None, limit: int = 1000) -> list[AlertTransition]:
        """Transitions at [start_ns, end_ns), newest first, optionally of one rule (and one alert)."""
        ...

    def alert_states(self, *, rule: str | None = None) -> list[AlertState]:
        """The latest state of every alert, by rule and fingerprint."""
        ...


@runtime_checkable
class NotificationOutbox(Protocol):
    def enqueue_notifications(self, rows: Sequence[NewNotification]) -> int:
        """Queue notifications (a (receiver, key) already queued is stored once); returns how many were new."""
        ...

    def due_notifications(self, now_ns: int, *, limit: int = 100) -> list[Notification]:
        """Unsent notifications due at `now_ns`, the longest due first."""
        ...

    def notification(self, notification_id: int) -> Notification | None:
        """One notification by id, sent or not."""
        ...

    def mark_sent(self, notification_id: int, now_ns: int) -> bool:
        """Record a delivery; False when already sent or unknown."""
        ...

    def mark_failed(self, notification_id: int, now_ns: int, next_attempt_ns: int, error: str) -> bool:
        """Record a failed attempt and when to retry; False when already sent or unknown."""
        ...


@runtime_checkable
class LeaseStore(Protocol):
    def try_acquire_lease(self, name: str, holder: str, now_ns: int, ttl_ns: int) -> bool:
        """Take (if free or expired) or renew (if held by `holder`) a lease; True when `holder` holds it."""
        ...

    def release_lease(self, name: str, holder: str) -> bool:
        """Give up a lease `holder` holds; False when it did not hold it."""
        ...

    def lease_holder(self, name: str, now_ns: int) -> str | None:
        """Who holds a lease at `now_ns`, if anyone."""
        ...


@runtime_checkable
class AlertStore(AlertHistoryStore, NotificationOutbox, LeaseStore, Protocol):
    """What alert evaluation and delivery need of a store (both SQL backends provide it)."""


@runtime_checkable
class Store(SpanWriter, SpanReader, RollupReader, LagStore, Protocol):
    """A complete backend."""

    def apply_retention(self, now_ns: int, *, spans_max_age_ns: int, rollups_max_age_ns: int) -> int:
        """Delete raw spans and rollups older than their own retention; returns rows deleted."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def open_store(url: str, **options: Any) -> Store:
    """Open a backend from a URL: `sqlite:///path/to.db` (or a plain path), or `postgresql://…`.

    A SQLite URL may carry `?synchronous=FULL`; `options` (e.g. `pending_ttl_ns=`) go to the backend.
    """
    if url.startswith(("postgresql://", "postgres://")):
        from eventlens.collector.storage.postgres import PostgresStore

        return PostgresStore(url, **options)
    from eventlens.collector.storage.sqlite import SQLiteStore

    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url.removeprefix("sqlite://")
    if url.startswith("sqlite:") and "?" in path:
        path, _, query = path.partition("?")
        for key, values in parse_qs(query).items():
            if key != "synchronous":
                raise ValueError(f"unknown SQLite store option {key!r} in {url!r} (known: synchronous)")
            options.setdefault("synchronous", values[-1])
    return SQLiteStore(path, **options)
