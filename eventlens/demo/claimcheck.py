"""Claim check: a large payload is stored aside (a content-addressed local folder); the event carries a reference.

The reference is `claim://sha256/<hex>`; reading it back verifies the hash, so a truncated or swapped file is
reported instead of being handed on as a valid payload.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

SCHEME = "claim://sha256/"


class ClaimCheckError(RuntimeError):
    """A claim reference is malformed, its payload is missing, or the payload does not match its hash."""


@dataclass(frozen=True, slots=True)
class ClaimReference:
    """What the event carries instead of the payload."""

    uri: str
    size: int
    media_type: str

    @property
    def digest(self) -> str:
        """The payload's SHA-256 (hex), taken from the URI."""
        return parse_uri(self.uri)

    def to_json(self) -> dict[str, str | int]:
        """The reference as it appears in an event's JSON body."""
        return {"claim_check": self.uri, "size": self.size, "media_type": self.media_type}


def parse_uri(uri: str) -> str:
    """The hex digest in a `claim://sha256/<hex>` URI; raises ClaimCheckError when malformed."""
    if not uri.startswith(SCHEME):
        raise ClaimCheckError(f"not a claim-check reference: {uri!r}")
    digest = uri.removeprefix(SCHEME)
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ClaimCheckError(f"malformed claim-check digest: {uri!r}")
    return digest


@dataclass(frozen=True, slots=True)
class ClaimCheckStore:
    """A folder of payloads named by their SHA-256 (`<root>/<first two hex>/<hex>`); writes are atomic."""

    root: Path

    def _path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def put(self, payload: bytes, media_type: str = "application/octet-stream") -> ClaimReference:
        """Store a payload (idempotent: the same bytes give the same reference) and return its reference."""
        digest = hashlib.sha256(payload).hexdigest()
        path = self._path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(payload)
                Path(tmp).replace(path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return ClaimReference(uri=f"{SCHEME}{digest}", size=len(payload), media_type=media_type)

    def get(self, uri: str) -> bytes:
        """The payload a reference names; raises ClaimCheckError when it is missing or does not match."""
        digest = parse_uri(uri)
        try:
            payload = self._path(digest).read_bytes()
        except FileNotFoundError as exc:
            raise ClaimCheckError(f"claim-check payload {digest[:12]}… is missing from {self.root}") from exc
        if hashlib.sha256(payload).hexdigest() != digest:
            raise ClaimCheckError(f"claim-check payload {digest[:12]}… does not match its hash")
        return payload


def purge(store: ClaimCheckStore, *, older_than_s: float, now_s: float) -> int:
    """Delete stored payloads older than `older_than_s` (claim checks expire, as in object stores); returns count."""
    removed = 0
    if not store.root.exists():
        return 0
    for path in store.root.glob("*/*"):
        if path.name.startswith(".tmp-"):
            continue
        try:
            if now_s - path.stat().st_mtime > older_than_s:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed
