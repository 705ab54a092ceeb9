"""Unit tests of schema fingerprints and their sampling."""

from __future__ import annotations

from eventlens.instrumentation._schema import FingerprintSampler, fingerprint


def test_same_structure_same_fingerprint():
    """Documents with the same keys and value types share a fingerprint whatever the values and key order."""
    assert fingerprint(b'{"a": 1, "b": "x"}') == fingerprint(b'{"b": "y", "a": 2.5}')


def test_different_structure_different_fingerprint():
    """A changed type or an added key changes the fingerprint."""
    base = fingerprint(b'{"a": 1}')
    assert base is not None and base.startswith("json:")
    assert fingerprint(b'{"a": "1"}') != base
    assert fingerprint(b'{"a": 1, "c": null}') != base


def test_nested_arrays_use_item_shapes():
    """Arrays fingerprint by the set of item shapes, not their length."""
    assert fingerprint(b'{"l": [1, 2, 3]}') == fingerprint(b'{"l": [4]}')


def test_schema_registry_prefix():
    """Magic byte 0 and a 4-byte big-endian id give `sr:<id>`."""
    assert fingerprint(b"\x00\x00\x00\x01\x07payload") == "sr:263"


def test_other_payloads_have_none():
    """Plain text, scalars, invalid JSON and non-bytes objects have no fingerprint."""
    assert fingerprint(b"hello") is None
    assert fingerprint(b"{broken") is None
    assert fingerprint(None) is None
    assert fingerprint(b"42") is None


def test_sampler_takes_first_n_then_one_in_m():
    """The first N records of a topic+type are sampled, then one in M."""
    sampler = FingerprintSampler(first_n=3, every=5)
    picks = [sampler.should_sample("t", "e") for _ in range(20)]
    assert picks[:3] == [True, True, True]
    assert sum(picks[3:]) == 3  # counts 5, 10, 15
    assert sampler.should_sample("t", "other")


def test_unserialized_objects_fingerprint_like_their_json():
    """A dict handed to send() before serialization fingerprints like its JSON encoding."""
    assert fingerprint({"a": 1, "b": ["x"]}) == fingerprint(b'{"b": ["y", "z"], "a": 3}')
