"""The alerting tables' queries, shared by both backends: transition history, latest states, outbox, leases.

Written once against a backend's `Dialect` and cursors, like `_sql.py` (which mixes this in). Every write is
one transaction; rows are read by name. Semantics: docs/storage.md, "Alerting tables".
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from eventlens.collector.storage import alerting
from eventlens.collector.storage._dialect import Dialect
from eventlens.collector.storage.alerting import AlertState, AlertTransition, NewNotification, Notification

if TYPE_CHECKING:
    from eventlens.collector.storage._sql import Cursor

_TRANSITION_COLS = "rule, fingerprint, labels, from_state, to_state, at_ns, value, annotations"
_STATE_COLS = "rule, fingerprint, labels, state, since_ns, value, annotations"
_NOTIFICATION_COLS = ("id, receiver, idem_key, payload, created_at_ns, next_attempt_ns, attempts, last_error, "
                      "sent_at_ns")
_ACTIVE = ", ".join(f"'{s}'" for s in sorted(alerting.ACTIVE_STATES))


class _Backend(Protocol):
    """What the alerting queries need of a store (`SQLStore` provides it)."""

    dialect: ClassVar[Dialect]

    def _guard(self, what: str) -> contextlib.AbstractContextManager[None]: ...
    def _write_cursor(self) -> contextlib.AbstractContextManager[Cursor]: ...
    def _read_cursor(self) -> contextlib.AbstractContextManager[Cursor]: ...


def _transition_row(t: AlertTransition) -> tuple[object, ...]:
    return (t.rule, t.fingerprint, alerting.dumps(t.labels), t.from_state, t.to_state, t.at_ns, t.value,
            alerting.dumps(t.annotations))


class AlertingSQL:
    """Alert history, the notification outbox and leases over a backend's connections (a mixin of `SQLStore`)."""

    # -- history and states ----------------------------------------------------------------------------------
    def record_alert_transitions(self: _Backend, rows: Sequence[AlertTransition], *,
                                 notifications: Sequence[NewNotification] = ()) -> int:
        """Store transitions (a retried one, same rule, fingerprint, time and target state, is stored once),
        move each alert's latest state forward, and enqueue `notifications`, all in one transaction: a crash
        loses either both the transition and its notifications or neither. Returns how many transitions were new."""
        if not rows and not notifications:
            return 0
        p = self.dialect.placeholder
        ordered = sorted(rows, key=lambda t: t.at_ns)  # a batch's later transition of one alert wins its state
        new = 0
        with self._guard("record_alert_transitions"), self._write_cursor() as cur:
            for t in ordered:
                row = _transition_row(t)
                cur.execute(f"INSERT INTO alert_transitions ({_TRANSITION_COLS}) VALUES ({self.dialect.marks(8)}) "
                            "ON CONFLICT (rule, fingerprint, at_ns, to_state) DO NOTHING", row)
                new += max(0, cur.rowcount)
                rule, fingerprint, labels, _, to_state, at_ns, value, annotations = row
                cur.execute(f"INSERT INTO alert_states ({_STATE_COLS}) VALUES ({self.dialect.marks(7)}) "
                            "ON CONFLICT (rule, fingerprint) DO UPDATE SET labels = excluded.labels, "
                            "state = excluded.state, since_ns = excluded.since_ns, value = excluded.value, "
                            "annotations = excluded.annotations WHERE excluded.since_ns >= alert_states.since_ns",
                            (rule, fingerprint, labels, to_state, at_ns, value, annotations))
            _enqueue(cur, p, notifications)
        return new

    def alert_history(self: _Backend, start_ns: int, end_ns: int, *, rule: str | None = None,
                      fingerprint: str | None = None, limit: int = 1000) -> list[AlertTransition]:
        """Transitions at [start_ns, end_ns), newest first, optionally of one rule (and one alert), at most `limit`."""
        p = self.dialect.placeholder
        where = [f"at_ns >= {p}", f"at_ns < {p}"]
        params: list[object] = [start_ns, end_ns]
        for column, wanted in (("rule", rule), ("fingerprint", fingerprint)):
            if wanted is not None:
                where.append(f"{column} = {p}")
                params.append(wanted)
        with self._guard("alert_history"), self._read_cursor() as cur:
            cur.execute(f"SELECT {_TRANSITION_COLS} FROM alert_transitions WHERE {' AND '.join(where)} "
                        f"ORDER BY at_ns DESC, id DESC LIMIT {p}", (*params, limit))
            rows = cur.fetchall()
        return [AlertTransition(rule, fingerprint, alerting.loads(labels), from_state, to_state, at_ns,
                                None if value is None else float(value), alerting.loads(annotations))
                for rule, fingerprint, labels, from_state, to_state, at_ns, value, annotations in rows]

    def alert_states(self: _Backend, *, rule: str | None = None) -> list[AlertState]:
        """The latest state of every alert (optionally of one rule), by rule and fingerprint: what an evaluator
        restarts from."""
        p = self.dialect.placeholder
        sql = f"SELECT {_STATE_COLS} FROM alert_states"
        params: tuple[object, ...] = ()
        if rule is not None:
            sql += f" WHERE rule = {p}"
            params = (rule,)
        with self._guard("alert_states"), self._read_cursor() as cur:
            cur.execute(sql + " ORDER BY rule, fingerprint", params)
            rows = cur.fetchall()
        return [AlertState(rule, fingerprint, alerting.loads(labels), state, since_ns,
                           None if value is None else float(value), alerting.loads(annotations))
                for rule, fingerprint, labels, state, since_ns, value, annotations in rows]

    # -- notification outbox ---------------------------------------------------------------------------------
    def enqueue_notifications(self: _Backend, rows: Sequence[NewNotification]) -> int:
        """Add notifications, due at once; a (receiver, key) already queued is kept as it is. Returns how many
        were new."""
        if not rows:
            return 0
        with self._guard("enqueue_notifications"), self._write_cursor() as cur:
            return _enqueue(cur, self.dialect.placeholder, rows)

    def due_notifications(self: _Backend, now_ns: int, *, limit: int = 100) -> list[Notification]:
        """Unsent notifications whose next attempt is due at `now_ns`, the longest due first."""
        p = self.dialect.placeholder
        with self._guard("due_notifications"), self._read_cursor() as cur:
            cur.execute(f"SELECT {_NOTIFICATION_COLS} FROM notifications WHERE sent_at_ns IS NULL "
                        f"AND next_attempt_ns <= {p} ORDER BY next_attempt_ns, id LIMIT {p}", (now_ns, limit))
            rows = cur.fetchall()
        return [_notification(row) for row in rows]

    def notification(self: _Backend, notification_id: int) -> Notification | None:
        """One notification by id, sent or not (None when there is none)."""
        with self._guard("notification"), self._read_cursor() as cur:
            cur.execute(f"SELECT {_NOTIFICATION_COLS} FROM notifications WHERE id = {self.dialect.placeholder}",
                        (notification_id,))
            row = cur.fetchone()
        return None if row is None else _notification(row)

    def mark_sent(self: _Backend, notification_id: int, now_ns: int) -> bool:
        """Record a delivery (counted as an attempt); False when it was already sent or is unknown."""
        p = self.dialect.placeholder
        with self._guard("mark_sent"), self._write_cursor() as cur:
            cur.execute(f"UPDATE notifications SET sent_at_ns = {p}, attempts = attempts + 1, last_error = NULL "
                        f"WHERE id = {p} AND sent_at_ns IS NULL", (now_ns, notification_id))
            return cur.rowcount > 0

    def mark_failed(self: _Backend, notification_id: int, now_ns: int, next_attempt_ns: int, error: str) -> bool:
        """Record a failed attempt and when to try again (the caller's backoff); False when sent or unknown.

        `now_ns` is the attempt's time: a next attempt before it is moved to it, never into the past."""
        p = self.dialect.placeholder
        with self._guard("mark_failed"), self._write_cursor() as cur:
            cur.execute(f"UPDATE notifications SET attempts = attempts + 1, last_error = {p}, "
                        f"next_attempt_ns = {self.dialect.greatest(p, p)} WHERE id = {p} AND sent_at_ns IS NULL",
                        (error, next_attempt_ns, now_ns, notification_id))
            return cur.rowcount > 0

    # -- leases ----------------------------------------------------------------------------------------------
    def try_acquire_lease(self: _Backend, name: str, holder: str, now_ns: int, ttl_ns: int) -> bool:
        """Take or renew the lease `name` until `now_ns + ttl_ns`: True when `holder` holds it afterwards.

        One statement: the row is inserted, or updated only if `holder` already holds it or it has expired; a
        concurrent attempt waits for the row (PostgreSQL) or the write lock (SQLite) and then sees the winner."""
        p = self.dialect.placeholder
        with self._guard("try_acquire_lease"), self._write_cursor() as cur:
            cur.execute(f"INSERT INTO leases (name, holder, expires_ns) VALUES ({p}, {p}, {p}) "
                        "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_ns = excluded.expires_ns "
                        f"WHERE leases.holder = excluded.holder OR leases.expires_ns <= {p} RETURNING holder",
                        (name, holder, now_ns + ttl_ns, now_ns))
            return cur.fetchone() is not None

    def release_lease(self: _Backend, name: str, holder: str) -> bool:
        """Give the lease up if `holder` holds it (another may take it at once); False when it did not."""
        p = self.dialect.placeholder
        with self._guard("release_lease"), self._write_cursor() as cur:
            cur.execute(f"DELETE FROM leases WHERE name = {p} AND holder = {p}", (name, holder))
            return cur.rowcount > 0

    def lease_holder(self: _Backend, name: str, now_ns: int) -> str | None:
        """Who holds the lease `name` at `now_ns` (None when nobody does or it has expired)."""
        p = self.dialect.placeholder
        with self._guard("lease_holder"), self._read_cursor() as cur:
            cur.execute(f"SELECT holder FROM leases WHERE name = {p} AND expires_ns > {p}", (name, now_ns))
            row = cur.fetchone()
        return None if row is None else str(row[0])


