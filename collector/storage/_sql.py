"""What the SQLite and PostgreSQL backends share: the queries and the ingest transaction (spans + rollups).

A backend supplies connections (`_write_cursor`, `_read_cursor`), its `Dialect` (`_dialect.py`: placeholder,
two-argument min/max, index hints, row addresses), from which every statement here is built, and its fastest way
to insert a batch of span rows reporting which were new.

Rows are read by name: a query's column list sits beside the code that reads it, and each row is unpacked into
variables named like those columns. Unpacking is as fast as `row[i]`; `sqlite3.Row` or named-tuple rows cost several
times more per row (docs/storage.md, "Dialects and rows"), on paths that read every span of a trace.
"""

from __future__ import annotations

import abc
import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar, Protocol

from eventlens.collector import rollup
from eventlens.collector.model import (
    NS_PER_MINUTE,
    DeadLetter,
    EdgeRollup,
    LagSample,
    Role,
    SchemaSighting,
    SpanKind,
    SpanRecord,
)
from eventlens.collector.storage import _rows
from eventlens.collector.storage._alerting_sql import AlertingSQL, delete_expired_alerting
from eventlens.collector.storage._dialect import Dialect
from eventlens.collector.storage.protocol import StoreDataError, StoreError

_CHUNK = 400
_KNOWN_MAX = 10_000
"""Entries kept in each cache of stored resources and attribute key sequences before it is cleared."""
_BUCKET_COLS = [f"b{i}" for i in range(rollup.N_BUCKETS)]
_EDGE_COLS = ["minute", "producer", "topic", "grp", "consumer", "count", "errors", "bytes", "latency_sum_s",
              *_BUCKET_COLS]
_PENDING_COLS = ["p_span_k", "p_trace_id", "p_span_id", "consumer", "grp", "topic", "consumed_ns", "error",
                 "body_size", "seen_ns"]
_READ = ", ".join(_rows.READ_COLUMNS)
_DEAD_LETTER_COLS = "source, reason, payload, received_ns, topic, part, off"
_INFO_COLS = "trace_id, span_id, kind, service, m_topic, start_ns, m_body_size"
"""What pairing reads of a stored span (a `rollup.SpanInfo`)."""
_SIGHTING_COLS = "event_type, fingerprint, service, role, topic, first_seen_ns, last_seen_ns, count, errors"
_LAG_COLS = "grp, topic, part, committed_offset, end_offset, observed_at_ns, lag_seconds, lag_seconds_estimated"


class Cursor(Protocol):
    """The DB-API cursor subset both drivers offer."""

    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: Any, params: Any = ..., /) -> Any: ...
    def executemany(self, sql: Any, params: Any, /) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


def _edge_order(item: tuple[rollup.EdgeKey, rollup.EdgeAcc]) -> tuple[int, str, str, str, str]:
    """Upsert order (a fixed order keeps concurrent writers from deadlocking on the same rows)."""
    m, p, t, g, c = item[0]
    return (m, p or "", t, g or "", c or "")


def check_schema_version(found: int | None, expected: int, where: str, remedy: str) -> None:
    """Refuse a store written by another eventlens schema (`found`; None = created before versions were kept).

    Queries against a different layout would silently return nothing, so opening fails loudly instead.
    """
    if found == expected:
        return
    was = "an unversioned schema (eventlens before schema versions)" if found is None else f"schema version {found}"
    raise StoreError(f"{where} was written with {was}, but this eventlens uses schema version {expected}; "
                     f"{remedy}")


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A batch's rows, built before its write transaction."""

    rows: list[tuple[object, ...]]
    resources: list[tuple[int, str]]
    attr_keys: dict[tuple[str, ...], tuple[int, str]]
    """Key sequences not known to be stored: keys → (id, JSON)."""
    links: list[tuple[int, int, int, int, int]]
    keys: list[tuple[int, int, int]]
    span_keys: list[int]
    """The `span_k` of each row, for pending lookups."""


def _none(value: str) -> str | None:
    return value or None


def _only(row: Sequence[Any]) -> Any:
    """The value of a one-column row."""
    (value,) = row
    return value


class Executes(Protocol):
    """A cursor or connection: both drivers' connections execute too."""

    def execute(self, sql: Any, params: Any = ..., /) -> Any: ...


def scalar(db: Executes, sql: str, params: Sequence[object] = ()) -> Any:
    """The one value a one-column query returns, or None when it returns no row."""
    row = db.execute(sql, params).fetchone()
    return None if row is None else _only(row)


