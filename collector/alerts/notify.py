"""Notification payloads (pure): the outbox event of a transition, and the bodies receivers get from it.

The evaluator queues one `NewNotification` per (receiver, transition to firing or resolved) with
`alert_event(...)` as its payload and `idempotency_key(...)` as its key; the sender renders the body for the
receiver's type (`alertmanager_body`, `webhook_body`, `slack_body`) and retries with `next_attempt_ns`.
docs/alerts.md "Notifications" is the user's description.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from eventlens.collector.storage.alerting import AlertTransition, NewNotification

NOTIFY_STATES: frozenset[str] = frozenset({"firing", "resolved"})
"""Transitions that notify receivers (pending and inactive do not)."""

BACKOFF_BASE_NS = 10 * 1_000_000_000
"""The first retry waits about this long; each further failed attempt doubles it."""
BACKOFF_CAP_NS = 15 * 60 * 1_000_000_000
"""No retry waits longer than this."""


def rfc3339(at_ns: int) -> str:
    """An epoch-nanosecond time as RFC 3339 UTC with milliseconds (what Alertmanager and Slack readers expect)."""
    moment = datetime.fromtimestamp(at_ns / 1e9, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def idempotency_key(receiver: str, rule: str, fingerprint: str, to_state: str, at_ns: int) -> str:
    """A stable key per (receiver, alert, transition): the same transition queued or sent twice is one message."""
    text = "\x1f".join((receiver, rule, fingerprint, to_state, str(at_ns)))
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def alert_event(transition: AlertTransition, *, starts_at_ns: int, severity: str = "",
                generator_url: str = "") -> dict[str, Any]:
    """The receiver-neutral payload stored in the outbox for a transition (JSON-serialisable)."""
    labels = dict(transition.labels)
    if severity and "severity" not in labels:
        labels["severity"] = severity
    return {"rule": transition.rule, "fingerprint": transition.fingerprint, "state": transition.to_state,
            "labels": labels, "annotations": dict(transition.annotations), "value": transition.value,
            "starts_at_ns": starts_at_ns, "at_ns": transition.at_ns, "generator_url": generator_url}


def new_notifications(transition: AlertTransition, receivers: list[str] | tuple[str, ...], *,
                      starts_at_ns: int, severity: str = "", generator_url: str = "") -> list[NewNotification]:
    """One outbox row per receiver for a firing or resolved transition; none for other transitions."""
    if transition.to_state not in NOTIFY_STATES:
        return []
    event = alert_event(transition, starts_at_ns=starts_at_ns, severity=severity, generator_url=generator_url)
    return [NewNotification(receiver=name, key=idempotency_key(name, transition.rule, transition.fingerprint,
                                                                transition.to_state, transition.at_ns),
                            payload=event, created_at_ns=transition.at_ns) for name in receivers]


def alertmanager_body(events: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The body of Alertmanager v2 `POST /api/v2/alerts`: `alertname` label, `endsAt` only when resolved."""
    body = []
    for event in events:
        alert: dict[str, Any] = {
            "labels": {**{str(k): str(v) for k, v in event["labels"].items()}, "alertname": str(event["rule"])},
            "annotations": {str(k): str(v) for k, v in event["annotations"].items()},
            "startsAt": rfc3339(int(event["starts_at_ns"])),
        }
        if event["state"] == "resolved":
            alert["endsAt"] = rfc3339(int(event["at_ns"]))
        if event.get("generator_url"):
            alert["generatorURL"] = str(event["generator_url"])
        body.append(alert)
    return body


def webhook_body(event: Mapping[str, Any], receiver: str) -> dict[str, Any]:
    """A generic JSON webhook body: the event with RFC 3339 times and a format version."""
    body = {"version": "1", "receiver": receiver, "status": event["state"], "alertname": event["rule"],
            "fingerprint": event["fingerprint"], "labels": dict(event["labels"]),
            "annotations": dict(event["annotations"]), "value": event.get("value"),
            "startsAt": rfc3339(int(event["starts_at_ns"])), "at": rfc3339(int(event["at_ns"]))}
    if event["state"] == "resolved":
        body["endsAt"] = rfc3339(int(event["at_ns"]))
    if event.get("generator_url"):
        body["generatorURL"] = str(event["generator_url"])
    return body


def slack_escape(text: str) -> str:
    """Text safe in a Slack message: `&`, `<`, `>` as Slack's HTML-like entities (only these three)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(event: Mapping[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook body: a `text` fallback and section blocks, every name escaped."""
    state = str(event["state"])
    mark = ":red_circle:" if state == "firing" else ":large_green_circle:"
    title = f"{mark} [{state.upper()}] {slack_escape(str(event['rule']))}"
    labels = ", ".join(f"{slack_escape(str(k))}={slack_escape(str(v))}"
                       for k, v in sorted(event["labels"].items()))
    lines = [f"*{title}*"]
    if labels:
        lines.append(labels)
    for key, value in sorted(event["annotations"].items()):
        lines.append(f"{slack_escape(str(key))}: {slack_escape(str(value))}")
    if event.get("value") is not None:
        lines.append(f"value: {event['value']}")
    since = rfc3339(int(event["starts_at_ns"]))
    lines.append(f"since {since}" + (f", resolved {rfc3339(int(event['at_ns']))}" if state == "resolved" else ""))
    text = f"{title}" + (f" ({labels})" if labels else "")
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}]
    if event.get("generator_url"):
        url = slack_escape(str(event["generator_url"]))
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{url}|open in eventlens>"}]})
    return {"text": text, "blocks": blocks}


def next_attempt_ns(now_ns: int, attempts: int, jitter: float, *, base_ns: int = BACKOFF_BASE_NS,
                    cap_ns: int = BACKOFF_CAP_NS) -> int:
    """When to retry after `attempts` failed attempts: base·2^(attempts-1) capped, scaled by `jitter` in [0.5, 1]."""
    if not 0.0 <= jitter <= 1.0:
        raise ValueError(f"jitter must be in [0, 1], got {jitter!r}")
    exponent = max(attempts - 1, 0)
    delay = cap_ns if exponent >= 62 else min(base_ns << exponent, cap_ns)
    return now_ns + int(delay * (0.5 + jitter / 2))
