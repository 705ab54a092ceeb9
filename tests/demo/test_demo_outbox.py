"""The transactional outbox table: atomic with the business write, keeps the trace context, relayed in order."""

from __future__ import annotations

import random

from eventlens.demo import outbox
from eventlens.demo.services.payments import PAYMENTS_SCHEMA, charge
from eventlens.demo.traffic import make_order

CTX = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


def test_enqueued_messages_are_pending_with_headers_and_trace_context(tmp_path) -> None:
    """A message written to the outbox comes back pending, byte for byte, with its captured context."""
    conn = outbox.connect(tmp_path / "o.db")
    message = outbox.OutboxMessage(topic="t", key=b"k", value=b"\x00v", headers=(("ce_id", b"1"), ("h", b"\xff")))
    conn.execute("BEGIN")
    row_id = outbox.enqueue(conn, message, CTX, now_ms=5)
    conn.execute("COMMIT")
    [row] = outbox.pending(conn)
    assert row.id == row_id
    assert row.message == message
    assert row.trace_context == CTX
    assert row.created_at_ms == 5


def test_sent_messages_are_no_longer_pending(tmp_path) -> None:
    """mark_sent removes messages from the pending list, oldest-first order kept for the rest."""
    conn = outbox.connect(tmp_path / "o.db")
    ids = [outbox.enqueue(conn, outbox.OutboxMessage("t", None, str(i).encode()), {}, now_ms=i) for i in range(3)]
    outbox.mark_sent(conn, ids[:1], now_ms=10)
    assert [r.id for r in outbox.pending(conn)] == ids[1:]
    assert outbox.pending_count(conn) == 2


def test_a_rolled_back_transaction_leaves_no_message(tmp_path) -> None:
    """The outbox row lives and dies with the business write's transaction."""
    conn = outbox.connect(tmp_path / "o.db")
    conn.execute("BEGIN")
    outbox.enqueue(conn, outbox.OutboxMessage("t", None, b"v"), CTX, now_ms=1)
    conn.execute("ROLLBACK")
    assert outbox.pending(conn) == []


def test_a_second_connection_sees_committed_messages(tmp_path) -> None:
    """The relay (another process, another connection) sees what the service committed."""
    writer = outbox.connect(tmp_path / "o.db")
    relay = outbox.connect(tmp_path / "o.db")
    outbox.enqueue(writer, outbox.OutboxMessage("t", None, b"v"), CTX, now_ms=1)
    assert len(outbox.pending(relay)) == 1


def test_charging_an_order_twice_publishes_once(tmp_path) -> None:
    """payments' charge is idempotent: a redelivered order adds neither a payment nor an outbox message."""
    conn = outbox.connect(tmp_path / "p.db")
    conn.executescript(PAYMENTS_SCHEMA)
    order = make_order(random.Random(1), 1, 0)
    assert charge(conn, order, "payments", CTX, at_ms=1) is True
    assert charge(conn, order, "payments", CTX, at_ms=2) is False
    [row] = outbox.pending(conn)
    assert row.message.key == order.order_id.encode()
    assert row.trace_context == CTX
    assert conn.execute("SELECT count(*) FROM payments").fetchone()[0] == 1
