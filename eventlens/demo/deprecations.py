"""The deprecations file the schema analysis reads: which version of which event type is deprecated after when.

YAML, a list under `deprecations:` of `{event_type, version, deprecated_after}`: `version` is a schema fingerprint
or a version label (`v1` is the first structure seen for that event type, `v2` the next), `deprecated_after` an
ISO date. The collector and the dashboard read it from the file named by `EVENTLENS_DEPRECATIONS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml

from eventlens.demo.events import ORDER_PLACED


@dataclass(frozen=True, slots=True)
class Deprecation:
    """Version `version` (label such as `v1`, or a fingerprint) of `event_type` is deprecated after a date."""

    event_type: str
    version: str
    deprecated_after: date


DEMO_DEPRECATIONS: tuple[Deprecation, ...] = (
    Deprecation(event_type=ORDER_PLACED, version="v1", deprecated_after=date(2026, 1, 31)),
)
"""The demo's own: `order.placed` v1 (still sent by the legacy mobile app)."""


def dump(deprecations: Sequence[Deprecation]) -> str:
    """The YAML text of a deprecations file."""
    items = [{"event_type": d.event_type, "version": d.version, "deprecated_after": d.deprecated_after.isoformat()}
             for d in deprecations]
    return yaml.safe_dump({"deprecations": items}, sort_keys=False)


def write(path: Path, deprecations: Sequence[Deprecation] = DEMO_DEPRECATIONS) -> Path:
    """Write a deprecations file and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump(deprecations))
    return path


def load(path: Path) -> list[Deprecation]:
    """Read a deprecations file; raises ValueError naming the entry that is malformed."""
    doc = yaml.safe_load(path.read_text()) or {}
    items = doc.get("deprecations", []) if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a mapping with a 'deprecations' list")
    result = []
    for i, item in enumerate(items):
        try:
            after = item["deprecated_after"]
            result.append(Deprecation(event_type=str(item["event_type"]), version=str(item["version"]),
                                      deprecated_after=after if isinstance(after, date) else date.fromisoformat(
                                          str(after))))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: deprecation #{i + 1} is malformed: {exc!r}") from exc
    return result
