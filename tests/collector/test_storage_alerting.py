"""The alerting rows' pure helpers: label fingerprints and the JSON kept for labels and payloads."""

from __future__ import annotations

import pytest

from eventlens.collector.storage.alerting import AlertTransition, dumps, label_fingerprint, loads


def test_a_label_fingerprint_ignores_label_order():
    """The same label set in another order is the same alert."""
    assert label_fingerprint({"a": "1", "b": "2"}) == label_fingerprint({"b": "2", "a": "1"})


def test_label_sets_differing_in_one_value_have_different_fingerprints():
    """Another value, or a key moved into a value, is another alert."""
    assert len({label_fingerprint({"a": "1"}), label_fingerprint({"a": "2"}), label_fingerprint({"a1": ""}),
                label_fingerprint({})}) == 4


def test_a_label_fingerprint_is_stable_across_releases():
    """Stored fingerprints name alerts across restarts and upgrades: the function must not change."""
    assert label_fingerprint({"group": "billing", "topic": "orders"}) == "29a43335d737cb1c"


def test_mappings_round_trip_through_their_json_text_whatever_their_key_order():
    """Equal mappings store as equal text (keys sorted) and read back equal."""
    assert dumps({"b": [1, {"c": None}], "a": "é"}) == dumps({"a": "é", "b": [1, {"c": None}]})
    assert loads(dumps({"a": "é", "b": [1, 2.5]})) == {"a": "é", "b": [1, 2.5]}
    assert loads(None) == {}


def test_a_transition_to_an_unknown_state_is_refused_with_the_states_named() -> None:
    with pytest.raises(ValueError, match=r"unknown state 'burning'; one of inactive, pending, firing, resolved"):
        AlertTransition("lag", "f", {}, "pending", "burning", 1)
