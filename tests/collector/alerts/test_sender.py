"""The sender against a real HTTP receiver on loopback and a real outbox (SQLite, and PostgreSQL)."""

import threading

import pytest

from eventlens.collector.alerts.notify import new_notifications
from eventlens.collector.alerts.rules import Receiver, ReceiverType
from eventlens.collector.alerts.sender import NEVER_NS, Sender
from eventlens.collector.storage.alerting import AlertTransition
from eventlens.collector.storage.sqlite import SQLiteStore

T0 = 1_767_225_600_000_000_000
S = 1_000_000_000


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def open_db(request, tmp_path):
    """Open (and reopen) a store on one real database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return lambda: SQLiteStore(tmp_path / "eventlens.db")
    from eventlens.collector.storage.postgres import PostgresStore

    dsn = request.getfixturevalue("postgres_dsn")
    return lambda: PostgresStore(dsn)


def firing(at_ns=T0, fingerprint="fp1"):
    return AlertTransition(rule="billing-behind", fingerprint=fingerprint, labels={"group": "billing"},
                           from_state="pending", to_state="firing", at_ns=at_ns, value=130.0,
                           annotations={"summary": "behind"})


def enqueue(store, receiver_names, transition=None):
    transition = transition or firing()
    store.enqueue_notifications(new_notifications(transition, receiver_names, starts_at_ns=transition.at_ns))


def sender(store, *receivers):
    return Sender(store, receivers, jitter=lambda: 1.0)


def test_due_notification_is_delivered_once_with_idempotency_key(open_db, receiving):
    hook = receiving()
    store = open_db()
    enqueue(store, ["ops"])
    s = sender(store, Receiver("ops", ReceiverType.WEBHOOK, hook.url()))
    assert s.send_due(T0).sent == 1
    assert s.send_due(T0 + 3600 * S).sent == 0
    ((path, headers, body),) = hook.requests
    (note,) = [store.notification(1)]
    assert path == "/hook" and headers["Idempotency-Key"] == note.key
    assert body["status"] == "firing" and body["alertname"] == "billing-behind"
    assert note.sent_at_ns == T0
    store.close()


def test_alertmanager_receiver_gets_a_v2_alert_list(open_db, receiving):
    am = receiving()
    store = open_db()
    enqueue(store, ["am"])
    sender(store, Receiver("am", ReceiverType.ALERTMANAGER, am.url("/api/v2/alerts"))).send_due(T0)
    ((path, _, body),) = am.requests
    assert path == "/api/v2/alerts" and body[0]["labels"]["alertname"] == "billing-behind"
    store.close()


def test_503_then_200_is_retried_after_backoff_and_delivered_once(open_db, receiving):
    hook = receiving([503])
    store = open_db()
    enqueue(store, ["ops"])
    s = sender(store, Receiver("ops", ReceiverType.WEBHOOK, hook.url()))
    first = s.send_due(T0)
    assert (first.sent, first.retrying) == (0, 1)
    assert s.send_due(T0 + 5 * S).sent == 0  # not due yet: backoff is 10 s with jitter 1.0
    assert s.send_due(T0 + 10 * S).sent == 1
    assert s.send_due(T0 + 3600 * S).sent == 0
    assert len(hook.requests) == 2
    note = store.notification(1)
    assert note.sent_at_ns == T0 + 10 * S and note.attempts == 2
    store.close()


@pytest.mark.parametrize("status", [429, 408, 500])
def test_retryable_statuses_are_retried(open_db, receiving, status):
    hook = receiving([status])
    store = open_db()
    enqueue(store, ["ops"])
    assert sender(store, Receiver("ops", ReceiverType.WEBHOOK, hook.url())).send_due(T0).retrying == 1
    store.close()


@pytest.mark.parametrize("status", [400, 404, 410])
def test_other_4xx_is_permanent_and_never_retried(open_db, receiving, status):
    hook = receiving([status])
    store = open_db()
    enqueue(store, ["ops"])
    s = sender(store, Receiver("ops", ReceiverType.WEBHOOK, hook.url()))
    assert s.send_due(T0).dropped == 1
    assert s.send_due(T0 + 365 * 86400 * S) == s.send_due(T0 + 365 * 86400 * S)  # nothing due, nothing sent
    assert len(hook.requests) == 1
    note = store.notification(1)
    assert note.sent_at_ns is None and note.next_attempt_ns == NEVER_NS and "permanent" in note.last_error
    store.close()


def test_connection_refused_is_retried(open_db, receiving):
    hook = receiving()
    url = hook.url()
    hook.close()
    store = open_db()
    enqueue(store, ["ops"])
    result = sender(store, Receiver("ops", ReceiverType.WEBHOOK, url, timeout_ns=2 * S)).send_due(T0)
    assert result.retrying == 1 and store.notification(1).next_attempt_ns == T0 + 10 * S
    store.close()


def test_unconfigured_receiver_is_dropped_not_retried(open_db):
    store = open_db()
    enqueue(store, ["gone"])
    assert sender(store).send_due(T0).dropped == 1
    assert store.due_notifications(T0 + 365 * 86400 * S) == []
    store.close()


def test_restart_delivers_what_was_due_and_nothing_twice(open_db, receiving):
    hook = receiving([503])
    ops = Receiver("ops", ReceiverType.WEBHOOK, hook.url())
    store = open_db()
    enqueue(store, ["ops"], firing(T0, "a"))
    enqueue(store, ["ops"], firing(T0, "b"))
    first = sender(store, ops).send_due(T0)
    assert (first.sent, first.retrying) == (1, 1)
    store.close()

    reopened = open_db()
    enqueue(reopened, ["ops"], firing(T0, "a"))  # the evaluator retrying a transition queues nothing new
    second = sender(reopened, ops).send_due(T0 + 60 * S)
    assert (second.sent, second.retrying) == (1, 0)
    assert sender(reopened, ops).send_due(T0 + 3600 * S).sent == 0
    keys = [h["Idempotency-Key"] for _, h, _ in hook.requests]
    assert len(keys) == 3 and len(set(keys)) == 2  # a's once, b's twice (503, then 200)
    reopened.close()


def test_run_loop_stops_when_asked(open_db, receiving):
    hook = receiving()
    store = open_db()
    enqueue(store, ["ops"])
    stop = threading.Event()
    s = sender(store, Receiver("ops", ReceiverType.WEBHOOK, hook.url()))
    thread = threading.Thread(target=s.run, args=(stop, 0.01), kwargs={"clock": lambda: T0})
    thread.start()
    for _ in range(200):
        if hook.requests:
            break
        threading.Event().wait(0.01)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive() and len(hook.requests) == 1
    store.close()
