"""The four messaging metrics of semantic conventions v1.44, recorded for every message.

They are recorded whether or not the message's trace is sampled, so per-edge counts and latency
histograms stay exact at any sampling rate. Attribute sets are built once per (operation, topic, group,
error) and reused. The two counters are kept as plain in-process totals and reported through observable
counters when the SDK collects (same cumulative values, a fraction of the per-message cost). The two
histograms are aggregated in-process too (bucket counts, sum, min, max per attribute set) and merged into
the SDK's own histogram aggregation when the SDK collects (see `_histograms.py`): same data points, same
instrument names and types, without the SDK's per-measurement work.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation, get_meter
from opentelemetry.semconv._incubating.attributes import messaging_attributes as ma
from opentelemetry.semconv._incubating.metrics import messaging_metrics as mm
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE

from eventlens import __version__
from eventlens.instrumentation import _sdk_compat
from eventlens.instrumentation._histograms import LocalHistograms

# Buckets the conventions recommend for messaging durations (seconds).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)

_OPERATION_TYPE = {"send": "send", "poll": "receive", "process": "process", "commit": "settle"}


class MessagingMetrics:
    """Counters and histograms for sends, consumption, client operations and processing."""

    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        meter = get_meter("eventlens.instrumentation", __version__, meter_provider=meter_provider,
                          schema_url="https://opentelemetry.io/schemas/1.44.0")
        self._lock = threading.Lock()
        self._sent: dict[int, list[Any]] = {}
        self._consumed: dict[int, list[Any]] = {}
        meter.create_observable_counter(
            mm.MESSAGING_CLIENT_SENT_MESSAGES, callbacks=[self._observe_sent], unit="{message}",
            description="Number of messages producer attempted to send to the broker.")
        meter.create_observable_counter(
            mm.MESSAGING_CLIENT_CONSUMED_MESSAGES, callbacks=[self._observe_consumed], unit="{message}",
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
        merge = _sdk_compat.probe_metrics()  # once: the SDK's histogram privates, else `record()` for good
        self._operation = LocalHistograms(self.operation_duration, DURATION_BUCKETS, merge=merge)
        self._process = LocalHistograms(self.process_duration, DURATION_BUCKETS, merge=merge)

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
            self._attrs[key] = attrs  # bounded by the topics × groups × errors in use
        return attrs

    def _add(self, totals: dict[int, list[Any]], attrs: dict[str, Any], count: int) -> None:
        key = id(attrs)  # attribute dicts are cached, so one dict per attribute set
        with self._lock:
            entry = totals.get(key)
            if entry is None:
                totals[key] = [attrs, count]
            else:
                entry[1] += count

    def _observe(self, totals: dict[int, list[Any]]) -> Iterable[Observation]:
        # callbacks run before the SDK collects its synchronous instruments: merge the histograms first
        self._operation.flush()
        self._process.flush()
        with self._lock:
            return [Observation(count, attrs) for attrs, count in totals.values()]

    def _observe_sent(self, _options: CallbackOptions) -> Iterable[Observation]:
        return self._observe(self._sent)

    def _observe_consumed(self, _options: CallbackOptions) -> Iterable[Observation]:
        return self._observe(self._consumed)

    def record_send(self, topic: str, duration_s: float, error: str | None = None) -> None:
        """One message sent (acknowledged, or failed with `error`) after `duration_s`."""
        attrs = self.attributes("send", topic, None, error)
        self._add(self._sent, attrs, 1)
        self._operation.record(duration_s, attrs)

    def record_consumed(self, topic: str, group: str | None, count: int = 1) -> None:
        """`count` messages of `topic` delivered to the application."""
        self._add(self._consumed, self.attributes("poll", topic, group), count)

    def record_operation(self, operation: str, topic: str | None, group: str | None, duration_s: float,
                         error: str | None = None) -> None:
        """A client operation (poll, commit) took `duration_s`."""
        self._operation.record(duration_s, self.attributes(operation, topic, group, error))

    def record_process(self, topic: str, group: str | None, duration_s: float, error: str | None = None) -> None:
        """The application processed one message of `topic` in `duration_s`."""
        self._process.record(duration_s, self.attributes("process", topic, group, error))


_BY_PROVIDER: dict[int, tuple[object, MessagingMetrics]] = {}
_BY_PROVIDER_LOCK = threading.Lock()


def metrics_for(meter_provider: MeterProvider | None) -> MessagingMetrics:
    """The one MessagingMetrics of a meter provider (instruments and observable callbacks register once)."""
    with _BY_PROVIDER_LOCK:
        hit = _BY_PROVIDER.get(id(meter_provider))
        if hit is not None and hit[0] is meter_provider:
            return hit[1]
        metrics = MessagingMetrics(meter_provider)
        _BY_PROVIDER[id(meter_provider)] = (meter_provider, metrics)
        return metrics
