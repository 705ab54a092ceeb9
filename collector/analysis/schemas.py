"""Schema analysis from schema sightings: versions per event type, producer drift with the consumer errors
that follow it, and declared deprecations still in use after their date (declared in a small YAML file)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml

from eventlens.collector.model import (
    Deprecation,
    DeprecationViolation,
    EventTypeSchemas,
    Role,
    SchemaDrift,
    SchemaReport,
    SchemaSighting,
    SchemaVersion,
)


class DeprecationFileError(ValueError):
    """The deprecations file is not a list of {event_type, version, deprecated_after} entries."""


def _to_ns(value: object) -> int:
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    elif isinstance(value, dt.date):
        # a date means "after the end of that day" in UTC
        moment = dt.datetime.combine(value + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    elif isinstance(value, str):
        try:
            return _to_ns(dt.date.fromisoformat(value)) if len(value) == 10 else _to_ns(
                dt.datetime.fromisoformat(value))
        except ValueError as exc:
            raise DeprecationFileError(f"deprecated_after {value!r} is not an ISO date") from exc
    else:
        raise DeprecationFileError(f"deprecated_after {value!r} is not a date")
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def parse_deprecations(text: str) -> tuple[Deprecation, ...]:
    """Parse YAML: a list (or `{deprecations: [...]}`) of `event_type`, `version` (fingerprint or label such
    as `v1`), `deprecated_after` (ISO date: in use after that day is a violation, or an ISO date-time)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DeprecationFileError(f"not valid YAML: {exc}") from exc
    if isinstance(data, dict):
        data = data.get("deprecations")
    if data is None:
        return ()
    if not isinstance(data, list):
        raise DeprecationFileError("expected a list of deprecations")
    out = []
    for i, entry in enumerate(data):
        if not isinstance(entry, dict) or not {"event_type", "version", "deprecated_after"} <= entry.keys():
            raise DeprecationFileError(f"entry {i}: needs event_type, version and deprecated_after")
        out.append(Deprecation(str(entry["event_type"]), str(entry["version"]), _to_ns(entry["deprecated_after"])))
    return tuple(out)


def load_deprecations(path: str | Path) -> tuple[Deprecation, ...]:
    """Read and parse a deprecations YAML file."""
    return parse_deprecations(Path(path).read_text(encoding="utf-8"))


def _versions(sightings: Sequence[SchemaSighting]) -> dict[str, list[SchemaVersion]]:
    groups: dict[tuple[str, str], list[SchemaSighting]] = defaultdict(list)
    for s in sightings:
        if s.event_type and s.fingerprint:
            groups[(s.event_type, s.fingerprint)].append(s)
    by_type: dict[str, list[SchemaVersion]] = defaultdict(list)
    for (event_type, fingerprint), group in groups.items():
        prods = [s for s in group if s.role is Role.PRODUCER]
        cons = [s for s in group if s.role is Role.CONSUMER]
        by_type[event_type].append(SchemaVersion(
            event_type=event_type, fingerprint=fingerprint, label="",
            first_seen_ns=min(s.first_seen_ns for s in group), last_seen_ns=max(s.last_seen_ns for s in group),
            producers=tuple(sorted({s.service for s in prods})), consumers=tuple(sorted({s.service for s in cons})),
            count=sum(s.count for s in prods) if prods else sum(s.count for s in cons),
            consumer_errors=sum(s.errors for s in cons),
        ))
    for event_type, versions in by_type.items():
        versions.sort(key=lambda v: (v.first_seen_ns, v.fingerprint))
        by_type[event_type] = [
            SchemaVersion(v.event_type, v.fingerprint, f"v{i}", v.first_seen_ns, v.last_seen_ns, v.producers,
                          v.consumers, v.count, v.consumer_errors)
            for i, v in enumerate(versions, start=1)
        ]
    return by_type


def find_drift(sightings: Sequence[SchemaSighting]) -> tuple[SchemaDrift, ...]:
    """Per (event type, producer): each fingerprint first emitted after another one is a drift; consumer errors
    counted against the new fingerprint are the errors that followed it."""
    first: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for s in sightings:
        if s.role is Role.PRODUCER and s.event_type and s.fingerprint:
            seen = first[(s.event_type, s.service)]
            seen[s.fingerprint] = min(seen.get(s.fingerprint, s.first_seen_ns), s.first_seen_ns)
    errors: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for s in sightings:
        if s.role is Role.CONSUMER and s.errors > 0:
            errors[(s.event_type, s.fingerprint)][s.service] += s.errors
    drifts = []
    for (event_type, producer), seen in first.items():
        ordered = sorted(seen.items(), key=lambda kv: (kv[1], kv[0]))
        for (old, _), (new, at_ns) in itertools.pairwise(ordered):
            failing = errors.get((event_type, new), {})
            drifts.append(SchemaDrift(event_type, producer, old, new, at_ns, sum(failing.values()),
                                      tuple(sorted(failing))))
    return tuple(sorted(drifts, key=lambda d: (d.at_ns, d.event_type, d.producer)))


def find_violations(versions: dict[str, list[SchemaVersion]], sightings: Sequence[SchemaSighting],
                    deprecations: Iterable[Deprecation]) -> tuple[DeprecationViolation, ...]:
    """Deprecated versions (by fingerprint or label) produced or consumed after their deprecation date."""
    out = []
    for dep in deprecations:
        for v in versions.get(dep.event_type, ()):
            if dep.version not in (v.fingerprint, v.label):
                continue
            late = [s for s in sightings if s.event_type == dep.event_type and s.fingerprint == v.fingerprint
                    and s.last_seen_ns > dep.deprecated_after_ns]
            if not late:
                continue
            out.append(DeprecationViolation(
                deprecation=dep, fingerprint=v.fingerprint,
                producers=tuple(sorted({s.service for s in late if s.role is Role.PRODUCER})),
                consumers=tuple(sorted({s.service for s in late if s.role is Role.CONSUMER})),
                last_seen_ns=max(s.last_seen_ns for s in late),
            ))
    return tuple(out)


def build_schemas(sightings: Iterable[SchemaSighting], start_ns: int, end_ns: int,
                  deprecations: Iterable[Deprecation] = ()) -> SchemaReport:
    """Versions per event type, drift and deprecation violations from the window's schema sightings."""
    rows = list(sightings)
    versions = _versions(rows)
    return SchemaReport(
        start_ns=start_ns, end_ns=end_ns,
        event_types=tuple(EventTypeSchemas(et, tuple(vs)) for et, vs in sorted(versions.items())),
        drifts=find_drift(rows), violations=find_violations(versions, rows, deprecations),
    )
