"""The collector runs alert evaluation on a schedule: `--alert-rules`, `--alert-interval`, built-in rules by default."""

from __future__ import annotations

import time

import pytest

from eventlens.collector.alerts.evaluator import LEASE_NAME
from eventlens.collector.alerts.rules import RulesError
from eventlens.collector.config import CollectorConfig
from eventlens.collector.model import LagSample
from eventlens.collector.service import Collector, alert_loop
from eventlens.collector.storage.protocol import open_store


def _config(tmp_path, **kw) -> CollectorConfig:
    return CollectorConfig(store=f"sqlite:///{tmp_path / 'c.db'}", http_port=-1, grpc_port=-1,
                           memory_limit_mib=0, **kw)


def test_a_running_collector_evaluates_its_rules_file_and_records_a_firing_alert(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules: [{name: behind, kind: lag_offsets, params: {above: 5}}]\n")
    collector = Collector(_config(tmp_path, alert_rules=str(rules), alert_interval_s=0.1)).start()
    try:
        collector.store.write_lag_samples([LagSample("billing", "orders", 0, 10, 100, time.time_ns())])
        deadline = time.monotonic() + 10
        states = []
        while time.monotonic() < deadline and not states:
            time.sleep(0.1)
            states = [(s.rule, s.state) for s in collector.store.alert_states()]  # type: ignore[attr-defined]
        assert states == [("behind", "firing")]
    finally:
        collector.stop()


def test_a_running_collector_sends_a_firing_alert_to_the_rules_files_webhook(tmp_path, receiving):
    """Evaluation queues the transition in the outbox and the collector's sender delivers it, once."""
    hook = receiving()
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"receivers: [{{name: ops, type: webhook, url: '{hook.url()}'}}]\n"
                     "rules: [{name: behind, kind: lag_offsets, params: {above: 5}}]\n")
    collector = Collector(_config(tmp_path, alert_rules=str(rules), alert_interval_s=0.1)).start()
    try:
        collector.store.write_lag_samples([LagSample("billing", "orders", 0, 10, 100, time.time_ns())])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not hook.requests:
            time.sleep(0.1)
        time.sleep(0.5)  # a second delivery, if any, would arrive meanwhile
    finally:
        collector.stop()
    ((path, headers, body),) = hook.requests
    assert (path, body["status"], body["alertname"], body["labels"]["group"]) == ("/hook", "firing", "behind",
                                                                                  "billing")
    assert headers["Idempotency-Key"]


def test_stopping_the_collector_releases_the_evaluator_lease(tmp_path):
    """Another collector on the same database takes over at its next pass, not after the lease expires."""
    collector = Collector(_config(tmp_path, alert_interval_s=0.05)).start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and collector.store.lease_holder(LEASE_NAME, time.time_ns()) is None:  # type: ignore[attr-defined]
        time.sleep(0.05)
    collector.stop()
    store = open_store(_config(tmp_path).store)
    try:
        assert store.lease_holder(LEASE_NAME, time.time_ns()) is None  # type: ignore[attr-defined]
    finally:
        store.close()


def test_without_a_rules_file_the_built_in_rules_are_evaluated(tmp_path):
    store = open_store(_config(tmp_path).store)
    try:
        loop = alert_loop(store, _config(tmp_path))
        assert loop is not None
        assert loop.evaluator.rules.source == "defaults.yaml"  # type: ignore[attr-defined]
    finally:
        store.close()


def test_an_interval_of_zero_disables_evaluation(tmp_path):
    store = open_store(_config(tmp_path).store)
    try:
        assert alert_loop(store, _config(tmp_path, alert_interval_s=0)) is None
    finally:
        store.close()


def test_an_invalid_rules_file_stops_the_collector_from_starting(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules: [{name: x, kind: lag_seconds}]\n")
    with pytest.raises(RulesError, match=r"rules\[0\] 'x': 'params' is a required property"):
        Collector(_config(tmp_path, alert_rules=str(rules))).start()
