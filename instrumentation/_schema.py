"""Schema fingerprints of payloads, computed on a sample so they cost nothing measurable.

`json:<12 hex>` is a hash of a JSON document's structure (keys and value types, not values);
`sr:<id>` is the Confluent Schema Registry id from the 5-byte wire prefix (magic 0, 4-byte id).
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

MAX_FINGERPRINT_BYTES = 256 * 1024


def _shape(node: Any) -> str:
    if isinstance(node, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_shape(node[k])}" for k in sorted(node)) + "}"
    if isinstance(node, list):
        # the shape of an array is the sorted set of its item shapes
        return "[" + ",".join(sorted({_shape(item) for item in node})) + "]"
    if isinstance(node, bool):
        return "b"
    if isinstance(node, int | float):
        return "n"
    if isinstance(node, str):
        return "s"
    return "z"


def _json_fingerprint(doc: Any) -> str | None:
    try:
        return "json:" + hashlib.blake2b(_shape(doc).encode("utf-8"), digest_size=6).hexdigest()
    except (RecursionError, TypeError):
        return None


def fingerprint(value: object) -> str | None:
    """`sr:<id>` for a schema-registry framed payload, `json:<hex>` for a JSON object or array, else None."""
    if isinstance(value, dict | list):
        return _json_fingerprint(value)
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogatepass")
    if not isinstance(value, bytes | bytearray | memoryview) or len(value) > MAX_FINGERPRINT_BYTES:
        return None
    data = bytes(value)
    if len(data) >= 5 and data[0] == 0:
        return f"sr:{int.from_bytes(data[1:5], 'big')}"
    if data.lstrip()[:1] not in (b"{", b"["):
        return None
    try:
        return _json_fingerprint(json.loads(data))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


class FingerprintSampler:
    """Decides which records get fingerprinted: the first `first_n` per (topic, event type), then 1 in `every`."""

    def __init__(self, first_n: int = 10, every: int = 1000, max_keys: int = 10_000) -> None:
        self.first_n = first_n
        self.every = max(1, every)
        self.max_keys = max_keys
        self._counts: dict[tuple[str, str | None], int] = {}
        self._lock = threading.Lock()

    def should_sample(self, topic: str, event_type: str | None) -> bool:
        """True when this record of (topic, event type) should be fingerprinted."""
        key = (topic, event_type)
        with self._lock:
            n = self._counts.get(key, 0)
            if n == 0 and len(self._counts) >= self.max_keys:
                self._counts.clear()
            self._counts[key] = n + 1
        return n < self.first_n or n % self.every == 0
