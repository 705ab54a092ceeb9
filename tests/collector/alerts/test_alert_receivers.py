"""The rules file's `receivers:` section and each rule's `receivers` list."""

import pytest

from eventlens.collector.alerts.rules import (
    DEFAULT_RECEIVER_TIMEOUT_NS,
    ReceiverType,
    RulesError,
    parse_rules,
)

RULE = "  - {name: behind, kind: lag_seconds, params: {above: 1m}}\n"
RECEIVERS = """receivers:
  - {name: am, type: alertmanager, url: "http://am:9093/api/v2/alerts"}
  - {name: chat, type: slack, url: "https://hooks.slack.com/services/x", timeout: 3s,
     headers: {X-Team: ops}}
"""


def test_receivers_load_with_type_url_timeout_and_headers():
    rules = parse_rules(RECEIVERS + "rules:\n" + RULE)
    am, chat = rules.receivers
    assert (am.name, am.type, am.timeout_ns) == ("am", ReceiverType.ALERTMANAGER, DEFAULT_RECEIVER_TIMEOUT_NS)
    assert (chat.type, chat.timeout_ns, dict(chat.headers)) == (ReceiverType.SLACK, 3_000_000_000, {"X-Team": "ops"})


def test_a_rule_without_receivers_notifies_every_receiver():
    rules = parse_rules(RECEIVERS + "rules:\n" + RULE)
    assert rules.receivers_of(rules.rules[0]) == ("am", "chat")


def test_a_rule_with_receivers_notifies_only_those():
    rules = parse_rules(RECEIVERS + "rules:\n"
                        "  - {name: r, kind: lag_seconds, params: {above: 1m}, receivers: [chat]}\n")
    assert rules.receivers_of(rules.rules[0]) == ("chat",)


def test_a_file_without_receivers_notifies_nobody():
    rules = parse_rules("rules:\n" + RULE)
    assert rules.receivers == () and rules.receivers_of(rules.rules[0]) == ()


def test_a_rule_naming_an_unknown_receiver_is_an_error():
    with pytest.raises(RulesError, match=r"rules\[0\] 'r': receivers: 'pager' is not in the file's receivers"):
        parse_rules(RECEIVERS + "rules:\n  - {name: r, kind: lag_seconds, params: {above: 1m}, receivers: [pager]}\n")


@pytest.mark.parametrize(("receiver", "message"), [
    ("{name: x, type: email, url: 'http://x'}", "email"),
    ("{name: x, type: webhook, url: 'ftp://x'}", "ftp"),
    ("{name: x, type: webhook}", "url"),
    ("{name: x, type: webhook, url: 'http://x', timeout: soon}", "timeout"),
])
def test_a_bad_receiver_is_an_error(receiver, message):
    with pytest.raises(RulesError, match=message):
        parse_rules(f"receivers:\n  - {receiver}\nrules: []\n")


def test_duplicate_receiver_names_are_an_error():
    with pytest.raises(RulesError, match=r"receivers\[1\] 'x': name already used"):
        parse_rules("receivers:\n  - {name: x, type: webhook, url: 'http://a'}\n"
                    "  - {name: x, type: slack, url: 'http://b'}\nrules: []\n")
