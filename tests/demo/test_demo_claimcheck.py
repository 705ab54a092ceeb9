"""The claim-check store: large payloads stored aside, referenced by hash, verified on read."""

from __future__ import annotations

import os
import time

import pytest

from eventlens.demo.claimcheck import ClaimCheckError, ClaimCheckStore, parse_uri, purge


def test_a_stored_payload_comes_back_by_its_reference(tmp_path) -> None:
    """put() returns a claim://sha256 reference that get() resolves to the same bytes."""
    store = ClaimCheckStore(tmp_path)
    ref = store.put(b"x" * 100_000, media_type="application/pdf")
    assert ref.uri.startswith("claim://sha256/")
    assert ref.size == 100_000
    assert ref.to_json() == {"claim_check": ref.uri, "size": 100_000, "media_type": "application/pdf"}
    assert store.get(ref.uri) == b"x" * 100_000


def test_storing_the_same_payload_twice_gives_the_same_reference(tmp_path) -> None:
    """The store is content-addressed, so a redelivered event stores nothing new."""
    store = ClaimCheckStore(tmp_path)
    assert store.put(b"label") == store.put(b"label")
    assert len(list(tmp_path.glob("*/*"))) == 1


def test_a_missing_payload_is_reported(tmp_path) -> None:
    """A reference whose payload was never stored (or expired) raises ClaimCheckError."""
    other = ClaimCheckStore(tmp_path / "elsewhere").put(b"p")
    with pytest.raises(ClaimCheckError, match="missing"):
        ClaimCheckStore(tmp_path).get(other.uri)


def test_a_tampered_payload_is_reported(tmp_path) -> None:
    """A payload whose bytes no longer match its hash is not handed on."""
    store = ClaimCheckStore(tmp_path)
    ref = store.put(b"original")
    next(tmp_path.glob("*/*")).write_bytes(b"changed")
    with pytest.raises(ClaimCheckError, match="does not match"):
        store.get(ref.uri)


@pytest.mark.parametrize("uri", ["s3://bucket/key", "claim://sha256/xyz", "claim://sha256/" + "A" * 64, ""])
def test_malformed_references_are_rejected(uri: str) -> None:
    """Only claim://sha256/<64 lowercase hex> is a reference."""
    with pytest.raises(ClaimCheckError):
        parse_uri(uri)


def test_purge_removes_only_expired_payloads(tmp_path) -> None:
    """Payloads older than the retention are deleted; newer ones stay readable."""
    store = ClaimCheckStore(tmp_path)
    old, new = store.put(b"old"), store.put(b"new")
    old_path = tmp_path / old.digest[:2] / old.digest
    past = time.time() - 3600
    os.utime(old_path, (past, past))
    assert purge(store, older_than_s=600, now_s=time.time()) == 1
    assert store.get(new.uri) == b"new"
    with pytest.raises(ClaimCheckError):
        store.get(old.uri)
