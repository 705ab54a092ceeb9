"""Alert rules: the frozen model and the YAML rules-file loader, checked against `rules.schema.json` (pure).

A rules file is `{rules: [...]}`; each rule has a `name`, a `kind` (issue #17's list, `RuleKind`), kind-specific
`params`, `labels`, a `severity`, and `for` / `keep_firing_for` durations with Prometheus semantics
(`state.py`). Durations use the one grammar of `collector/timerange.py`; after loading they are nanoseconds.
Every error names the rule (index and name) and the field. docs/alerts.md is the user's description.
"""

from __future__ import annotations

import enum
import fnmatch
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jsonschema
import yaml

from eventlens.collector.params import BadQuery
from eventlens.collector.timerange import parse_duration


class RuleKind(enum.StrEnum):
    """What a rule watches (issue #17, "Rules")."""

    LAG_SECONDS = "lag_seconds"
    LAG_OFFSETS = "lag_offsets"
    LAG_STATUS = "lag_status"
    EDGE_LATENCY = "edge_latency"
    ERROR_RATE = "error_rate"
    DEAD_LETTER_RATE = "dead_letter_rate"
    DEAD_LETTER_OLDEST_AGE = "dead_letter_oldest_age"
    NEW_SCHEMA_FINGERPRINT = "new_schema_fingerprint"
    DEPRECATED_VERSION = "deprecated_version"
    EDGE_APPEARED = "edge_appeared"
    EDGE_VANISHED = "edge_vanished"
    EDGE_PARTIAL = "edge_partial"
    THROUGHPUT_DROP = "throughput_drop"
    FLOW_OBJECTIVE = "flow_objective"


class Severity(enum.StrEnum):
    """How urgent a firing alert is; passed to receivers as the `severity` label."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


PARAM_DEFAULTS: Mapping[RuleKind, Mapping[str, Any]] = MappingProxyType({
    RuleKind.LAG_STATUS: {"statuses": ["WARN", "ERR", "STOP", "STALL"]},
    RuleKind.EDGE_LATENCY: {"quantile": "p99", "window": "5m"},
    RuleKind.ERROR_RATE: {"window": "5m"},
    RuleKind.DEAD_LETTER_RATE: {"above_per_minute": 0, "window": "5m"},
    RuleKind.DEPRECATED_VERSION: {"usage": "any"},
    RuleKind.EDGE_APPEARED: {"window": "15m"},
    RuleKind.EDGE_VANISHED: {"window": "15m"},
    RuleKind.EDGE_PARTIAL: {"window": "15m"},
    RuleKind.THROUGHPUT_DROP: {"compared_to": "1w", "window": "15m"},
    RuleKind.FLOW_OBJECTIVE: {"objective": 0.99, "window": "1h"},
})
"""Parameters a rule may leave out, per kind (applied before durations are parsed)."""

DURATION_PARAMS: Mapping[RuleKind, frozenset[str]] = MappingProxyType({
    RuleKind.LAG_SECONDS: frozenset({"above"}),
    RuleKind.EDGE_LATENCY: frozenset({"above", "window"}),
    RuleKind.ERROR_RATE: frozenset({"window"}),
    RuleKind.DEAD_LETTER_RATE: frozenset({"window"}),
    RuleKind.DEAD_LETTER_OLDEST_AGE: frozenset({"above"}),
    RuleKind.EDGE_APPEARED: frozenset({"window"}),
    RuleKind.EDGE_VANISHED: frozenset({"window"}),
    RuleKind.EDGE_PARTIAL: frozenset({"window"}),
    RuleKind.THROUGHPUT_DROP: frozenset({"window", "compared_to"}),
    RuleKind.FLOW_OBJECTIVE: frozenset({"within", "window"}),
})
"""Parameters that are durations, per kind: nanoseconds once loaded."""

_ZERO = re.compile(r"^\s*0*(?:\.0*)?\s*(ms|s|m|h|d|w)?\s*$")


@dataclass(frozen=True, slots=True)
class Rule:
    """One alert rule; `params` durations are nanoseconds, `for_ns`/`keep_firing_for_ns` 0 means none."""

    name: str
    kind: RuleKind
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    severity: Severity = Severity.WARNING
    for_ns: int = 0
    keep_firing_for_ns: int = 0
    description: str = ""
    receivers: tuple[str, ...] = ()
    """Receiver names this rule notifies; empty means every receiver of the file."""

    def selects(self, param: str, value: str) -> bool:
        """Whether `value` matches the rule's selector `param` (a name or glob; absent matches everything)."""
        pattern = self.params.get(param)
        return pattern is None or fnmatch.fnmatchcase(value, str(pattern))


