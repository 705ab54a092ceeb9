"""Schema analysis over crafted sightings: versions, drift with consumer errors, deprecations from YAML."""

from __future__ import annotations

import pytest
from analysis_builders import MS, T0, sighting

from eventlens.collector.analysis.schemas import DeprecationFileError, build_schemas, parse_deprecations
from eventlens.collector.model import NS_PER_S, Deprecation, Role

DAY_NS = 86_400 * NS_PER_S
WINDOW = (T0, T0 + 10 * DAY_NS)


def _sightings():
    return [
        sighting("OrderPlaced", "json:old", "orders", Role.PRODUCER, "orders.placed", first_ms=0, last_ms=5_000),
        sighting("OrderPlaced", "json:old", "billing", Role.CONSUMER, "orders.placed", first_ms=1, last_ms=5_001),
        sighting("OrderPlaced", "json:new", "orders", Role.PRODUCER, "orders.placed", first_ms=4_000,
                 last_ms=9_000),
        sighting("OrderPlaced", "json:new", "billing", Role.CONSUMER, "orders.placed", first_ms=4_001,
                 last_ms=9_001, errors=7),
        sighting("OrderPlaced", "json:new", "shipping", Role.CONSUMER, "orders.placed", first_ms=4_001,
                 last_ms=9_001),
    ]


def test_versions_per_event_type_are_labelled_in_order_of_first_sighting():
    """Each fingerprint is a version with its producers, consumers and first/last seen."""
    (et,) = build_schemas(_sightings(), *WINDOW).event_types
    old, new = et.versions
    assert (old.label, old.fingerprint, new.label, new.fingerprint) == ("v1", "json:old", "v2", "json:new")
    assert new.producers == ("orders",)
    assert new.consumers == ("billing", "shipping")
    assert (old.first_seen_ns, old.last_seen_ns) == (T0, T0 + 5_001 * MS)
    assert new.consumer_errors == 7


def test_drift_names_the_producer_and_the_consumer_errors_after_it():
    """A producer's new fingerprint is a drift; consumers failing on it are listed."""
    (drift,) = build_schemas(_sightings(), *WINDOW).drifts
    assert (drift.producer, drift.previous_fingerprint, drift.new_fingerprint) == ("orders", "json:old", "json:new")
    assert drift.at_ns == T0 + 4_000 * MS
    assert (drift.consumer_errors, drift.failing_consumers) == (7, ("billing",))


def test_one_fingerprint_is_no_drift():
    """A producer that never changes its schema shows no drift."""
    assert build_schemas(_sightings()[:2], *WINDOW).drifts == ()


def test_two_producers_with_different_fingerprints_are_not_drift():
    """Drift is per producer: two services each with one fingerprint have not drifted."""
    rows = [sighting("E", "json:a", "p1", Role.PRODUCER, "t"), sighting("E", "json:b", "p2", Role.PRODUCER, "t")]
    assert build_schemas(rows, *WINDOW).drifts == ()


def test_deprecated_version_used_after_its_date_is_a_violation():
    """A deprecation by label, dated before the last sighting, names who still produces and consumes it."""
    dep = Deprecation("OrderPlaced", "v1", T0 + 1_000 * MS)
    (violation,) = build_schemas(_sightings(), *WINDOW, deprecations=[dep]).violations
    assert violation.fingerprint == "json:old"
    assert (violation.producers, violation.consumers) == (("orders",), ("billing",))


def test_deprecation_by_fingerprint_before_last_use_date_is_not_violated():
    """A deprecation dated after the version's last sighting is respected."""
    dep = Deprecation("OrderPlaced", "json:old", T0 + 6_000 * MS)
    assert build_schemas(_sightings(), *WINDOW, deprecations=[dep]).violations == ()


def test_deprecations_yaml_dates_mean_after_that_day():
    """A plain date deprecates from the end of that day (UTC); datetimes are taken as given."""
    deps = parse_deprecations("""
- event_type: OrderPlaced
  version: v1
  deprecated_after: 2027-01-15
- {event_type: Refund, version: "json:ab", deprecated_after: "2027-01-15T12:00:00+00:00"}
""")
    assert deps[0] == Deprecation("OrderPlaced", "v1", 1_800_057_600 * NS_PER_S)
    assert deps[1].deprecated_after_ns == 1_800_014_400 * NS_PER_S


def test_deprecations_yaml_may_be_a_mapping_with_a_list():
    """`deprecations:` at the top level is accepted too; an empty file means none."""
    text = "deprecations:\n  - {event_type: E, version: v1, deprecated_after: 2027-01-01}\n"
    assert len(parse_deprecations(text)) == 1
    assert parse_deprecations("") == ()


@pytest.mark.parametrize("text", ["- {event_type: E}", "- {event_type: E, version: v1, deprecated_after: soon}",
                                  "just a string", "[unclosed"])
def test_bad_deprecations_yaml_raises_a_clear_error(text):
    """Malformed entries raise DeprecationFileError naming the problem, never a crash deeper down."""
    with pytest.raises(DeprecationFileError):
        parse_deprecations(text)
