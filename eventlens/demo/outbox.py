"""Transactional outbox on SQLite: a service writes its state change and the message to publish in one
transaction; a relay process publishes pending messages and marks them sent.

Each row keeps the trace context captured when the message was written (`capture_context()`), so the relay can
publish inside `restore_context()` and the trace crosses the outbox. Delivery is at least once: a relay that
crashes between the send and `mark_sent` publishes that row again.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    key BLOB,
    value BLOB NOT NULL,
    headers TEXT NOT NULL,
    trace_context TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    sent_at_ms INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (id) WHERE sent_at_ms IS NULL;
"""


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A message to publish: topic, key, value and Kafka headers (name, bytes)."""

    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A stored message waiting for the relay, with the trace context captured at write time."""

    id: int
    message: OutboxMessage
    trace_context: Mapping[str, str]
    created_at_ms: int


def connect(path: Path) -> sqlite3.Connection:
    """Open (and create) an outbox database shared by a writer and a relay process (WAL, busy timeout)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.executescript(SCHEMA)
    return conn


def _encode_headers(headers: Sequence[tuple[str, bytes]]) -> str:
    return json.dumps([[name, value.hex()] for name, value in headers])


def _decode_headers(text: str) -> tuple[tuple[str, bytes], ...]:
    return tuple((str(name), bytes.fromhex(value)) for name, value in json.loads(text))


def enqueue(conn: sqlite3.Connection, message: OutboxMessage, trace_context: Mapping[str, str], now_ms: int) -> int:
    """Add a message to the outbox inside the caller's open transaction; returns its row id."""
    cur = conn.execute(
        "INSERT INTO outbox (topic, key, value, headers, trace_context, created_at_ms) VALUES (?, ?, ?, ?, ?, ?)",
        (message.topic, message.key, message.value, _encode_headers(message.headers),
         json.dumps(dict(trace_context)), now_ms),
    )
    if cur.lastrowid is None:
        raise sqlite3.DatabaseError("outbox insert returned no row id")
    return cur.lastrowid


def pending(conn: sqlite3.Connection, limit: int = 100) -> list[OutboxRow]:
    """The oldest unsent messages, in the order they were written."""
    rows = conn.execute(
        "SELECT id, topic, key, value, headers, trace_context, created_at_ms FROM outbox "
        "WHERE sent_at_ms IS NULL ORDER BY id LIMIT ?", (limit,),
    ).fetchall()
    return [
        OutboxRow(
            id=int(row_id),
            message=OutboxMessage(topic=topic, key=key, value=value, headers=_decode_headers(headers)),
            trace_context={str(k): str(v) for k, v in json.loads(context).items()},
            created_at_ms=int(created),
        )
        for row_id, topic, key, value, headers, context, created in rows
    ]


def mark_sent(conn: sqlite3.Connection, ids: Sequence[int], now_ms: int) -> None:
    """Mark messages as published (after the broker acknowledged them)."""
    if ids:
        conn.executemany("UPDATE outbox SET sent_at_ms = ? WHERE id = ?", [(now_ms, i) for i in ids])


def pending_count(conn: sqlite3.Connection) -> int:
    """How many messages wait for the relay."""
    return int(conn.execute("SELECT count(*) FROM outbox WHERE sent_at_ms IS NULL").fetchone()[0])