def delete_expired_alerting(cur: Cursor, placeholder: str, cut_ns: int) -> int:
    """Retention: transitions, settled states and notifications older than `cut_ns`; returns rows deleted.

    The latest state of a pending or firing alert is kept however old, so a long-firing alert is not forgotten."""
    deleted = 0
    for sql in (f"DELETE FROM alert_transitions WHERE at_ns < {placeholder}",
                f"DELETE FROM alert_states WHERE since_ns < {placeholder} AND state NOT IN ({_ACTIVE})",
                f"DELETE FROM notifications WHERE created_at_ns < {placeholder}"):
        cur.execute(sql, (cut_ns,))
        deleted += max(0, cur.rowcount)
    return deleted


def _enqueue(cur: Cursor, p: str, rows: Sequence[NewNotification]) -> int:
    new = 0
    for n in rows:
        cur.execute("INSERT INTO notifications (receiver, idem_key, payload, created_at_ns, next_attempt_ns) "
                    f"VALUES ({p}, {p}, {p}, {p}, {p}) ON CONFLICT (receiver, idem_key) DO NOTHING",
                    (n.receiver, n.key, alerting.dumps(n.payload), n.created_at_ns, n.created_at_ns))
        new += max(0, cur.rowcount)
    return new


def _notification(row: Sequence[Any]) -> Notification:
    (nid, receiver, key, payload, created_at_ns, next_attempt_ns, attempts, last_error, sent_at_ns) = row
    return Notification(nid, receiver, key, alerting.loads(payload), created_at_ns, next_attempt_ns, attempts,
                        last_error, sent_at_ns)