class SQLStore(AlertingSQL, abc.ABC):
    """Store protocol implementation over a DB-API connection; subclasses bring the connections."""

    def __init__(self, *, pending_ttl_ns: int = rollup.DEFAULT_PENDING_TTL_NS,
                 clock: Callable[[], int] = time.time_ns) -> None:
        self.pending_ttl_ns = pending_ttl_ns
        self._clock = clock
        self._resources: dict[int, dict[str, Any]] = {}
        self._known_resource_ids: set[int] = set()
        self._attr_keys: dict[int, tuple[str, ...]] = {}
        self._known_attr_keys: dict[tuple[str, ...], int] = {}
        self._known_services: set[str] = set()

    # -- backend hooks ---------------------------------------------------------------------------------------
    dialect: ClassVar[Dialect]
    """How this backend spells what the shared SQL differs in."""

    @abc.abstractmethod
    def _write_cursor(self) -> contextlib.AbstractContextManager[Cursor]:
        """A cursor inside one write transaction (committed on exit, rolled back on error)."""

    @abc.abstractmethod
    def _read_cursor(self) -> contextlib.AbstractContextManager[Cursor]:
        """A cursor for reads."""

    @abc.abstractmethod
    def _insert_span_rows(self, cur: Cursor, rows: list[tuple[object, ...]]) -> set[tuple[str, str]] | None:
        """Insert rows, skipping existing (trace_k, span_k); return the inserted (trace_id, span_id), or None if all."""

    def _by_keys(self, cond: str) -> str:
        """A condition on `spans` selecting the rows whose id keys satisfy `cond` (written on `trace_k` and
        `span_k` alone). Here the keys are columns of `spans` under a unique index; SQLite keeps them apart."""
        return cond

    @abc.abstractmethod
    def _errors(self) -> tuple[type[BaseException], ...]:
        """The driver's exception types that mean a failed operation."""

    @contextlib.contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except StoreError:
            raise
        except self._data_errors() as exc:
            raise StoreDataError(f"{what} failed, the data cannot be stored: {exc}") from exc
        except self._errors() as exc:
            raise StoreError(f"{what} failed: {exc}") from exc

    def _data_errors(self) -> tuple[type[BaseException], ...]:
        """The exception types that mean the data itself can never be stored (permanent, not retried)."""
        return (OverflowError, UnicodeError)

    # -- dead letters ----------------------------------------------------------------------------------------
    def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Park input that can never be stored, with its raw bytes."""
        if not letters:
            return
        with self._guard("write_dead_letters"), self._write_cursor() as cur:
            cur.executemany(f"INSERT INTO dead_letters ({_DEAD_LETTER_COLS}) VALUES ({self.dialect.marks(7)})",
                            [(d.source, d.reason, d.payload, d.received_ns, d.topic, d.partition, d.offset)
                             for d in letters])

    def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        """The parked input, newest first."""
        with self._guard("dead_letters"), self._read_cursor() as cur:
            cur.execute(f"SELECT {_DEAD_LETTER_COLS} FROM dead_letters "
                        f"ORDER BY id DESC LIMIT {self.dialect.placeholder}", (limit,))
            return [DeadLetter(source, reason, bytes(payload), received_ns, topic, part, off)
                    for source, reason, payload, received_ns, topic, part, off in cur.fetchall()]

    def dead_letter_count(self) -> int:
        """How many dead letters are parked."""
        with self._guard("dead_letter_count"), self._read_cursor() as cur:
            return int(scalar(cur, "SELECT count(*) FROM dead_letters"))

    # -- writes ----------------------------------------------------------------------------------------------
    def write_spans(self, spans: Sequence[SpanRecord]) -> int:
        """Store a batch and its rollups in one transaction; returns how many spans were new.

        Everything that depends only on the batch (rows, link and lookup-key rows) is built before the write
        transaction, so the time the store's write lock is held (other writer processes wait for it) is the
        inserts and the rollup pairing, which needs the stored state.
        """
        unique: dict[tuple[str, str], SpanRecord] = {}
        for span in spans:
            unique.setdefault((span.trace_id, span.span_id), span)
        if not unique:
            return 0
        batch = list(unique.values())
        now = self._clock()
        prepared = self._prepare(batch)
        d = self.dialect
        with self._guard("write_spans"), self._write_cursor() as cur:
            if prepared.resources:
                cur.executemany(f"INSERT INTO resources (id, attributes) VALUES ({d.marks(2)}) "
                                "ON CONFLICT (id) DO NOTHING", prepared.resources)
            if prepared.attr_keys:
                cur.executemany(f"INSERT INTO attr_keys (id, keys) VALUES ({d.marks(2)}) ON CONFLICT (id) DO NOTHING",
                                list(prepared.attr_keys.values()))
            inserted = self._insert_span_rows(cur, prepared.rows)
            new = batch if inserted is None else [s for s in batch if (s.trace_id, s.span_id) in inserted]
            if new:
                # Link and lookup-key rows of spans stored before already exist: inserting them is a no-op.
                if prepared.links:
                    cur.executemany(
                        "INSERT INTO span_links (target_trace_k, target_span_k, src_trace_k, src_span_k, start_ns) "
                        f"VALUES ({d.marks(5)}) ON CONFLICT DO NOTHING", prepared.links)
                if prepared.keys:
                    self._insert_keys(cur, prepared.keys)
                services = {s.service for s in new} - self._known_services
                if services:
                    cur.executemany(f"INSERT INTO services (service) VALUES ({d.placeholder}) ON CONFLICT DO NOTHING",
                                    [(s,) for s in sorted(services)])
                cur.execute(f"UPDATE meta SET value = value + {d.placeholder} WHERE name = 'span_count'", (len(new),))
                self._update_rollups(cur, new, now, prepared.span_keys)
        self._known_resource_ids.update(rid for rid, _ in prepared.resources)
        if len(self._known_attr_keys) > _KNOWN_MAX:
            self._known_attr_keys.clear()
        self._known_attr_keys.update((keys, kid) for keys, (kid, _) in prepared.attr_keys.items())
        self._known_services.update(s.service for s in new)
        return len(new)

    _key_tables: tuple[str, ...] = ("msg_keys",)
    """The tables holding lookup-key rows: finds read all of them, retention trims all of them."""

    def _insert_keys(self, cur: Cursor, keys: list[tuple[int, int, int]]) -> None:
        """Add lookup-key rows (one per value and trace: a row already there is kept)."""
        cur.executemany(f"INSERT INTO msg_keys (h, trace_k, minute) VALUES ({self.dialect.marks(3)}) "
                        "ON CONFLICT DO NOTHING", keys)

    def _prepare(self, batch: list[SpanRecord]) -> _Prepared:
        """The rows of a batch (no I/O): spans, resources and attribute key sequences not known to be stored,
        links, lookup keys."""
        memo: dict[int, int] = {}
        new_resources: list[tuple[int, str]] = []
        known_keys = self._known_attr_keys
        new_keys: dict[tuple[str, ...], tuple[int, str]] = {}
        rows = []
        span_keys = []
        links: list[tuple[int, int, int, int, int]] = []
        keys: dict[tuple[int, int], int] = {}
        tkeys: dict[str, int] = {}
        id_key, span_row, event_hash, key_hash = _rows.id_key, _rows.span_row, _rows.event_hash, _rows.key_hash
        known_resources = self._known_resource_ids
        for span in batch:
            rid = memo.get(id(span.resource))
            if rid is None:
                text = _rows.dumps(span.resource)
                rid = memo[id(span.resource)] = _rows.content_key(text)
                if rid not in known_resources:
                    new_resources.append((rid, text))
            tk = tkeys.get(span.trace_id)
            if tk is None:
                tk = tkeys[span.trace_id] = id_key(span.trace_id)
            sk = id_key(span.span_id)
            span_keys.append(sk)
            kid = None
            if span.attributes:
                attr_keys = tuple(span.attributes)
                kid = known_keys.get(attr_keys)
                if kid is None:
                    found = new_keys.get(attr_keys)
                    if found is None:
                        found = new_keys[attr_keys] = _rows.key_sequence(attr_keys)
                    kid, _ = found
            rows.append(span_row(span, rid, kid, tk, sk))
            if span.links:
                links.extend((id_key(link.trace_id), id_key(link.span_id), tk, sk, span.start_ns)
                             for link in span.links)
            m = span.messaging
            if m.event_id is not None or m.key is not None:  # msg_keys rows: one per (value, trace)
                minute = span.start_ns - span.start_ns % NS_PER_MINUTE
                if m.event_id is not None:
                    keys.setdefault((event_hash(m.event_id), tk), minute)
                if m.key is not None:
                    keys.setdefault((key_hash(m.key), tk), minute)
        return _Prepared(rows, new_resources, new_keys, links, [(h, tk, m) for (h, tk), m in keys.items()],
                         span_keys)

    def _lookup(self, cur: Cursor, wanted: set[tuple[str, str]]) -> rollup.Lookup:
        """A lookup over the stored spans named in `wanted`, fetched up front a chunk of traces at a time."""
        found: dict[tuple[str, str], rollup.SpanInfo] = {}
        traces = sorted({_rows.id_key(t) for t, _ in wanted})
        for i in range(0, len(traces), _CHUNK):
            chunk = traces[i:i + _CHUNK]
            cur.execute(f"SELECT {_INFO_COLS} FROM spans "
                        f"WHERE {self._by_keys(f'trace_k IN ({self.dialect.marks(len(chunk))})')}", chunk)
            for trace_id, span_id, kind, service, m_topic, start_ns, m_body_size in cur.fetchall():
                if (trace_id, span_id) in wanted:
                    found[(trace_id, span_id)] = rollup.SpanInfo(trace_id, span_id, SpanKind(kind), service, m_topic,
                                                                 start_ns, m_body_size)

        def lookup(trace_id: str, span_id: str) -> rollup.SpanInfo | None:
            return found.get((trace_id, span_id))

        return lookup

    def _load_emitters(self, cur: Cursor) -> set[rollup.Emitter]:
        """The (service, group) pairs known to emit process spans, read in every write transaction: another
        collector or ingest worker may have added some since this process last looked (a small table)."""
        cur.execute("SELECT service, grp FROM process_emitters")
        return {(service, grp) for service, grp in cur.fetchall()}

    def _update_rollups(self, cur: Cursor, new: list[SpanRecord], now: int, span_keys: list[int]) -> None:
        """Pair and count the new spans (`span_keys`: the batch's span id keys, for pending lookups)."""
        emitters = self._load_emitters(cur)
        wanted = rollup.wanted_contexts(new, emitters)
        batch = rollup.plan(new, self._lookup(cur, wanted), emitters, now)
        self._resolve_pending(cur, batch, new, span_keys)
        self._expire_pending(cur, batch, now)
        d = self.dialect
        for emitter in sorted(batch.new_emitters):
            # RETURNING: only the transaction that adds the emitter retracts (two collectors may race here).
            cur.execute(f"INSERT INTO process_emitters (service, grp) VALUES ({d.marks(2)}) "
                        "ON CONFLICT DO NOTHING RETURNING service", emitter)
            if cur.fetchone() is not None:
                self._retract_receives(cur, batch, emitter, now)
        if batch.counted_receives:
            cur.executemany("INSERT INTO receive_counted (service, grp, trace_k, span_k, seen_ns) "
                            f"VALUES ({d.marks(5)}) ON CONFLICT DO NOTHING",
                            [(s.service, s.messaging.consumer_group or "", _rows.id_key(s.trace_id),
                              _rows.id_key(s.span_id), now) for s in batch.counted_receives])
        if batch.pending:
            cur.executemany(f"INSERT INTO pending ({', '.join(_PENDING_COLS)}) VALUES ({d.marks(len(_PENDING_COLS))})",
                            [(_rows.id_key(c.producer_span_id), c.producer_trace_id, c.producer_span_id,
                              c.consumer, c.consumer_group, c.topic, c.consumed_ns, c.error, c.body_size,
                              c.seen_ns) for c in batch.pending])
        self._write_rollups(cur, batch)

    def _retract_receives(self, cur: Cursor, batch: rollup.RollupBatch, emitter: rollup.Emitter, now: int) -> None:
        """`emitter` just emitted its first process span: take back what its receive/poll spans stored within the
        pending TTL counted (their messages are counted by process spans now) and drop their pending contexts."""
        service, group = emitter
        p = self.dialect.placeholder
        cur.execute(f"SELECT trace_k, span_k FROM receive_counted WHERE service = {p} AND grp = {p} "
                    f"AND seen_ns > {p}", (service, group, now - self.pending_ttl_ns))
        keys = cur.fetchall()
        cur.execute(f"DELETE FROM receive_counted WHERE service = {p} AND grp = {p}", (service, group))
        cur.execute(f"DELETE FROM pending WHERE consumer = {p} AND coalesce(grp, '') = {p}", (service, group))
        receives = [span for tk, sk in keys
                    for span in self._spans(cur, f"SELECT {_READ} FROM spans WHERE "
                                                 f"{self._by_keys(f'trace_k = {p} AND span_k = {p}')}", (tk, sk))]
        if not receives:
            return
        wanted = {(s.trace_id, s.parent_span_id) for s in receives if s.parent_span_id}
        wanted.update((link.trace_id, link.span_id) for s in receives for link in s.links)
        batch.retract(rollup.recount_receives(receives, self._lookup(cur, wanted), now))

    def _write_rollups(self, cur: Cursor, batch: rollup.RollupBatch) -> None:
        d = self.dialect
        if batch.edges:
            adds = ", ".join(f"{c} = edge_minutes.{c} + excluded.{c}" for c in _EDGE_COLS[5:])
            cur.executemany(
                f"INSERT INTO edge_minutes ({', '.join(_EDGE_COLS)}) VALUES ({d.marks(len(_EDGE_COLS))}) "
                f"ON CONFLICT (minute, producer, topic, grp, consumer) DO UPDATE SET {adds}",
                [(m, p or "", t, g or "", c or "", a.count, a.errors, a.bytes, a.latency_sum_s, *a.buckets)
                 for (m, p, t, g, c), a in sorted(batch.edges.items(), key=_edge_order)])
        if batch.sightings:
            first = d.least("schema_minutes.first_seen_ns", "excluded.first_seen_ns")
            last = d.greatest("schema_minutes.last_seen_ns", "excluded.last_seen_ns")
            cur.executemany(
                "INSERT INTO schema_minutes (minute, event_type, fingerprint, service, role, topic, first_seen_ns, "
                f"last_seen_ns, count, errors) VALUES ({d.marks(10)}) "
                "ON CONFLICT (minute, event_type, fingerprint, service, role, topic) DO UPDATE SET "
                f"first_seen_ns = {first}, last_seen_ns = {last}, "
                "count = schema_minutes.count + excluded.count, errors = schema_minutes.errors + excluded.errors",
                [(m, et, fp, svc, role.value, topic, a.first_seen_ns, a.last_seen_ns, a.count, a.errors)
                 for (m, et, fp, svc, role, topic), a in sorted(batch.sightings.items())])

    def _pending(self, cur: Cursor, where: str, params: Sequence[object]) -> list[tuple[Any, rollup.Consumption]]:
        """The pending consumptions matching `where`, each with the key of its row."""
        cur.execute(f"SELECT {self.dialect.serial_key}, p_trace_id, p_span_id, consumer, grp, topic, consumed_ns, "
                    f"error, body_size, seen_ns FROM pending WHERE {where}", params)
        return [(key, rollup.Consumption(p_trace_id, p_span_id, consumer, grp, topic, consumed_ns, bool(error),
                                         body_size, seen_ns))
                for key, p_trace_id, p_span_id, consumer, grp, topic, consumed_ns, error, body_size, seen_ns
                in cur.fetchall()]

    retention_chunk = 20_000

    def _resolve_pending(self, cur: Cursor, batch: rollup.RollupBatch, new: list[SpanRecord],
                         span_keys: list[int]) -> None:
        cur.execute("SELECT 1 FROM pending LIMIT 1")
        if cur.fetchone() is None:
            return
        by_id = {(s.trace_id, s.span_id): s for s in new}
        keys = sorted(set(span_keys))
        done = []
        for i in range(0, len(keys), _CHUNK):
            chunk = keys[i:i + _CHUNK]
            for key, consumption in self._pending(cur, f"p_span_k IN ({self.dialect.marks(len(chunk))})", chunk):
                span = by_id.get((consumption.producer_trace_id, consumption.producer_span_id))
                if span is not None:
                    batch.resolve(consumption, rollup.info_of(span))
                    done.append((key,))
        if done:
            d = self.dialect
            cur.executemany(f"DELETE FROM pending WHERE {d.serial_key} = {d.placeholder}", done)

    def _expire_pending(self, cur: Cursor, batch: rollup.RollupBatch, now: int) -> None:
        d = self.dialect
        cur.execute(f"DELETE FROM receive_counted WHERE seen_ns <= {d.placeholder}", (now - self.pending_ttl_ns,))
        expired = self._pending(cur, f"seen_ns <= {d.placeholder}", (now - self.pending_ttl_ns,))
        for _, consumption in expired:
            batch.partial(consumption)
        if expired:
            cur.executemany(f"DELETE FROM pending WHERE {d.serial_key} = {d.placeholder}",
                            [(key,) for key, _ in expired])

    def flush_pending(self, now_ns: int) -> int:
        """Turn pending consumptions older than the TTL into partial edges now; returns how many."""
        batch = rollup.RollupBatch()
        with self._guard("flush_pending"), self._write_cursor() as cur:
            self._expire_pending(cur, batch, now_ns)
            self._write_rollups(cur, batch)
        return sum(a.count for a in batch.edges.values())

    def pending_count(self) -> int:
        """How many consumptions wait for their producer span."""
        with self._guard("pending_count"), self._read_cursor() as cur:
            return int(scalar(cur, "SELECT count(*) FROM pending"))

    def write_lag_samples(self, samples: Sequence[LagSample]) -> None:
        """Store lag samples taken by the poller."""
        if not samples:
            return
        with self._guard("write_lag_samples"), self._write_cursor() as cur:
            cur.executemany(
                "INSERT INTO lag_samples (grp, topic, part, committed_offset, end_offset, observed_at_ns, "
                f"lag_seconds, lag_seconds_estimated) VALUES ({self.dialect.marks(8)})",
                [(s.group, s.topic, s.partition, s.committed_offset, s.end_offset, s.observed_at_ns,
                  s.lag_seconds, s.lag_seconds_estimated) for s in samples])

    def forget_group(self, group: str) -> None:
        """Drop every sample of a group that no longer exists."""
        with self._guard("forget_group"), self._write_cursor() as cur:
            cur.execute(f"DELETE FROM lag_samples WHERE grp = {self.dialect.placeholder}", (group,))

    def apply_retention(self, now_ns: int, *, spans_max_age_ns: int, rollups_max_age_ns: int) -> int:
        """Delete raw spans older than `spans_max_age_ns` and rollups, lag samples and alerting rows older than
        theirs; also turns expired pending consumptions into partial edges. Returns rows deleted."""
        self.flush_pending(now_ns)
        span_cut = now_ns - spans_max_age_ns
        rollup_cut = now_ns - rollups_max_age_ns
        deleted = 0
        p = self.dialect.placeholder
        while True:  # spans in chunks, one transaction each, so ingest is never held up for long
            with self._guard("apply_retention"), self._write_cursor() as cur:
                spans_deleted = self._delete_spans_before(cur, span_cut)
                cur.execute(f"UPDATE meta SET value = value - {p} WHERE name = 'span_count'",
                            (spans_deleted,))
            deleted += spans_deleted
            if spans_deleted < self.retention_chunk:
                break
        key_cut = rollup.minute_of(span_cut)
        with self._guard("apply_retention"), self._write_cursor() as cur:
            for table, column, cut in (("span_links", "start_ns", span_cut),
                                       ("dead_letters", "received_ns", span_cut),
                                       *((t, "minute", key_cut) for t in self._key_tables),
                                       ("edge_minutes", "minute", rollup_cut),
                                       ("schema_minutes", "minute", rollup_cut),
                                       ("lag_samples", "observed_at_ns", rollup_cut)):
                cur.execute(f"DELETE FROM {table} WHERE {column} < {p}", (cut,))
                deleted += max(0, cur.rowcount)
            deleted += delete_expired_alerting(cur, p, rollup_cut)
        return deleted

    def _delete_spans_before(self, cur: Cursor, cut_ns: int) -> int:
        """Delete up to `retention_chunk` spans that started before `cut_ns`; returns how many."""
        d = self.dialect
        cur.execute(f"DELETE FROM spans WHERE {d.row_address} IN (SELECT {d.row_address} "
                    f"FROM spans WHERE start_ns < {d.placeholder} LIMIT {d.placeholder})",
                    (cut_ns, self.retention_chunk))
        return max(0, cur.rowcount)

    # -- reads -----------------------------------------------------------------------------------------------
    def _resource(self, cur: Cursor, rid: int) -> dict[str, Any]:
        res = self._resources.get(rid)
        if res is None:
            cur.execute(f"SELECT attributes FROM resources WHERE id = {self.dialect.placeholder}", (rid,))
            found = cur.fetchone()
            res = {} if found is None else _rows.loads(_only(found))
            if len(self._resources) > _KNOWN_MAX:
                self._resources.clear()
            self._resources[rid] = res
        return res

    def _attribute_keys(self, cur: Cursor, kid: int | None) -> tuple[str, ...]:
        """The attribute key sequence stored under `kid` (cached; none for spans without attributes)."""
        if kid is None:
            return ()
        keys = self._attr_keys.get(kid)
        if keys is None:
            cur.execute(f"SELECT keys FROM attr_keys WHERE id = {self.dialect.placeholder}", (kid,))
            found = cur.fetchone()
            if found is None:
                raise StoreError(f"attribute key sequence {kid} is missing from attr_keys")
            keys = _rows.keys_from(_only(found))
            if len(self._attr_keys) > _KNOWN_MAX:
                self._attr_keys.clear()
            self._attr_keys[kid] = keys
        return keys

    def _spans(self, cur: Cursor, sql: str, params: Sequence[object]) -> list[SpanRecord]:
        cur.execute(sql, params)
        rows = cur.fetchall()
        return [_rows.span_from_row(row, partial(self._resource, cur), partial(self._attribute_keys, cur))
                for row in rows]

    def get_trace(self, trace_id: str) -> list[SpanRecord]:
        """Every stored span of one trace, by start time."""
        p = self.dialect.placeholder
        with self._guard("get_trace"), self._read_cursor() as cur:
            return self._spans(cur, f"SELECT {_READ} FROM spans WHERE {self._by_keys(f'trace_k = {p}')} AND "
                                    f"trace_id = {p} ORDER BY start_ns, span_id", (_rows.id_key(trace_id), trace_id))

    def get_trace_page(self, trace_id: str, *, after: tuple[int, str] | None = None,
                       limit: int = 1000) -> list[SpanRecord]:
        """At most `limit` spans of one trace by (start time, span id), those after the `after` key when given."""
        p = self.dialect.placeholder
        cond, params = f"trace_id = {p}", [_rows.id_key(trace_id), trace_id]
        if after is not None:
            cond += f" AND (start_ns > {p} OR (start_ns = {p} AND span_id > {p}))"
            params += [after[0], after[0], after[1]]
        with self._guard("get_trace_page"), self._read_cursor() as cur:
            return self._spans(cur, f"SELECT {_READ} FROM spans WHERE {self._by_keys(f'trace_k = {p}')} AND {cond} "
                                    f"ORDER BY start_ns, span_id LIMIT {p}", (*params, limit))

    def get_span(self, trace_id: str, span_id: str) -> SpanRecord | None:
        """One span, or None."""
        p = self.dialect.placeholder
        with self._guard("get_span"), self._read_cursor() as cur:
            found = self._spans(cur, f"SELECT {_READ} FROM spans "
                                     f"WHERE {self._by_keys(f'trace_k = {p} AND span_k = {p}')} "
                                     f"AND trace_id = {p} AND span_id = {p}",
                                (_rows.id_key(trace_id), _rows.id_key(span_id), trace_id, span_id))
        return found[0] if found else None

    def find_spans(self, *, event_id: str | None = None, key: str | None = None, topic: str | None = None,
                   partition: int | None = None, offset: int | None = None, service: str | None = None,
                   start_ns: int | None = None, end_ns: int | None = None, limit: int = 1000) -> list[SpanRecord]:
        """Spans matching every given filter (messaging fields, service, start-time window), newest first."""
        d = self.dialect
        p = d.placeholder
        where: list[str] = []
        params: list[object] = []
        for column, value in (("m_event_id", event_id), ("m_key", key), ("m_topic", topic),
                              ("m_partition", partition), ("m_offset", offset), ("service", service)):
            if value is not None:
                where.append(f"{column} = {p}")
                params.append(value)
        if start_ns is not None:
            where.append(f"start_ns >= {p}")
            params.append(start_ns)
        if end_ns is not None:
            where.append(f"start_ns < {p}")
            params.append(end_ns)
        limit = max(0, limit)
        with self._guard("find_spans"), self._read_cursor() as cur:
            if event_id is None and key is None:
                record = topic is not None and partition is not None and offset is not None
                # Newest first: walk the time index back and stop at `limit` (a record has its own index).
                sql = (f"SELECT {_READ} FROM spans{'' if record else d.indexed_by('spans_start')}"
                       + (" WHERE " + " AND ".join(where) if where else ""))
                return self._spans(cur, f"{sql} ORDER BY start_ns DESC, span_id DESC LIMIT {p}", [*params, limit])
            h = _rows.event_hash(event_id) if event_id is not None else _rows.key_hash(key or "")
            # A trace's row is stamped with its first span's minute: none of it can start later than `end_ns`.
            cond, args = (f"h = {p}", [h]) if end_ns is None else (f"h = {p} AND minute < {p}", [h, end_ns])
            sql = " UNION ".join(f"SELECT trace_k FROM {table} WHERE {cond}" for table in self._key_tables)
            cur.execute(sql, args * len(self._key_tables))
            traces = [trace_k for trace_k, in cur.fetchall()]
            found: list[SpanRecord] = []
            # The traces' key index finds the rows; the time index must not be walked instead.
            order = f" ORDER BY {d.unindexed('start_ns')} DESC, span_id DESC LIMIT {p}"
            for i in range(0, len(traces), _CHUNK):
                chunk = traces[i:i + _CHUNK]
                sql = (f"SELECT {_READ} FROM spans WHERE {self._by_keys(f'trace_k IN ({d.marks(len(chunk))})')} AND "
                       + " AND ".join(where))
                found += self._spans(cur, sql + order, [*chunk, *params, limit])
        found.sort(key=lambda s: (s.start_ns, s.span_id), reverse=True)
        return found[:limit]

    def spans_linking_to(self, trace_id: str, span_id: str) -> list[SpanRecord]:
        """Spans (in any trace) that have a link to, or a parent of, the given span: its consumers."""
        tk, sk = _rows.id_key(trace_id), _rows.id_key(span_id)
        p = self.dialect.placeholder
        with self._guard("spans_linking_to"), self._read_cursor() as cur:
            sources = ("(trace_k, span_k) IN (SELECT src_trace_k, src_span_k FROM span_links "
                       f"WHERE target_trace_k = {p} AND target_span_k = {p})")
            linked = self._spans(cur, f"SELECT {_READ} FROM spans WHERE {self._by_keys(sources)}", (tk, sk))
            children = self._spans(cur, f"SELECT {_READ} FROM spans WHERE {self._by_keys(f'trace_k = {p}')} AND "
                                        f"trace_id = {p} AND parent_span_id = {p}", (tk, trace_id, span_id))
        out = {(s.trace_id, s.span_id): s for s in children}
        for s in linked:
            if any(link.trace_id == trace_id and link.span_id == span_id for link in s.links):
                out[(s.trace_id, s.span_id)] = s
        return sorted(out.values(), key=lambda s: (s.start_ns, s.trace_id, s.span_id))

    def services(self) -> list[str]:
        """Every service name seen, sorted."""
        with self._guard("services"), self._read_cursor() as cur:
            cur.execute("SELECT service FROM services ORDER BY service")
            return [service for service, in cur.fetchall()]

    def span_count(self) -> int:
        """How many spans are stored (a counter kept by writes and retention)."""
        with self._guard("span_count"), self._read_cursor() as cur:
            return int(scalar(cur, "SELECT value FROM meta WHERE name = 'span_count'") or 0)

    def edge_rollups(self, start_ns: int, end_ns: int) -> list[EdgeRollup]:
        """Per-minute edge rollups whose minute falls in [start_ns, end_ns)."""
        with self._guard("edge_rollups"), self._read_cursor() as cur:
            p = self.dialect.placeholder
            cur.execute(f"SELECT {', '.join(_EDGE_COLS)} FROM edge_minutes WHERE minute >= {p} AND minute < {p} "
                        "ORDER BY minute, producer, topic, grp, consumer", (start_ns, end_ns))
            rows = cur.fetchall()
        return [EdgeRollup(minute, _none(producer), topic, _none(grp), _none(consumer), count, errors, nbytes,
                           float(latency_sum_s), tuple(buckets))
                for minute, producer, topic, grp, consumer, count, errors, nbytes, latency_sum_s, *buckets in rows]

    def schema_sightings(self, start_ns: int, end_ns: int) -> list[SchemaSighting]:
        """Schema sightings last seen in [start_ns, end_ns), aggregated over that window."""
        with self._guard("schema_sightings"), self._read_cursor() as cur:
            p = self.dialect.placeholder
            cur.execute(f"SELECT {_SIGHTING_COLS} FROM schema_minutes WHERE minute >= {p} AND minute < {p} "
                        f"AND last_seen_ns >= {p} AND last_seen_ns < {p}",
                        (rollup.minute_of(start_ns), end_ns, start_ns, end_ns))
            rows = cur.fetchall()
        return rollup.merge_sightings(
            SchemaSighting(event_type, fingerprint, service, Role(role), topic, first_seen_ns, last_seen_ns, count,
                           errors)
            for event_type, fingerprint, service, role, topic, first_seen_ns, last_seen_ns, count, errors in rows)

    def lag_samples(self, *, group: str | None = None, since_ns: int | None = None,
                    until_ns: int | None = None) -> list[LagSample]:
        """Samples (oldest first), optionally for one group and a time window [since_ns, until_ns)."""
        where, params = [], []
        p = self.dialect.placeholder
        for clause, value in ((f"grp = {p}", group), (f"observed_at_ns >= {p}", since_ns),
                              (f"observed_at_ns < {p}", until_ns)):
            if value is not None:
                where.append(clause)
                params.append(value)
        sql = f"SELECT {_LAG_COLS} FROM lag_samples"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY observed_at_ns, grp, topic, part"
        with self._guard("lag_samples"), self._read_cursor() as cur:
            cur.execute(sql, params)
            rows = cur.fetchall()
        return [LagSample(grp, topic, part, committed_offset, end_offset, observed_at_ns, lag_seconds, bool(estimated))
                for grp, topic, part, committed_offset, end_offset, observed_at_ns, lag_seconds, estimated in rows]
