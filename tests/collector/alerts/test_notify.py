"""Notification payloads: Alertmanager, webhook and Slack bodies, idempotency keys, backoff (pure)."""

import pytest

from eventlens.collector.alerts.notify import (
    BACKOFF_BASE_NS,
    BACKOFF_CAP_NS,
    alert_event,
    alertmanager_body,
    idempotency_key,
    new_notifications,
    next_attempt_ns,
    rfc3339,
    slack_body,
    slack_escape,
    webhook_body,
)
from eventlens.collector.storage.alerting import AlertTransition

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
S = 1_000_000_000


def transition(to_state="firing", at_ns=T0, **kw):
    base = dict(rule="billing-behind", fingerprint="fp1", labels={"group": "billing", "team": "pay"},
                from_state="pending", to_state=to_state, at_ns=at_ns, value=130.0,
                annotations={"summary": "Billing is 130 s behind"})
    base.update(kw)
    return AlertTransition(**base)


def event(to_state="firing", at_ns=T0, **kw):
    return alert_event(transition(to_state, at_ns, **kw), starts_at_ns=T0, severity="critical",
                       generator_url="http://lens/alerts")


def test_rfc3339_is_utc_with_milliseconds():
    assert rfc3339(T0 + 1_234_567_890) == "2026-01-01T00:00:01.234Z"


def test_alertmanager_firing_has_alertname_labels_annotations_and_no_ends_at():
    (alert,) = alertmanager_body([event()])
    assert alert == {"labels": {"alertname": "billing-behind", "group": "billing", "team": "pay",
                                "severity": "critical"},
                     "annotations": {"summary": "Billing is 130 s behind"},
                     "startsAt": "2026-01-01T00:00:00.000Z", "generatorURL": "http://lens/alerts"}


def test_alertmanager_resolved_carries_ends_at_the_transition_time():
    (alert,) = alertmanager_body([event("resolved", T0 + 90 * S, from_state="firing")])
    assert alert["startsAt"] == "2026-01-01T00:00:00.000Z"
    assert alert["endsAt"] == "2026-01-01T00:01:30.000Z"


def test_alertmanager_alertname_label_is_the_rule_even_if_labels_have_one():
    (alert,) = alertmanager_body([event(labels={"alertname": "spoof"})])
    assert alert["labels"]["alertname"] == "billing-behind"


def test_rule_severity_does_not_override_a_severity_label():
    assert event(labels={"severity": "info"})["labels"]["severity"] == "info"


def test_webhook_body_is_the_event_with_status_and_times():
    body = webhook_body(event("resolved", T0 + S, from_state="firing"), "ops")
    assert body["status"] == "resolved" and body["receiver"] == "ops" and body["alertname"] == "billing-behind"
    assert body["value"] == 130.0 and body["endsAt"] == "2026-01-01T00:00:01.000Z"
    assert body["labels"]["severity"] == "critical"


@pytest.mark.parametrize(("raw", "escaped"), [
    ("a<b>c", "a&lt;b&gt;c"),
    ("x & y", "x &amp; y"),
    ("&lt;", "&amp;lt;"),
    ("plain *bold*", "plain *bold*"),
])
def test_slack_escape_handles_only_amp_lt_gt(raw, escaped):
    assert slack_escape(raw) == escaped


def test_slack_body_escapes_rule_labels_and_annotations():
    body = slack_body(event(rule="a<b>", labels={"topic": "<!channel>"}, annotations={"note": "x & y"}))
    dumped = repr(body)
    assert "<!channel>" not in dumped and "a<b>" not in dumped
    assert "&lt;!channel&gt;" in body["text"] and "a&lt;b&gt;" in body["text"]
    assert "x &amp; y" in body["blocks"][0]["text"]["text"]


def test_slack_body_has_text_fallback_and_link_block():
    body = slack_body(event())
    assert body["text"].startswith(":red_circle: [FIRING] billing-behind")
    assert body["blocks"][-1]["elements"][0]["text"] == "<http://lens/alerts|open in eventlens>"


def test_idempotency_key_is_stable_and_differs_per_part():
    key = idempotency_key("ops", "r", "fp", "firing", T0)
    assert key == idempotency_key("ops", "r", "fp", "firing", T0)
    others = {idempotency_key("slack", "r", "fp", "firing", T0), idempotency_key("ops", "r2", "fp", "firing", T0),
              idempotency_key("ops", "r", "fp2", "firing", T0), idempotency_key("ops", "r", "fp", "resolved", T0),
              idempotency_key("ops", "r", "fp", "firing", T0 + 1)}
    assert key not in others and len(others) == 5


def test_new_notifications_one_per_receiver_for_firing():
    rows = new_notifications(transition(), ["am", "slack"], starts_at_ns=T0)
    assert [r.receiver for r in rows] == ["am", "slack"]
    assert rows[0].key != rows[1].key and rows[0].created_at_ns == T0


@pytest.mark.parametrize("state", ["pending", "inactive"])
def test_new_notifications_none_for_pending_or_inactive(state):
    assert new_notifications(transition(state, from_state="inactive" if state == "pending" else "pending"),
                             ["am"], starts_at_ns=T0) == []


@pytest.mark.parametrize(("attempts", "jitter", "delay"), [
    (1, 1.0, BACKOFF_BASE_NS),
    (2, 1.0, 2 * BACKOFF_BASE_NS),
    (3, 1.0, 4 * BACKOFF_BASE_NS),
    (1, 0.0, BACKOFF_BASE_NS // 2),
    (30, 1.0, BACKOFF_CAP_NS),
    (500, 0.0, BACKOFF_CAP_NS // 2),
])
def test_backoff_doubles_caps_and_scales_by_jitter(attempts, jitter, delay):
    assert next_attempt_ns(T0, attempts, jitter) == T0 + delay


def test_backoff_rejects_jitter_outside_unit_interval():
    with pytest.raises(ValueError, match="jitter"):
        next_attempt_ns(T0, 1, 1.5)
