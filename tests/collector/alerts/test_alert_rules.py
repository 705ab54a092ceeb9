"""The alert rules file: what loads, what each kind's defaults are, and how each error names its rule and field."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from eventlens.collector.alerts.rules import (
    RuleKind,
    RulesError,
    Severity,
    default_rules,
    load_rules,
    parse_rules,
    schema,
)
from eventlens.collector.model import NS_PER_S

MIN = 60 * NS_PER_S

MINIMAL_PARAMS = {
    "lag_seconds": {"above": "5m"},
    "lag_offsets": {"above": 1000},
    "lag_status": {},
    "edge_latency": {"above": "2s"},
    "error_rate": {"above": 0.05},
    "dead_letter_rate": {},
    "dead_letter_oldest_age": {"above": "1h"},
    "new_schema_fingerprint": {},
    "deprecated_version": {},
    "edge_appeared": {},
    "edge_vanished": {},
    "edge_partial": {},
    "throughput_drop": {"below_fraction": 0.5},
    "flow_objective": {"from": "OrderPlaced", "to": "PaymentCaptured", "within": "30s"},
}


def one(rule: dict) -> str:
    return yaml.safe_dump({"rules": [rule]})


def errors_of(text: str) -> tuple[str, ...]:
    with pytest.raises(RulesError) as info:
        parse_rules(text, "f.yaml")
    return info.value.errors


def test_the_schema_and_the_model_list_the_same_kinds():
    assert set(schema()["$defs"]["rule"]["properties"]["kind"]["enum"]) == {k.value for k in RuleKind}


@pytest.mark.parametrize("kind", sorted(MINIMAL_PARAMS))
def test_every_kind_loads_with_its_minimal_params(kind):
    rule = parse_rules(one({"name": "r", "kind": kind, "params": MINIMAL_PARAMS[kind]})).rules[0]
    assert rule.kind is RuleKind(kind)


def test_a_full_rule_keeps_labels_severity_and_timing_in_nanoseconds():
    rule = parse_rules(one({"name": "behind", "kind": "lag_seconds", "params": {"group": "billing-*", "above": "90s"},
                            "labels": {"team": "payments"}, "severity": "critical", "for": "5m",
                            "keep_firing_for": "2m"})).rules[0]
    assert (rule.params["above"], rule.for_ns, rule.keep_firing_for_ns) == (90 * NS_PER_S, 5 * MIN, 2 * MIN)
    assert dict(rule.labels) == {"team": "payments"}
    assert rule.severity is Severity.CRITICAL


def test_for_and_keep_firing_for_default_to_zero_and_severity_to_warning():
    rule = parse_rules(one({"name": "r", "kind": "lag_status"})).rules[0]
    assert (rule.for_ns, rule.keep_firing_for_ns, rule.severity) == (0, 0, Severity.WARNING)


def test_a_zero_for_means_fire_at_once():
    assert parse_rules(one({"name": "r", "kind": "lag_status", "for": "0s"})).rules[0].for_ns == 0


def test_a_bare_number_duration_is_seconds():
    assert parse_rules(one({"name": "r", "kind": "lag_status", "for": 30})).rules[0].for_ns == 30 * NS_PER_S


def test_omitted_params_take_the_kinds_defaults():
    flow = parse_rules(one({"name": "f", "kind": "flow_objective", "params": MINIMAL_PARAMS["flow_objective"]}))
    params = flow.rules[0].params
    assert (params["objective"], params["window"], params["within"]) == (0.99, 60 * MIN, 30 * NS_PER_S)


def test_lag_status_defaults_to_every_bad_status():
    rule = parse_rules(one({"name": "r", "kind": "lag_status"})).rules[0]
    assert rule.params["statuses"] == ("WARN", "ERR", "STOP", "STALL")


def test_deprecated_version_after_is_a_date():
    rule = parse_rules(one({"name": "d", "kind": "deprecated_version", "params": {"after": "2026-12-31"}})).rules[0]
    assert rule.params["after"] == date(2026, 12, 31)


def test_selectors_are_globs_and_absent_selects_everything():
    rule = parse_rules(one({"name": "r", "kind": "lag_seconds", "params": {"group": "billing-*", "above": 1}})).rules[0]
    assert rule.selects("group", "billing-eu") and not rule.selects("group", "shipping")
    assert rule.selects("topic", "anything")


def test_params_and_labels_cannot_be_changed_after_loading():
    rule = parse_rules(one({"name": "r", "kind": "lag_status", "labels": {"a": "b"}})).rules[0]
    with pytest.raises(TypeError):
        rule.params["statuses"] = ()  # type: ignore[index]
    with pytest.raises(TypeError):
        rule.labels["a"] = "c"  # type: ignore[index]


def test_an_empty_file_has_no_rules():
    assert len(parse_rules("")) == 0


def test_an_error_names_the_rule_and_the_field():
    assert errors_of(one({"name": "behind", "kind": "lag_seconds", "params": {"above": "5x"}})) == (
        "rules[0] 'behind': params.above='5x' is not a duration like 500ms, 30s, 15m, 2h, 7d "
        "(a bare number is seconds)",)


def test_a_missing_required_param_is_named():
    (error,) = errors_of(one({"name": "slow", "kind": "edge_latency", "params": {"quantile": "p99"}}))
    assert error == "rules[0] 'slow': params: 'above' is a required property"


def test_an_unknown_param_is_rejected_not_ignored():
    (error,) = errors_of(one({"name": "r", "kind": "lag_offsets", "params": {"above": 1, "abvoe": 2}}))
    assert error.startswith("rules[0] 'r': params: Additional properties are not allowed ('abvoe'")


def test_an_unknown_kind_is_named():
    (error,) = errors_of(one({"name": "r", "kind": "cpu"}))
    assert error.startswith("rules[0] 'r': kind: 'cpu' is not one of")


def test_a_fraction_must_lie_between_zero_and_one():
    (error,) = errors_of(one({"name": "e", "kind": "error_rate", "params": {"above": 5}}))
    assert error.startswith("rules[0] 'e': params.above: 5 is greater than or equal to the maximum of 1")


def test_a_negative_for_is_rejected():
    (error,) = errors_of(one({"name": "r", "kind": "lag_status", "for": -1}))
    assert error.startswith("rules[0] 'r': for:")


def test_an_unparseable_keep_firing_for_is_named():
    (error,) = errors_of(one({"name": "r", "kind": "lag_status", "keep_firing_for": "soon"}))
    assert error.startswith("rules[0] 'r': keep_firing_for='soon' is not a duration")


def test_a_bad_deprecation_date_is_named():
    (error,) = errors_of(one({"name": "d", "kind": "deprecated_version", "params": {"after": "31/12/2026"}}))
    assert error.startswith("rules[0] 'd': params.after=")


def test_duplicate_names_are_rejected_naming_both():
    text = yaml.safe_dump({"rules": [{"name": "r", "kind": "lag_status"}, {"name": "r", "kind": "edge_partial"}]})
    assert errors_of(text) == ("rules[1] 'r': name already used by rules[0]",)


def test_every_error_is_reported_not_only_the_first():
    text = yaml.safe_dump({"rules": [{"name": "a", "kind": "lag_seconds"}, {"name": "b", "kind": "error_rate",
                                                                          "severity": "page"}]})
    errors = errors_of(text)
    assert len(errors) == 3
    assert [e.split(":")[0] for e in errors] == ["rules[0] 'a'", "rules[1] 'b'", "rules[1] 'b'"]


def test_invalid_yaml_is_an_error_not_a_crash():
    (error,) = errors_of("rules: [unclosed")
    assert error.startswith("not valid YAML")


def test_a_file_that_is_not_a_mapping_is_rejected():
    (error,) = errors_of("- a\n- b\n")
    assert error.startswith("(file):")


def test_an_unreadable_file_is_a_rules_error(tmp_path: Path):
    with pytest.raises(RulesError, match="cannot read"):
        load_rules(tmp_path / "absent.yaml")


def test_load_rules_reads_a_file(tmp_path: Path):
    path = tmp_path / "rules.yaml"
    path.write_text(one({"name": "r", "kind": "edge_appeared"}))
    assert [r.name for r in load_rules(path)] == ["r"]


def test_the_built_in_defaults_load_and_cover_lag_latency_errors_dead_letters_and_schemas():
    kinds = set(default_rules().by_kind())
    assert {RuleKind.LAG_STATUS, RuleKind.LAG_SECONDS, RuleKind.EDGE_LATENCY, RuleKind.ERROR_RATE,
            RuleKind.DEAD_LETTER_RATE, RuleKind.NEW_SCHEMA_FINGERPRINT} <= kinds


def test_the_built_in_defaults_include_no_flow_objective_since_flows_are_specific_to_each_system():
    assert RuleKind.FLOW_OBJECTIVE not in default_rules().by_kind()
