"""`instrument()`: one line that sets up tracing and metrics export (only if the app has none) and instruments.

Providers are created only when the global ones are still the API's proxies, so an application (or
`opentelemetry-instrument`) that configured its own SDK keeps it. Exporters are OTLP/HTTP configured from
the standard `OTEL_*` variables (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_TRACES_SAMPLER`, ...).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import threading
from typing import Any

from opentelemetry import metrics, trace

from eventlens.instrumentation import _sdk_compat

_LOG = logging.getLogger("eventlens.instrumentation")
_lock = threading.Lock()
DEFAULT_LINK_LIMIT = 1024


def _disabled(variable: str) -> bool:
    return os.environ.get(variable, "").strip().lower() == "none"


def _tracer_provider_unset() -> bool:
    return isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def _meter_provider_unset() -> bool:
    proxy = _sdk_compat.proxy_meter_provider_type()
    return proxy is not None and isinstance(metrics.get_meter_provider(), proxy)


def _resource(service_name: str | None) -> Any:
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    attrs = {SERVICE_NAME: service_name} if service_name else {}
    return Resource.create(attrs)


def sampler_from_env() -> Any | None:
    """The sampler `OTEL_TRACES_SAMPLER` names through an `opentelemetry_traces_sampler` entry point of another
    package than the SDK (e.g. `eventlens_consistent`), built from `OTEL_TRACES_SAMPLER_ARG`; None otherwise
    (the SDK reads its own names itself)."""
    name = os.environ.get("OTEL_TRACES_SAMPLER", "").strip()
    if not name:
        return None
    from importlib.metadata import entry_points

    for entry in entry_points(group="opentelemetry_traces_sampler", name=name):
        if entry.value.startswith("opentelemetry.sdk."):
            return None
        try:
            return entry.load()(os.environ.get("OTEL_TRACES_SAMPLER_ARG"))
        except Exception as exc:
            _LOG.warning("could not build sampler %r: %s", name, exc)
            return None
    return None


def configure_tracing(service_name: str | None, sampler: Any | None = None) -> bool:
    """Install an SDK TracerProvider exporting OTLP/HTTP if none is configured; True when it did.

    `sampler`: the provider's sampler (default: `sampler_from_env()`, else the SDK's from `OTEL_TRACES_SAMPLER`).
    """
    if not _tracer_provider_unset() or _disabled("OTEL_TRACES_EXPORTER"):
        return False
    from opentelemetry.sdk.trace import SpanLimits, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from eventlens.instrumentation.exporter import default_span_exporter

    # poll spans carry one link per record: raise the SDK's default cap of 128 unless the user set one
    links = None if os.environ.get("OTEL_SPAN_LINK_COUNT_LIMIT") else DEFAULT_LINK_LIMIT
    provider = TracerProvider(resource=_resource(service_name), span_limits=SpanLimits(max_links=links),
                              sampler=sampler if sampler is not None else sampler_from_env())
    provider.add_span_processor(BatchSpanProcessor(default_span_exporter()))
    trace.set_tracer_provider(provider)
    return True


def configure_metrics(service_name: str | None) -> bool:
    """Install an SDK MeterProvider exporting OTLP/HTTP if none is configured; True when it did."""
    if not _meter_provider_unset() or _disabled("OTEL_METRICS_EXPORTER"):
        return False
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    reader = PeriodicExportingMetricReader(OTLPMetricExporter())
    metrics.set_meter_provider(MeterProvider(resource=_resource(service_name), metric_readers=[reader]))
    return True


CLIENTS: tuple[tuple[str, str, str], ...] = (
    ("kafka", "eventlens.instrumentation.instrumentor", "KafkaInstrumentor"),
    ("confluent_kafka", "eventlens.instrumentation.confluent_kafka", "ConfluentKafkaInstrumentor"),
    ("aiokafka", "eventlens.instrumentation.aiokafka", "AIOKafkaInstrumentor"),
)
"""Each supported client: its import name, and eventlens' module and instrumentor class for it."""


def installed_instrumentors() -> list[Any]:
    """The instrumentor class of every supported Kafka client installed in this environment."""
    found = []
    for client, module, name in CLIENTS:
        if importlib.util.find_spec(client) is None:
            continue
        found.append(getattr(importlib.import_module(module), name))
    return found


def instrument(service_name: str | None = None, *, sampler: Any | None = None, **options: Any) -> None:
    """Set up OTLP/HTTP tracing and metrics from `OTEL_*` (only if none is configured) and instrument every
    supported Kafka client installed (kafka-python, confluent-kafka, aiokafka).

    `sampler`: the sampler of the tracer provider set up here (e.g.
    `eventlens.instrumentation.sampling.ConsistentProbabilitySampler(0.01)`; ignored when the application
    configured its own provider). `options` go to each instrumentor's `instrument()` (hooks,
    `process_parent`, `capture_payload`, ...).
    Calling it again is harmless.
    """
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return
    with _lock:
        name = service_name or os.environ.get("OTEL_SERVICE_NAME")
        configure_tracing(name, sampler)
        configure_metrics(name)
        for cls in installed_instrumentors():
            instrumentor = cls()
            if not instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.instrument(**options)
