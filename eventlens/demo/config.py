"""The settings every demo service process receives from the runner (as command-line options)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from eventlens.demo.topics import DEFAULT_PREFIX, Topics

EVENTS_PER_ORDER_IN_VIEW = 7.5
"""Events the read model handles per order: the order, payment, reservation, shipment, ~2.5 stock levels."""


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """Where the broker is, how topics are named, where local state lives, and the traffic's shape."""

    bootstrap: str = "127.0.0.1:9092"
    prefix: str = DEFAULT_PREFIX
    workdir: Path = Path(".eventlens/demo")
    seed: int = 42
    rate: float = 5.0
    duration_s: float = 0.0
    schema_switch_s: float = 20.0
    burst_every_s: float = 40.0
    burst_s: float = 5.0
    burst_factor: float = 4.0
    projection_cost_ms: float = 0.0
    notify_rate: float = 0.0
    claim_threshold_bytes: int = 64 * 1024

    @property
    def topics(self) -> Topics:
        """The topic names for this run's prefix."""
        return Topics(self.prefix)

    @property
    def effective_projection_cost_s(self) -> float:
        """Seconds each read-model update costs: `projection_cost_ms`, or, when unset, what keeps the projection
        half busy at the steady rate (about 7.5 events per order), so bursts of 4× make it fall behind."""
        if self.projection_cost_ms > 0:
            return self.projection_cost_ms / 1000.0
        return 0.5 / (max(self.rate, 0.1) * EVENTS_PER_ORDER_IN_VIEW)

    @property
    def effective_notify_rate(self) -> float:
        """Notifications' e-mails per second: `notify_rate`, or twice the order rate (at least 1) when unset."""
        return self.notify_rate if self.notify_rate > 0 else max(1.0, 2.0 * self.rate)

    def to_argv(self) -> list[str]:
        """The options that `from_argv` reads back."""
        argv: list[str] = []
        for f in fields(self):
            argv += [f"--{f.name.replace('_', '-')}", str(getattr(self, f.name))]
        return argv

    @classmethod
    def from_argv(cls, argv: Sequence[str]) -> ServiceConfig:
        """Parse options written by `to_argv` (unknown options are an error)."""
        parser = argparse.ArgumentParser(add_help=False)
        defaults = cls()
        for f in fields(cls):
            default = getattr(defaults, f.name)
            kind = type(default)
            parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=kind, default=default)
        return cls(**vars(parser.parse_args(list(argv))))
