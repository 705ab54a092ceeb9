"""The notification sender: takes due notifications from the outbox, POSTs them, marks them sent or failed.

One pass (`send_due`) is synchronous and takes `now_ns`, so tests drive it directly; `run` repeats it until
stopped. Delivery is at-least-once per receiver with an `Idempotency-Key` header (the outbox key), and the
outbox is only marked after the POST: a collector that dies in between re-sends on restart, never loses.
Retry rules: docs/alerts.md "Notifications".
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eventlens.collector.alerts.notify import alertmanager_body, next_attempt_ns, slack_body, webhook_body
from eventlens.collector.alerts.rules import Receiver, ReceiverType
from eventlens.collector.storage.alerting import Notification
from eventlens.collector.storage.protocol import NotificationOutbox

log = logging.getLogger(__name__)

NEVER_NS = 2**63 - 1
"""`next_attempt_ns` of a permanently failed notification: never due again."""
RETRY_STATUSES: frozenset[int] = frozenset({408, 429})
"""4xx statuses worth retrying (every 5xx is too)."""

Post = Callable[[str, bytes, Mapping[str, str], float], int]
"""POST (url, body, headers, timeout seconds) → HTTP status; raises OSError on connection errors/timeouts."""


def urllib_post(url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> int:
    """POST with the standard library; the status of any answer, OSError when there was none."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"receiver URL must be http(s): {url!r}")
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code


def render(receiver: Receiver, payload: Mapping[str, Any]) -> Any:
    """The JSON body `receiver` gets for one outbox event."""
    if receiver.type is ReceiverType.ALERTMANAGER:
        return alertmanager_body([payload])
    if receiver.type is ReceiverType.SLACK:
        return slack_body(payload)
    return webhook_body(payload, receiver.name)


def is_retryable(status: int) -> bool:
    """Whether a failed HTTP status is worth another attempt (408, 429, 5xx)."""
    return status in RETRY_STATUSES or status >= 500


@dataclass(frozen=True, slots=True)
class PassResult:
    """What one `send_due` pass did."""

    sent: int = 0
    retrying: int = 0
    dropped: int = 0


class Sender:
    """Delivers due outbox notifications to the configured receivers."""

    def __init__(self, store: NotificationOutbox, receivers: Iterable[Receiver], *, post: Post = urllib_post,
                 jitter: Callable[[], float] = random.random, batch: int = 100) -> None:
        self._store = store
        self._receivers = {r.name: r for r in receivers}
        self._post = post
        self._jitter = jitter
        self._batch = batch

    def send_due(self, now_ns: int) -> PassResult:
        """One pass: every notification due at `now_ns` (up to the batch size) tried once."""
        sent = retrying = dropped = 0
        for note in self._store.due_notifications(now_ns, limit=self._batch):
            outcome = self._deliver(note, now_ns)
            sent += outcome == "sent"
            retrying += outcome == "retry"
            dropped += outcome == "dropped"
        return PassResult(sent, retrying, dropped)

    def _deliver(self, note: Notification, now_ns: int) -> str:
        """Try one notification and record the outcome: `sent`, `retry` or `dropped`."""
        receiver = self._receivers.get(note.receiver)
        if receiver is None:
            log.error("notification %s: receiver %r is not configured; dropped", note.key, note.receiver)
            self._store.mark_failed(note.id, now_ns, NEVER_NS, f"receiver {note.receiver!r} not configured")
            return "dropped"
        body = json.dumps(render(receiver, note.payload), separators=(",", ":")).encode()
        headers = {**receiver.headers, "Content-Type": "application/json", "Idempotency-Key": note.key}
        try:
            status = self._post(receiver.url, body, headers, receiver.timeout_ns / 1e9)
        except OSError as exc:
            return self._retry(note, now_ns, f"{type(exc).__name__}: {exc}")
        if 200 <= status < 300:
            self._store.mark_sent(note.id, now_ns)
            return "sent"
        if is_retryable(status):
            return self._retry(note, now_ns, f"HTTP {status}")
        log.error("notification %s to %r refused with HTTP %d; not retried", note.key, receiver.name, status)
        self._store.mark_failed(note.id, now_ns, NEVER_NS, f"HTTP {status} (permanent)")
        return "dropped"

    def _retry(self, note: Notification, now_ns: int, error: str) -> str:
        """Mark a transient failure with the backoff's next attempt."""
        when = next_attempt_ns(now_ns, note.attempts + 1, self._jitter())
        log.warning("notification %s to %r failed (%s); retry in %.1f s", note.key, note.receiver, error,
                    (when - now_ns) / 1e9)
        self._store.mark_failed(note.id, now_ns, when, error)
        return "retry"

    def run(self, stop: threading.Event, interval_s: float = 5.0,
            clock: Callable[[], int] = time.time_ns) -> None:
        """Pass after pass every `interval_s` until `stop` is set (a failing pass is logged, not fatal)."""
        while not stop.is_set():
            try:
                self.send_due(clock())
            except Exception:
                log.exception("notification pass failed")
            stop.wait(interval_s)