class ReceiverType(enum.StrEnum):
    """The body a receiver gets (`notify.py`)."""

    ALERTMANAGER = "alertmanager"
    WEBHOOK = "webhook"
    SLACK = "slack"


DEFAULT_RECEIVER_TIMEOUT_NS = 10 * 1_000_000_000
"""How long one delivery may take when a receiver sets no `timeout`."""


@dataclass(frozen=True, slots=True)
class Receiver:
    """Where notifications go: a name rules refer to, a body type, a URL, a timeout and extra headers."""

    name: str
    type: ReceiverType
    url: str
    timeout_ns: int = DEFAULT_RECEIVER_TIMEOUT_NS
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The rules of one file, in file order, with unique names, and the file's receivers."""

    rules: tuple[Rule, ...]
    source: str = ""
    receivers: tuple[Receiver, ...] = ()

    def receivers_of(self, rule: Rule) -> tuple[str, ...]:
        """The receiver names `rule` notifies (its own list, else every receiver of the file)."""
        return rule.receivers or tuple(r.name for r in self.receivers)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def by_kind(self) -> dict[RuleKind, int]:
        """How many rules of each kind (for the check command's summary)."""
        counts: dict[RuleKind, int] = {}
        for rule in self.rules:
            counts[rule.kind] = counts.get(rule.kind, 0) + 1
        return counts


class RulesError(ValueError):
    """A rules file is invalid; `errors` lists each problem, naming the rule and the field."""

    def __init__(self, source: str, errors: list[str]) -> None:
        self.source = source
        self.errors = tuple(errors)
        super().__init__(f"{source}: " + "; ".join(errors))


def schema() -> dict[str, Any]:
    """The rules file's JSON Schema (shipped as `rules.schema.json` next to this module)."""
    text = resources.files(__package__ or "eventlens.collector.alerts").joinpath("rules.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


_VALIDATOR = jsonschema.Draft202012Validator(schema())


def _where(data: Any, path: list[str | int]) -> str:
    """`rules[3] "name": params.above` for an error at `path` (rule named when it has a name)."""
    if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int):
        index = path[1]
        rule = data["rules"][index]
        name = rule.get("name") if isinstance(rule, dict) else None
        head = f"rules[{index}]" + (f" {name!r}" if isinstance(name, str) else "")
        rest = ".".join(str(p) for p in path[2:])
        return f"{head}: {rest}" if rest else head
    return ".".join(str(p) for p in path) or "(file)"


