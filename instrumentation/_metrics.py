"""The four messaging metrics of semantic conventions v1.44, recorded for every message.

They are recorded whether or not the message's trace is sampled, so per-edge counts and latency
histograms stay exact at any sampling rate. Attribute sets are built once per (operation, topic, group,
error) and reused.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.metrics import MeterProvider, get_meter
from opentelemetry.semconv._incubating.attributes import messaging_attributes as ma
from opentelemetry.semconv._incubating.metrics import messaging_metrics as mm
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE

from eventlens import __version__

# Buckets the conventions recommend for messaging durations (seconds).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)

_OPERATION_TYPE = {"send": "send", "poll": "receive", "process": "process", "commit": "settle"}


class MessagingMetrics:
    """Counters and histograms for sends, consumption, client operations and processing."""

    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        meter = get_meter("eventlens.instrumentation", __version__, meter_provider=meter_provider,
                          schema_url="https://opentelemetry.io/schemas/1.44.0")
        self.sent = meter.create_counter(
            mm.MESSAGING_CLIENT_SENT_MESSAGES, unit="{message}",
            description="Number of messages producer attempted to send to the broker.")
        self.consumed = meter.create_counter(
            mm.MESSAGING_CLIENT_CONSUMED_MESSAGES, unit="{message}",
            description="Number of messages that were delivered to the application.")
        self.operation_duration = meter.create_histogram(
            mm.MESSAGING_CLIENT_OPERATION_DURATION, unit="s",
            description="Duration of messaging operation initiated by a producer or consumer client.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
        self.process_duration = meter.create_histogram(
            mm.MESSAGING_PROCESS_DURATION, unit="s",
            description="Duration of processing operation.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
        self._attrs: dict[tuple[str, str | None, str | None, str | None], dict[str, Any]] = {}

    def attributes(self, operation: str, topic: str | None, group: str | None = None,
                   error: str | None = None) -> dict[str, Any]:
        """The (cached) attribute set for one operation on one topic, group and error type."""
        key = (operation, topic, group, error)
        attrs = self._attrs.get(key)
        if attrs is None:
            attrs = {ma.MESSAGING_SYSTEM: "kafka", ma.MESSAGING_OPERATION_NAME: operation,
                     ma.MESSAGING_OPERATION_TYPE: _OPERATION_TYPE.get(operation, operation)}
            if topic is not None:
                attrs[ma.MESSAGING_DESTINATION_NAME] = topic
            if group is not None:
                attrs[ma.MESSAGING_CONSUMER_GROUP_NAME] = group
            if error is not None:
                attrs[ERROR_TYPE] = error
            if len(self._attrs) > 10_000:
                self._attrs.clear()
            self._attrs[key] = attrs
        return attrs

    def record_send(self, topic: str, duration_s: float, error: str | None = None) -> None:
        """One message sent (acknowledged, or failed with `error`) after `duration_s`."""
        attrs = self.attributes("send", topic, None, error)
        self.sent.add(1, attrs)
        self.operation_duration.record(duration_s, attrs)

    def record_consumed(self, topic: str, group: str | None, count: int = 1) -> None:
        """`count` messages of `topic` delivered to the application."""
        self.consumed.add(count, self.attributes("poll", topic, group))

    def record_operation(self, operation: str, topic: str | None, group: str | None, duration_s: float,
                         error: str | None = None) -> None:
        """A client operation (poll, commit) took `duration_s`."""
        self.operation_duration.record(duration_s, self.attributes(operation, topic, group, error))

    def record_process(self, topic: str, group: str | None, duration_s: float, error: str | None = None) -> None:
        """The application processed one message of `topic` in `duration_s`."""
        self.process_duration.record(duration_s, self.attributes("process", topic, group, error))