def _schema_errors(data: Any) -> list[str]:
    """Each JSON Schema violation as `where: message`, in document order."""
    errors = sorted(_VALIDATOR.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    out = []
    for error in errors:
        # an if/then failure reports the inner error; prefer the most specific one
        leaf = min(error.context, key=lambda e: -len(e.absolute_path)) if error.context else error
        out.append(f"{_where(data, list(leaf.absolute_path))}: {leaf.message}")
    return out


def _duration(value: Any, where: str, *, zero_ok: bool) -> int:
    """Nanoseconds of a duration field; `BadQuery` naming `where` when malformed."""
    text = str(value)
    if zero_ok and _ZERO.match(text):
        return 0
    return parse_duration(text, where)


def _rule(raw: Mapping[str, Any], index: int, errors: list[str]) -> Rule | None:
    """A `Rule` from one schema-valid mapping, or None after appending its errors."""
    name = str(raw["name"])
    kind = RuleKind(raw["kind"])
    head = f"rules[{index}] {name!r}"
    params: dict[str, Any] = {**PARAM_DEFAULTS.get(kind, {}), **(raw.get("params") or {})}
    before = len(errors)
    for key in DURATION_PARAMS.get(kind, frozenset()):
        if key in params:
            try:
                params[key] = _duration(params[key], f"{head}: params.{key}", zero_ok=False)
            except BadQuery as exc:
                errors.append(str(exc))
    if kind is RuleKind.DEPRECATED_VERSION and "after" in params:
        try:
            params["after"] = date.fromisoformat(str(params["after"]))
        except ValueError:
            errors.append(f"{head}: params.after={params['after']!r} is not an ISO date like 2026-12-31")
    if "statuses" in params:
        params["statuses"] = tuple(params["statuses"])
    timing: dict[str, int] = {}
    for key in ("for", "keep_firing_for"):
        try:
            timing[key] = _duration(raw.get(key, 0), f"{head}: {key}", zero_ok=True)
        except BadQuery as exc:
            errors.append(str(exc))
    if len(errors) > before:
        return None
    return Rule(name=name, kind=kind, params=MappingProxyType(params),
                labels=MappingProxyType({str(k): str(v) for k, v in (raw.get("labels") or {}).items()}),
                severity=Severity(raw.get("severity", Severity.WARNING)), for_ns=timing["for"],
                keep_firing_for_ns=timing["keep_firing_for"], description=str(raw.get("description", "")),
                receivers=tuple(str(name) for name in raw.get("receivers") or ()))


def _receivers(data: Mapping[str, Any], errors: list[str]) -> tuple[Receiver, ...]:
    """The `receivers:` section (schema-valid), appending errors for duplicate names and bad timeouts."""
    out: list[Receiver] = []
    seen: set[str] = set()
    for index, raw in enumerate(data.get("receivers") or ()):
        name = str(raw["name"])
        head = f"receivers[{index}] {name!r}"
        if name in seen:
            errors.append(f"{head}: name already used")
            continue
        seen.add(name)
        timeout_ns = DEFAULT_RECEIVER_TIMEOUT_NS
        if "timeout" in raw:
            try:
                timeout_ns = _duration(raw["timeout"], f"{head}: timeout", zero_ok=False)
            except BadQuery as exc:
                errors.append(str(exc))
                continue
        out.append(Receiver(name=name, type=ReceiverType(raw["type"]), url=str(raw["url"]), timeout_ns=timeout_ns,
                            headers=MappingProxyType({str(k): str(v) for k, v in (raw.get("headers") or {}).items()})))
    return tuple(out)


def parse_rules(text: str, source: str = "<rules>") -> RuleSet:
    """The `RuleSet` of a YAML rules file's text; `RulesError` listing every problem when invalid."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesError(source, [f"not valid YAML: {exc}"]) from exc
    if data is None:
        data = {"rules": []}
    errors = _schema_errors(data)
    if errors:
        raise RulesError(source, errors)
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(data["rules"]):
        name = raw["name"]
        if name in seen:
            errors.append(f"rules[{index}] {name!r}: name already used by rules[{seen[name]}]")
            continue
        seen[name] = index
        rule = _rule(raw, index, errors)
        if rule is not None:
            rules.append(rule)
    receivers = _receivers(data, errors)
    known = {r.name for r in receivers}
    for index, rule in enumerate(rules):
        for name in rule.receivers:
            if name not in known:
                errors.append(f"rules[{index}] {rule.name!r}: receivers: {name!r} is not in the file's receivers")
    if errors:
        raise RulesError(source, errors)
    return RuleSet(tuple(rules), source, receivers)


def load_rules(path: str | Path) -> RuleSet:
    """The `RuleSet` of a rules file on disk; `RulesError` when unreadable or invalid."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(str(path), [f"cannot read: {exc}"]) from exc
    return parse_rules(text, str(path))


def default_rules() -> RuleSet:
    """The built-in rules (`defaults.yaml`), used when no rules file is configured."""
    ref = resources.files(__package__ or "eventlens.collector.alerts").joinpath("defaults.yaml")
    return parse_rules(ref.read_text(encoding="utf-8"), "defaults.yaml")
